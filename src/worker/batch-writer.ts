// Writes finished tasks in batches: one enqueue_urls per page with links, then one complete_tasks and one
// fail_tasks per batch. A task's links are always in the queue before the task completes, or the job could
// see no pending work and complete while links were still in this buffer.
//
// Nothing is dropped when the database is away: the batch stays buffered and is retried with backoff. Late
// writes are safe because every entry carries its attempt (the fencing token): if the lease expired and the
// task ran again elsewhere, the stale result is simply not applied.
import type { Sql } from '../db/client.ts';
import { UnknownJobError } from '../queue/errors.ts';
import { completeTasks, enqueueUrls, failTasks } from '../queue/tasks.ts';
import { backoffMs, isConnectionError, pause } from './db-retry.ts';
import type { TaskOutcome } from './task-outcome.ts';
import type { WorkerEvent, WorkerStats } from './types.ts';

export interface BatchWriterOptions {
  batchSize: number;
  flushMs: number;
  stats: WorkerStats;
  emit: (event: WorkerEvent) => void;
}

// A batch that keeps failing for a reason other than the connection is poison; after this many tries it is
// dropped (its tasks' leases expire and they run again) so it cannot block every later result.
const MAX_STATEMENT_FAILURES = 5;

interface Entry extends TaskOutcome {
  linksDone: boolean;
}

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

  /** Ids whose results are not yet written: their leases must keep being extended. */
  pendingTaskIds(): number[] {
    return this.queue.map((e) => e.task.id);
  }

  add(outcome: TaskOutcome): void {
    this.queue.push({ ...outcome, linksDone: outcome.links === undefined });
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
    let statementFailures = 0;
    while (this.queue.length > 0 && !this.abort.signal.aborted) {
      const batch = this.queue.slice(0, this.options.batchSize);
      try {
        await this.write(batch);
        failures = 0;
        statementFailures = 0;
      } catch (err) {
        if (!isConnectionError(err) && ++statementFailures >= MAX_STATEMENT_FAILURES) {
          this.remove(batch);
          this.options.emit({ type: 'error', during: 'write results', error: err, dropped: batch.length });
          statementFailures = 0;
          continue;
        }
        const waitMs = backoffMs(failures++);
        this.options.emit({ type: 'db_error', during: 'write results', error: err, retryInMs: waitMs });
        await pause(waitMs, this.abort.signal);
      }
    }
  }

  private async write(batch: Entry[]): Promise<void> {
    const { stats } = this.options;
    for (const entry of batch) {
      if (entry.linksDone || !entry.links) continue;
      const { jobId, urls, foundOn, depth, priority } = entry.links;
      try {
        const res = await enqueueUrls(this.sql, jobId, urls, {
          source: 'link',
          foundOn,
          depth,
          priorities: urls.map(() => priority),
        });
        stats.linksEnqueued += res.inserted.length;
      } catch (err) {
        // A deleted job has nothing left to enqueue into; its task rows went with it.
        if (!(err instanceof UnknownJobError)) throw err;
      }
      entry.linksDone = true;
    }
    const results = batch.flatMap((e) => (e.result ? [e.result] : []));
    const failures = batch.flatMap((e) => (e.failure ? [e.failure] : []));
    if (results.length > 0) {
      const applied = await completeTasks(this.sql, results);
      stats.completed += applied.length;
      stats.lost += results.length - applied.length;
      this.remove(batch.filter((e) => e.result));
    }
    if (failures.length > 0) {
      const rows = await failTasks(this.sql, failures);
      for (const row of rows) {
        if (row.status === 'pending') stats.retried++;
        else stats.failed++;
      }
      stats.lost += failures.length - rows.length;
      this.remove(batch.filter((e) => e.failure));
    }
    this.options.emit({ type: 'written', tasks: batch.length });
  }

  private remove(entries: Entry[]): void {
    const gone = new Set(entries);
    this.queue = this.queue.filter((e) => !gone.has(e));
  }
}
