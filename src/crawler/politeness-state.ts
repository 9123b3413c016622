// Per-host politeness state and its transitions, as pure functions: the in-memory store applies them to a Map,
// and a PostgreSQL store shared by every worker process can mirror them in SQL.
import { MAX_RETRY_AFTER_MS } from './fetch-errors.ts';

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
  maxRetryAfterMs: MAX_RETRY_AFTER_MS,
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
