// Writes finished tasks in batches, each batch in one call of write_task_results (one transaction, one commit):
// the links its pages found, then the completions and failures. A task's links are in the queue no later than
// the task completes, or the job could see no pending work and complete while links were still in this buffer.
//
// Nothing is dropped when the database is away: the batch stays buffered and is retried with backoff. Late
// writes are safe because every entry carries its attempt (the fencing token): if the lease expired and the
// task ran again elsewhere, the stale result is simply not applied.
import type { Sql } from '../db/client.ts';
import { writeTaskResults } from '../queue/tasks.ts';
import { backoffMs, isConnectionError, pause, withDeadline } from './db-retry.ts';
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

  /** Ids whose results are not yet written: their leases must keep being extended. */
  pendingTaskIds(): number[] {
    return this.queue.map((e) => e.task.id);
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
    this.remove(batch);
    this.options.emit({ type: 'written', tasks: batch.length });
  }

  private remove(entries: Entry[]): void {
    const gone = new Set(entries);
    this.queue = this.queue.filter((e) => !gone.has(e));
  }
}
