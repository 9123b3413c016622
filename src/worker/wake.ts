// When the worker looks for work: at once on a bbb_tasks notification (enqueue_urls and start_job send one),
// else on jittered polling, so missed notifications (a reconnect, a retry whose run_after passed) cost at most
// one poll and a fleet of idle workers does not hit the database in step.
import type { Sql } from '../db/client.ts';

export class Wake {
  private pending = false;
  private resolve: (() => void) | undefined;
  private listening: Promise<{ unlisten(): Promise<void> } | undefined> | undefined;
  private closed = false;

  constructor(private readonly sql: Sql) {}

  /** Starts listening; failures are retried by ensureListening() on later waits. */
  ensureListening(): void {
    if (this.listening || this.closed) return;
    this.listening = this.sql
      .listen('bbb_tasks', () => this.notify())
      .catch(() => {
        this.listening = undefined;
        return undefined;
      });
  }

  notify(): void {
    this.pending = true;
    this.resolve?.();
  }

  /** Resolves on notify(), or after `ms` (never, when undefined). */
  async wait(ms: number | undefined): Promise<void> {
    this.ensureListening();
    if (this.pending) {
      this.pending = false;
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.resolve = resolve;
      if (ms !== undefined) timer = setTimeout(resolve, ms);
    });
    clearTimeout(timer);
    this.resolve = undefined;
    this.pending = false;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.notify();
    const listener = await this.listening;
    await listener?.unlisten().catch(() => {});
  }
}

/** Idle poll interval: uniformly between half and double `pollMs`. */
export function jitteredPoll(pollMs: number): number {
  return Math.round(pollMs / 2 + Math.random() * pollMs * 1.5);
}
