// Per-host politeness: a concurrency cap, a minimum gap between request starts, backoff when the host says it is
// overloaded (429/503, honouring Retry-After), slow recovery, and robots Crawl-delay as a floor. The waiting
// happens in acquire(), before the fetch starts its clock, so politeness never counts as response time (the Go
// version got this wrong). State transitions are pure functions so a PostgreSQL store shared by every worker
// process can mirror them in SQL; the store interface is the seam.
import { setTimeout as delay } from 'node:timers/promises';
import { isCrawlError, RetryableCrawlError } from './errors.ts';
import type { FetchOptions, FetchResult } from './types.ts';

export interface PolitenessConfig {
  /** Skip all of it (local benchmarks against your own server). */
  disabled: boolean;
  perHostConcurrency: number;
  /** Minimum gap between request starts on one host. */
  minDelayMs: number;
  /** Cap on minDelayMs + backoff (a robots Crawl-delay floor may exceed it). */
  maxDelayMs: number;
  /** Extra gap after the first 429/503; doubles on each further one. */
  backoffStartMs: number;
  /** Consecutive successes after which the extra gap halves. */
  recoverAfterSuccesses: number;
  /** Longest Retry-After honoured; the queue's own retry handles anything longer. */
  maxRetryAfterMs: number;
}

// 4 in flight and ≥100 ms between starts: at most 10 requests/s to one host, which a CDN shrugs off and an
// origin answering the misses behind it normally does too; the backoff handles origins that cannot.
export const DEFAULT_POLITENESS: PolitenessConfig = {
  disabled: false,
  perHostConcurrency: 4,
  minDelayMs: 100,
  maxDelayMs: 30_000,
  backoffStartMs: 1_000,
  recoverAfterSuccesses: 10,
  maxRetryAfterMs: 120_000,
};

export interface HostState {
  /** Epoch ms of the next free start slot. */
  nextStartAt: number;
  /** Epoch ms before which nothing may start (Retry-After or backoff pause). */
  blockedUntil: number;
  extraDelayMs: number;
  /** Crawl-delay from robots.txt, in ms. */
  floorMs: number;
  successStreak: number;
}

export const INITIAL_HOST_STATE: Readonly<HostState> = {
  nextStartAt: 0,
  blockedUntil: 0,
  extraDelayMs: 0,
  floorMs: 0,
  successStreak: 0,
};

export interface PolitenessOutcome {
  /** false for failures that suggest the host is struggling (timeouts, resets, 5xx, 429). */
  ok: boolean;
  statusCode?: number;
  retryAfterMs?: number;
}

export function startGapMs(state: HostState, config: PolitenessConfig): number {
  return Math.max(state.floorMs, Math.min(config.minDelayMs + state.extraDelayMs, config.maxDelayMs));
}

/**
 * Claims the start slot if it is free now (waitMs 0: start at once), else says how long until it may be.
 * Slots are claimed at start time rather than booked ahead, so a waiter whose timer fires late cannot squeeze
 * the gap to the next one, and a 429 recorded meanwhile holds back everyone still waiting. SQL mirror:
 * `UPDATE ... SET next_start_at = $now + gap WHERE host = $1 AND GREATEST(next_start_at, blocked_until) <= $now`.
 */
export function reserveSlot(
  state: HostState,
  now: number,
  config: PolitenessConfig,
): { state: HostState; waitMs: number } {
  const earliest = Math.max(state.nextStartAt, state.blockedUntil);
  if (now < earliest) return { state, waitMs: earliest - now };
  return { state: { ...state, nextStartAt: now + startGapMs(state, config) }, waitMs: 0 };
}

export function applyOutcome(
  state: HostState,
  outcome: PolitenessOutcome,
  now: number,
  config: PolitenessConfig,
): HostState {
  if (outcome.statusCode === 429 || outcome.statusCode === 503) {
    const extraDelayMs = Math.min(config.maxDelayMs, Math.max(state.extraDelayMs * 2, config.backoffStartMs));
    const next = { ...state, extraDelayMs, successStreak: 0 };
    // Without Retry-After, pause for one (new, longer) gap so requests already queued do not pile in.
    const pause =
      outcome.retryAfterMs === undefined
        ? startGapMs(next, config)
        : Math.min(Math.max(outcome.retryAfterMs, 0), config.maxRetryAfterMs);
    const blockedUntil = Math.max(state.blockedUntil, now + pause);
    return { ...next, blockedUntil, nextStartAt: Math.max(state.nextStartAt, blockedUntil) };
  }
  if (!outcome.ok || state.extraDelayMs === 0) return { ...state, successStreak: 0 };
  const successStreak = state.successStreak + 1;
  if (successStreak < config.recoverAfterSuccesses) return { ...state, successStreak };
  // Halve slowly; once the extra is small against the backoff step it is noise, so drop it.
  const halved = Math.floor(state.extraDelayMs / 2);
  return { ...state, extraDelayMs: halved < config.backoffStartMs / 4 ? 0 : halved, successStreak: 0 };
}

