// Re-requests a page whose first response came from the origin until the CDN edge serves it from cache, so the
// next real visitor near that edge gets the cached copy. The fetch function is injected: the worker passes the
// real (politeness-wrapped) fetch, tests pass a loopback one.
import { setTimeout as delay } from 'node:timers/promises';
import { normaliseCacheStatus } from './cache-status.ts';
import { isCrawlError } from './errors.ts';
import type { CacheStatus, FetchOptions, FetchResult, Timing } from './types.ts';

export type FetchFn = (url: string, opts?: FetchOptions) => Promise<FetchResult>;

export interface WarmOptions {
  fetch: FetchFn;
  /** Warm GETs at most (the first crawl GET is not counted). */
  maxAttempts?: number;
  /** Attempt n waits n × baseDelayMs × (1 + jitter in [0, 1)): 0.5–1 s, 1–2 s, 1.5–3 s by default. */
  baseDelayMs?: number;
  signal?: AbortSignal;
  /** Passed to every warm GET (headers such as a browser-like Accept-Encoding); the method is always GET. */
  fetchOptions?: FetchOptions;
  random?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
}

export interface WarmAttempt {
  /** Epoch ms when the warm GET started. */
  at: number;
  cacheStatus: CacheStatus;
  /** From the response, or from the error when the fetch threw one that carries it. */
  statusCode: number | undefined;
  /** Undefined when the GET threw. */
  timing: Timing | undefined;
  error?: { code: string; message: string };
}

export interface WarmResult {
  attempts: WarmAttempt[];
  /** Status of the last response (the first crawl's own when no warm GET was made or none succeeded). */
  finalCacheStatus: CacheStatus;
  /** Timing of the last successful warm GET: the cached response time users will see. */
  lastTiming: Timing | undefined;
  /** At least one warm GET was made and the last one was served from cache (HIT, STALE or REVALIDATED). */
  warmed: boolean;
}

// MISS/EXPIRED mean the edge fetched from origin and may now hold a copy. Everything else either is cached
// already, cannot be cached (BYPASS/DYNAMIC: looping would only load the origin), or gives no signal (UNKNOWN).
const NEEDS_WARMING: ReadonlySet<CacheStatus> = new Set(['MISS', 'EXPIRED']);
const CACHED: ReadonlySet<CacheStatus> = new Set(['HIT', 'STALE', 'REVALIDATED']);

export function needsWarming(status: CacheStatus): boolean {
  return NEEDS_WARMING.has(status);
}

/** Delay before warm attempt `attempt` (1-based): grows linearly, jittered so pages do not re-request in step. */
export function warmDelayMs(attempt: number, baseDelayMs: number, random: () => number): number {
  return Math.round(attempt * baseDelayMs * (1 + Math.min(Math.max(random(), 0), 1)));
}

async function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  await delay(ms, undefined, { signal });
}

export async function warmPage(
  url: string,
  firstResult: FetchResult,
  options: WarmOptions,
): Promise<WarmResult> {
  const maxAttempts = options.maxAttempts ?? 3;
  const baseDelayMs = options.baseDelayMs ?? 500;
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? abortableSleep;
  const now = options.now ?? Date.now;
  const { signal } = options;

  const attempts: WarmAttempt[] = [];
  let status = normaliseCacheStatus(firstResult.headers).status;
  let lastTiming: Timing | undefined;

  for (let attempt = 1; attempt <= maxAttempts && needsWarming(status); attempt++) {
    try {
      await sleep(warmDelayMs(attempt, baseDelayMs, random), signal);
    } catch {
      break; // aborted while waiting: the caller is shutting down, report what we have
    }
    if (signal?.aborted) break;

    const at = now();
    try {
      const res = await options.fetch(url, { ...options.fetchOptions, method: 'GET', signal });
      status = normaliseCacheStatus(res.headers).status;
      lastTiming = res.timing;
      attempts.push({ at, cacheStatus: status, statusCode: res.statusCode, timing: res.timing });
    } catch (err) {
      // A failed warm GET does not fail the page: its first crawl already succeeded.
      attempts.push({
        at,
        cacheStatus: 'UNKNOWN',
        statusCode: errorStatus(err),
        timing: undefined,
        error: describe(err),
      });
      break;
    }
  }

  const last = attempts.at(-1);
  const succeeded = last !== undefined && last.error === undefined;
  return {
    attempts,
    finalCacheStatus: status,
    lastTiming,
    warmed: succeeded && CACHED.has(status),
  };
}

function errorStatus(err: unknown): number | undefined {
  return isCrawlError(err) ? err.statusCode : undefined;
}

function describe(err: unknown): { code: string; message: string } {
  if (isCrawlError(err)) return { code: err.code, message: err.message };
  if (err instanceof Error) return { code: err.name, message: err.message };
  return { code: 'unknown', message: String(err) };
}
