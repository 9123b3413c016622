// Admission and database budget for a process's exports (limits in export-limits.ts). A slot is taken before
// the export touches the database and given back when it ends however it ends; a refusal is a 429 in the
// API's one error shape. Page transactions queue for one of the exports' few connections, so exports can
// never take the pool from API requests, only wait on each other, and for a bounded time: a wait that runs
// out is a 503 exports_busy, which the export answers with if it has sent nothing yet.
import { ApiError } from '../errors.ts';
import type { ExportLimits } from './export-limits.ts';

export class ExportGate {
  private readonly perUser = new Map<string, number>();
  private open = 0;
  private readonly connections: Semaphore;

  constructor(readonly limits: ExportLimits) {
    this.connections = new Semaphore(limits.dbConnections);
  }

  /** Takes a slot for one of `userId`'s exports, or throws a 429; the function returned gives it back once. */
  admit(userId: string): () => void {
    const mine = this.perUser.get(userId) ?? 0;
    if (mine >= this.limits.perUser) {
      throw new ApiError(
        429,
        'too_many_exports',
        `a user may run ${exports(this.limits.perUser)} at once and you have ${mine} running: wait for one to finish, then try again`,
      );
    }
    if (this.open >= this.limits.perProcess) {
      throw new ApiError(
        429,
        'too_many_exports',
        `the server is running its maximum of ${exports(this.limits.perProcess)}: try again in a minute`,
      );
    }
    this.perUser.set(userId, mine + 1);
    this.open++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.open--;
      const left = (this.perUser.get(userId) ?? 1) - 1;
      if (left > 0) this.perUser.set(userId, left);
      else this.perUser.delete(userId);
    };
  }

  /**
   * Runs `fn` (one page's transaction) holding one of the exports' database connections; throws a 503
   * exports_busy if none comes free within connectionWaitMs.
   */
  async withConnection<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await this.connections.run(fn, this.limits.connectionWaitMs);
    } catch (err) {
      if (!(err instanceof WaitTimeout)) throw err;
      throw new ApiError(
        503,
        'exports_busy',
        `the server's exports waited ${this.limits.connectionWaitMs / 1000} s for the database and got no turn: try again in a minute`,
      );
    }
  }
}

const exports = (n: number) => `${n} ${n === 1 ? 'export' : 'exports'}`;

export class WaitTimeout extends Error {
  override name = 'WaitTimeout';
}

/** At most `permits` calls of run() at once; the others wait their turn, first come first served. */
export class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly permits: number) {}

  /** Runs `fn` once a permit is free; if none is within `waitMs`, throws WaitTimeout and `fn` never runs. */
  async run<T>(fn: () => Promise<T>, waitMs = Number.POSITIVE_INFINITY): Promise<T> {
    if (this.active >= this.permits) await this.wait(waitMs);
    else this.active++;
    try {
      return await fn();
    } finally {
      // The permit passes straight to the next in line, so a newcomer cannot overtake it.
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }

  private wait(waitMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const take = () => {
        clearTimeout(timer);
        resolve();
      };
      // Whichever comes first wins: a permit handed over clears the timer, a timeout leaves the queue.
      const timer = Number.isFinite(waitMs)
        ? setTimeout(() => {
            this.waiting.splice(this.waiting.indexOf(take), 1);
            reject(new WaitTimeout(`no permit within ${waitMs} ms`));
          }, waitMs)
        : undefined;
      this.waiting.push(take);
    });
  }
}