/** Retry-After as delay-seconds or an HTTP-date (RFC 9110 §10.2.3); undefined when absent or invalid. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  // Every HTTP-date form starts with a day name; this keeps Date.parse from accepting things like "1.5".
  if (!/^[a-z]/i.test(v)) return undefined;
  // asctime dates carry no zone and would be read as local time.
  const at = Date.parse(/GMT|UTC|[+-]\d{4}$/i.test(v) ? v : `${v} GMT`);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The shared state behind Politeness. A PostgreSQL version must make reserve and record atomic per host. */
export interface HostStateStore {
  /** Waits for one of `limit` concurrent slots on the host. */
  acquire(host: string, limit: number, signal?: AbortSignal): Promise<void>;
  release(host: string): Promise<void>;
  /** Atomically claims the start slot if free (waitMs 0), else resolves with how long until it may be. */
  reserve(host: string, now: number, config: PolitenessConfig): Promise<{ waitMs: number }>;
  record(host: string, outcome: PolitenessOutcome, now: number, config: PolitenessConfig): Promise<void>;
  setFloor(host: string, floorMs: number): Promise<void>;
  get(host: string): Promise<HostState>;
}

export class InMemoryHostStateStore implements HostStateStore {
  private readonly states = new Map<string, HostState>();
  private readonly slots = new Map<string, { active: number; waiters: Array<() => void> }>();

  async acquire(host: string, limit: number, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const slot = this.slots.get(host) ?? { active: 0, waiters: [] };
    this.slots.set(host, slot);
    if (slot.active < limit) {
      slot.active++;
      return;
    }
    const waiters = slot.waiters;
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const i = waiters.indexOf(wake);
        if (i >= 0) waiters.splice(i, 1);
        reject(signal?.reason);
      };
      const wake = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      waiters.push(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  async release(host: string): Promise<void> {
    const slot = this.slots.get(host);
    if (!slot) return;
    // Hand the slot straight to the longest waiter (FIFO) so a newcomer cannot barge in.
    const next = slot.waiters.shift();
    if (next) next();
    else if (--slot.active <= 0) this.slots.delete(host);
  }

  async reserve(host: string, now: number, config: PolitenessConfig): Promise<{ waitMs: number }> {
    const { state, waitMs } = reserveSlot(this.current(host), now, config);
    this.states.set(host, state);
    return { waitMs };
  }

  async record(host: string, outcome: PolitenessOutcome, now: number, config: PolitenessConfig) {
    this.states.set(host, applyOutcome(this.current(host), outcome, now, config));
  }

  async setFloor(host: string, floorMs: number): Promise<void> {
    this.states.set(host, { ...this.current(host), floorMs });
  }

  async get(host: string): Promise<HostState> {
    return { ...this.current(host) };
  }

  private current(host: string): HostState {
    return this.states.get(host) ?? { ...INITIAL_HOST_STATE };
  }
}

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
  private readonly now: () => number;
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

/** Wraps a fetch so every call waits its turn and reports how the host coped. */
export function politeFetch(
  politeness: Politeness,
  fetch: (url: string, opts?: FetchOptions) => Promise<FetchResult>,
): (url: string, opts?: FetchOptions) => Promise<FetchResult> {
  return async (url, opts) => {
    const release = await politeness.acquire(new URL(url).host, opts?.signal);
    try {
      const res = await fetch(url, opts);
      const { statusCode } = res;
      const retryAfterMs = parseRetryAfter(res.headers['retry-after']);
      await release({ ok: statusCode < 500 && statusCode !== 429, statusCode, retryAfterMs });
      return res;
    } catch (err) {
      // Permanent errors (404, robots, SSRF) say nothing about the host's load; retryable ones do.
      await release({
        ok: isCrawlError(err) && !err.retryable,
        statusCode: isCrawlError(err) ? err.statusCode : undefined,
        retryAfterMs: err instanceof RetryableCrawlError ? err.retryAfterMs : undefined,
      });
      throw err;
    }
  };
}
