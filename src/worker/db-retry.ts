// What the worker does when PostgreSQL goes away (a restart, a failover, a killed backend): recognise it, wait
// with capped exponential backoff and jitter so a fleet of workers does not reconnect in lockstep, carry on.
import { setTimeout as delay } from 'node:timers/promises';

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  'WORKER_DB_DEADLINE',
]);

/**
 * postgres.js 3.4.9 can leave a query waiting forever on a connection whose start-up failed (seen after
 * "database is not currently accepting connections": the next query hung past 15 s, connect_timeout never
 * firing). A worker must not stall on it, so its calls get a deadline; a late completion of the abandoned
 * call is harmless, because every write is fenced by the task's attempt and enqueues are deduplicated.
 */
export const DB_CALL_DEADLINE_MS = 15_000;

export function withDeadline<T>(promise: Promise<T>, ms = DB_CALL_DEADLINE_MS): Promise<T> {
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

/** True for errors that say "the database is unreachable right now", not "this statement is wrong". */
export function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  // Class 08 (connection exception), 57P01-57P03 (admin/crash shutdown, cannot connect now), 53300 (too many
  // connections), 40001/40P01 (serialisation/deadlock: safe to retry the same way).
  return (
    CONNECTION_CODES.has(code) ||
    code.startsWith('08') ||
    code === '57P01' ||
    code === '57P02' ||
    code === '57P03' ||
    code === '53300' ||
    // "database ... is not currently accepting connections" (ALLOW_CONNECTIONS false during maintenance).
    (code === '55000' && /accepting connections|allow connections/i.test(String((err as Error).message))) ||
    code === '40001' ||
    code === '40P01'
  );
}

/** Full-jitter exponential backoff: attempt 0 → up to 100 ms, doubling, capped at `capMs`. */
export function backoffMs(attempt: number, capMs = 5_000): number {
  const ceiling = Math.min(capMs, 100 * 2 ** Math.min(attempt, 16));
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
