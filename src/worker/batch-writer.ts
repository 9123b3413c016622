// Writes finished tasks in batches, each batch in one call of write_task_results (one transaction, one commit):
// the links its pages found, then the completions and failures. A task's links are in the queue no later than
// the task completes, or the job could see no pending work and complete while links were still in this buffer.
//
// Nothing is dropped when the database is away: the batch stays buffered and is retried with backoff. Late
// writes are safe because every entry carries its attempt (the fencing token): if the lease expired and the
// task ran again elsewhere, the stale result is simply not applied.
//
// A batch the database refuses for a value in it (isRowRefusal: a value out of range, say) is bisected: the
// halves are written on their own, down to the one entry at fault, which is written as a failure of its own
// (result_rejected, with the database's message) so every other result lands and the poison row is recorded.
// Any other error (a timeout, a lock wait, a read-only or restarting server, a lost connection) blames no row:
// the batch waits and is retried whole, so a good result never becomes result_rejected for it.

import type { Sql } from '../db/client.ts';
import { isRowRefusal } from '../db/connection-errors.ts';
import { errorMessage } from '../errors.ts';
import type { TaskErrorCode } from '../queue/task-error-codes.ts';
import { type TaskAttempt, writeTaskResults } from '../queue/tasks.ts';
import { backoffMs, pause, withDeadline } from './db-retry.ts';
import type { TaskOutcome } from './task-outcome.ts';
import type { WorkerEvent, WorkerStats } from './types.ts';

export interface BatchWriterOptions {
  batchSize: number;
  flushMs: number;
  stats: WorkerStats;
  emit: (event: WorkerEvent) => void;
}

type Entry = TaskOutcome;

export class BatchWriter {
  private queue: Entry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private draining: Promise<void> | undefined;
  private abort = new AbortController();

  constructor(
    private readonly sql: Sql,
    private readonly options: BatchWriterOptions,
  ) {}

  get size(): number {
    return this.queue.length;
  }

  /** Runs whose results are not yet written: their leases must keep being extended. */
  pendingRuns(): TaskAttempt[] {
    return this.queue.map((e) => e.task);
  }

  add(outcome: TaskOutcome): void {
    this.queue.push(outcome);
    if (this.queue.length >= this.options.batchSize) this.kick();
    else this.timer ??= setTimeout(() => this.kick(), this.options.flushMs);
  }

  /** Writes everything buffered; gives up (leaving the rest buffered) after `timeoutMs`. */
  async flush(timeoutMs = Number.POSITIVE_INFINITY): Promise<void> {
    const timeout = Number.isFinite(timeoutMs)
      ? setTimeout(() => this.abort.abort(new Error('flush deadline')), timeoutMs)
      : undefined;
    try {
      while (this.queue.length > 0 && !this.abort.signal.aborted) {
        this.kick();
        await this.draining;
      }
    } finally {
      clearTimeout(timeout);
      if (this.abort.signal.aborted) this.abort = new AbortController();
    }
  }

  private kick(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.draining ??= this.drain().finally(() => {
      this.draining = undefined;
      if (this.queue.length > 0 && !this.abort.signal.aborted)
        this.timer ??= setTimeout(() => this.kick(), 0);
    });
  }

  private async drain(): Promise<void> {
    let failures = 0;
    while (this.queue.length > 0 && !this.abort.signal.aborted) {
      const batch = this.queue.slice(0, this.options.batchSize);
      try {
        await this.writeIsolating(batch);
        failures = 0;
      } catch (err) {
        // Only errors that blame no row reach here: wait until the condition passes and try again.
        const waitMs = backoffMs(failures++);
        this.options.emit({ type: 'db_error', during: 'write results', error: err, retryInMs: waitMs });
        await pause(waitMs, this.abort.signal);
      }
    }
  }

  /** Writes `entries`, bisecting on a refusal of a value in them; rethrows every other error. */
  private async writeIsolating(entries: Entry[]): Promise<void> {
    try {
      await this.write(entries);
    } catch (err) {
      if (!isRowRefusal(err)) throw err;
      if (entries.length === 1) return this.writeRejected(entries[0]!, err);
      const half = Math.ceil(entries.length / 2);
      await this.writeIsolating(entries.slice(0, half));
      await this.writeIsolating(entries.slice(half));
    }
  }

  /** The one entry the database refused: record that, without its links, as a permanent failure. */
  private async writeRejected(entry: Entry, refusal: unknown): Promise<void> {
    const replacement: Entry = {
      task: entry.task,
      links: undefined,
      result: undefined,
      failure: {
        id: entry.task.id,
        attempt: entry.task.attempts,
        retryable: false,
        error_code: 'result_rejected' satisfies TaskErrorCode,
        error_message: `The database refused this page's result: ${errorMessage(refusal)}`,
      },
    };
    try {
      await this.write([replacement], [entry]);
    } catch (err) {
      if (!isRowRefusal(err)) throw err;
      // Even the bare failure was refused: give it up; its lease expires and the task runs again.
      this.remove([entry]);
      this.options.emit({ type: 'error', during: 'write results', error: err, dropped: 1 });
    }
  }

  /** Writes `batch`; on success removes `done` (default: the batch itself) from the queue. */
  private async write(batch: Entry[], done: Entry[] = batch): Promise<void> {
    const links = batch.flatMap((e) =>
      e.links
        ? e.links.urls.map((url) => ({
            jobId: e.links!.jobId,
            url,
            foundOn: e.links!.foundOn,
            depth: e.links!.depth,
            priority: e.links!.priority,
          }))
        : [],
    );
    const written = await withDeadline(
      writeTaskResults(
        this.sql,
        links,
        batch.flatMap((e) => (e.result ? [e.result] : [])),
        batch.flatMap((e) => (e.failure ? [e.failure] : [])),
      ),
    );
    const { stats } = this.options;
    stats.linksEnqueued += written.links;
    stats.completed += written.completed;
    stats.retried += written.retried;
    stats.failed += written.failed;
    stats.lost += written.lost;
    this.remove(done);
    this.options.emit({ type: 'written', tasks: batch.length });
  }

  private remove(entries: Entry[]): void {
    const gone = new Set(entries);
    this.queue = this.queue.filter((e) => !gone.has(e));
  }
}
