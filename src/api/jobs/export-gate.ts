// Admission and database budget for a process's exports (limits in export-limits.ts). A slot is taken before
// the export touches the database and given back when it ends however it ends; a refusal is a 429 in the
// API's one error shape. Page transactions queue for one of the exports' few connections, so exports can
// never take the pool from API requests, only wait on each other.
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

  /** Runs `fn` (one page's transaction) holding one of the exports' database connections. */
  withConnection<T>(fn: () => Promise<T>): Promise<T> {
    return this.connections.run(fn);
  }
}

const exports = (n: number) => `${n} ${n === 1 ? 'export' : 'exports'}`;

/** At most `permits` calls of run() at once; the others wait their turn, first come first served. */
export class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly permits: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.permits) await new Promise<void>((resolve) => this.waiting.push(resolve));
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
}
