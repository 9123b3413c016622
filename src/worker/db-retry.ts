// What the worker does when PostgreSQL goes away (a restart, a failover, a killed backend): recognise it, wait
// with capped exponential backoff and jitter so a fleet of workers does not reconnect in lockstep, carry on.
import { setTimeout as delay } from 'node:timers/promises';
import { isConnectionError } from '../db/connection-errors.ts';
import { DbCallDeadlineMsDefault, DbRetryBackoffMsFirst, DbRetryBackoffMsMax } from './defaults.ts';

export { isConnectionError };

/**
 * A worker must not stall on a call that never settles. postgres.js 3.4.9 used to leave one waiting forever
 * after "database is not currently accepting connections" (fixed by src/db/postgres-patches.ts); a network
 * that drops packets without resetting the connection can still do it for minutes. A late completion of the
 * abandoned call is harmless, because every write is fenced by the task's attempt and enqueues are deduplicated.
 */
export function withDeadline<T>(promise: Promise<T>, ms = DbCallDeadlineMsDefault): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new Error(`database call took longer than ${ms} ms; retrying`) as Error & { code: string };
      err.code = 'WORKER_DB_DEADLINE';
      reject(err);
    }, ms);
  });
  promise.catch(() => {}); // the abandoned call's own failure, if it ever comes, is not news
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/** Backoff with jitter: attempt 0 waits 50–100 ms (DbRetryBackoffMsFirst), doubling to `capMs`. */
export function backoffMs(attempt: number, capMs = DbRetryBackoffMsMax): number {
  const ceiling = Math.min(capMs, DbRetryBackoffMsFirst * 2 ** Math.min(attempt, 16));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/** Sleeps, waking early (without throwing) when `signal` aborts. */
export async function pause(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return;
  await delay(ms, undefined, { signal }).catch(() => {});
}

/**
 * Runs `fn` until it succeeds, waiting out connection errors with backoff; any other error is thrown. Throws
 * `signal.reason` once `signal` aborts, so a shutdown is never held hostage by a database that stays down.
 */
export async function withDbRetry<T>(
  fn: () => Promise<T>,
  options: { signal?: AbortSignal; onRetry?: (err: unknown, waitMs: number) => void } = {},
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    options.signal?.throwIfAborted();
    try {
      return await withDeadline(fn());
    } catch (err) {
      if (!isConnectionError(err)) throw err;
      const waitMs = backoffMs(attempt);
      options.onRetry?.(err, waitMs);
      await pause(waitMs, options.signal);
    }
  }
}
