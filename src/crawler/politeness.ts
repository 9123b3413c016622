// Per-host politeness: a concurrency cap, a minimum gap between request starts, backoff when the host says it is
// overloaded (429/503, honouring Retry-After), slow recovery, and robots Crawl-delay as a floor. The waiting
// happens in acquire(), before the fetch starts its clock, so politeness never counts as response time (the Go
// version got this wrong). State transitions are pure functions so a PostgreSQL store shared by every worker
// process can mirror them in SQL (politeness-state.ts); the store interface is the seam (politeness-store.ts).
import { setTimeout as delay } from 'node:timers/promises';
import { isCrawlError, RetryableCrawlError } from './errors.ts';
import { parseRetryAfter } from './fetch-errors.ts';
import {
  DEFAULT_POLITENESS,
  type HostState,
  type PolitenessConfig,
  type PolitenessOutcome,
} from './politeness-state.ts';
import { type HostStateStore, InMemoryHostStateStore } from './politeness-store.ts';
import type { FetchOptions, FetchResult } from './types.ts';

export * from './politeness-state.ts';
export * from './politeness-store.ts';

// Rejects with the signal's reason, as the store's acquire does, so callers see one kind of abort.
async function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, { signal });
  } catch (err) {
    throw signal?.aborted ? signal.reason : err;
  }
}

/** Frees the slot; pass the outcome so backoff and recovery can learn from it. Safe to call twice. */
export type Release = (outcome?: PolitenessOutcome) => Promise<void>;

export interface PolitenessOptions extends Partial<PolitenessConfig> {
  store?: HostStateStore;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export class Politeness {
  readonly config: PolitenessConfig;
  private readonly store: HostStateStore;
  /** The clock it measures gaps and pauses by (Date.now unless given). */
  readonly now: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor({ store, now, sleep, ...config }: PolitenessOptions = {}) {
    this.config = { ...DEFAULT_POLITENESS, ...config };
    this.store = store ?? new InMemoryHostStateStore();
    this.now = now ?? Date.now;
    this.sleep = sleep ?? abortableSleep;
  }

  /** Resolves when a request to `host` may start (`host` as in URL.host, port included). */
  async acquire(host: string, signal?: AbortSignal): Promise<Release> {
    if (this.config.disabled) return async () => {};
    await this.store.acquire(host, this.config.perHostConcurrency, signal);
    let released = false;
    const release: Release = async (outcome) => {
      if (released) return;
      released = true;
      try {
        if (outcome) await this.store.record(host, outcome, this.now(), this.config);
      } finally {
        await this.store.release(host);
      }
    };
    try {
      for (;;) {
        const { waitMs } = await this.store.reserve(host, this.now(), this.config);
        if (waitMs <= 0) break;
        await this.sleep(waitMs, signal);
      }
    } catch (err) {
      await release();
      throw err;
    }
    return release;
  }

  /** robots.txt Crawl-delay (seconds, decimals allowed) becomes the host's minimum gap. */
  async setCrawlDelay(host: string, seconds: number): Promise<void> {
    if (Number.isFinite(seconds) && seconds >= 0) await this.store.setFloor(host, Math.round(seconds * 1000));
  }

  state(host: string): Promise<HostState> {
    return this.store.get(host);
  }
}

/** What a response tells politeness about the host's load; `now` dates an HTTP-date Retry-After. */
export function responseOutcome(
  res: Pick<FetchResult, 'statusCode' | 'headers'>,
  now = Date.now(),
): PolitenessOutcome {
  const { statusCode } = res;
  const retryAfterMs = parseRetryAfter(res.headers['retry-after'], now);
  return { ok: statusCode < 500 && statusCode !== 429, statusCode, retryAfterMs };
}

/** What a failed fetch tells politeness: permanent errors (404, robots, SSRF) say nothing about load. */
export function errorOutcome(err: unknown): PolitenessOutcome {
  return {
    ok: isCrawlError(err) && !err.retryable,
    statusCode: isCrawlError(err) ? err.statusCode : undefined,
    retryAfterMs: err instanceof RetryableCrawlError ? err.retryAfterMs : undefined,
  };
}

/** Wraps a fetch so every call waits its turn and reports how the host coped. */
export function politeFetch(
  politeness: Politeness,
  fetch: (url: string, opts?: FetchOptions) => Promise<FetchResult>,
): (url: string, opts?: FetchOptions) => Promise<FetchResult> {
  return async (url, opts) => {
    const release = await politeness.acquire(new URL(url).host, opts?.signal);
    try {
      const res = await fetch(url, opts);
      await release(responseOutcome(res, politeness.now()));
      return res;
    } catch (err) {
      await release(errorOutcome(err));
      throw err;
    }
  };
}
