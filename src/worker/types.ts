// Shapes the worker modules share: counters a caller can read at any time, and the events it can listen to.
import type { ClaimedTask } from '../queue/tasks.ts';

export interface WorkerStats {
  /** Tasks claimed from the queue. */
  claimed: number;
  /** Results applied by complete_tasks. */
  completed: number;
  /** Tasks failed for good (permanent error, or retries used up). */
  failed: number;
  /** Retryable failures sent back to pending with backoff. */
  retried: number;
  /** Results not applied because the lease had moved on (the fencing attempt no longer matched). */
  lost: number;
  /** Tasks handed back unrun by a shutdown (attempt not counted). */
  released: number;
  linksEnqueued: number;
  sitemapUrlsEnqueued: number;
  discoveries: number;
  /** Database calls that failed and were retried. */
  dbErrors: number;
}

export function emptyStats(): WorkerStats {
  return {
    claimed: 0,
    completed: 0,
    failed: 0,
    retried: 0,
    lost: 0,
    released: 0,
    linksEnqueued: 0,
    sitemapUrlsEnqueued: 0,
    discoveries: 0,
    dbErrors: 0,
  };
}

export type WorkerEvent =
  | {
      type: 'crawled';
      task: ClaimedTask;
      statusCode: number | undefined;
      errorCode: string | undefined;
      responseTimeMs: number | undefined;
    }
  | { type: 'written'; tasks: number }
  | {
      type: 'discovery';
      jobId: string;
      urls: number;
      warnings: string[];
      error?: unknown;
    }
  | { type: 'released'; taskIds: number[] }
  /** The database was unreachable (or refused a statement); the operation is retried after retryInMs. */
  | { type: 'db_error'; during: string; error: unknown; retryInMs: number }
  /** Something unexpected that the worker survived; `dropped` results were given up on. */
  | { type: 'error'; during: string; error: unknown; dropped?: number };
