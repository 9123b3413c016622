// Growing delays for password attempts on one account from one client (the key is email + address group).
// A refusal for the email alone would let anyone lock an owner out by failing five times from anywhere; a
// delay per (email, address) slows the guesser down and leaves every other address, the owner's included,
// as it was. Attempts are counted when they start, so concurrent guesses cannot all slip past the check,
// and a correct password clears the count.
//
// In process, like the other limits. Memory is bounded, and entries that are holding someone back are the
// last to go: filling the table with fresh keys must not be a way to wipe a guesser's delay.
import type { RateLimitResult } from './rate-limit.ts';

export interface DelayPolicy {
  /** Attempts before any delay (room for typos). */
  freeAttempts: number;
  /** The wait after the first attempt past the free ones; each further attempt doubles it. */
  baseMs: number;
  maxMs: number;
  /** An entry with no attempt for this long is forgotten (at least maxMs, so no delay is cut short). */
  forgetAfterMs: number;
}

export const LOGIN_DELAY: DelayPolicy = {
  freeAttempts: 5,
  baseMs: 1_000,
  maxMs: 15 * 60_000,
  forgetAfterMs: 24 * 3600_000,
};

export interface LoginDelayOptions {
  now: () => number;
  policy?: DelayPolicy;
  maxKeys?: number;
}

interface Entry {
  attempts: number;
  last: number;
  /** When the next attempt may start. */
  nextAt: number;
}

const DEFAULT_MAX_KEYS = 50_000;

export class LoginDelays {
  // Two tables, each in order of last attempt (an updated entry is deleted and re-inserted): entries still
  // within their free attempts, which are evicted first when full, and entries that impose a delay.
  private readonly free = new Map<string, Entry>();
  private readonly delaying = new Map<string, Entry>();
  private readonly policy: DelayPolicy;
  private readonly maxKeys: number;

  constructor(private readonly options: LoginDelayOptions) {
    this.policy = options.policy ?? LOGIN_DELAY;
    this.maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
  }

  /** Starts an attempt for `key`, unless its delay has not yet passed. */
  hit(key: string): RateLimitResult {
    const now = this.options.now();
    this.forgetIdle(now);
    const entry = this.free.get(key) ?? this.delaying.get(key);
    if (entry && now < entry.nextAt) return { allowed: false, retryAfterMs: entry.nextAt - now };
    this.free.delete(key);
    this.delaying.delete(key);
    if (!entry) this.makeRoom();
    const attempts = (entry?.attempts ?? 0) + 1;
    const delay = this.delayAfter(attempts);
    (delay > 0 ? this.delaying : this.free).set(key, { attempts, last: now, nextAt: now + delay });
    return { allowed: true, retryAfterMs: 0 };
  }

  /** The password was right: the client starts afresh. */
  reset(key: string): void {
    this.free.delete(key);
    this.delaying.delete(key);
  }

  get size(): number {
    return this.free.size + this.delaying.size;
  }

  private delayAfter(attempts: number): number {
    const { freeAttempts, baseMs, maxMs } = this.policy;
    if (attempts < freeAttempts) return 0;
    return Math.min(maxMs, baseMs * 2 ** Math.min(attempts - freeAttempts, 30));
  }

  private makeRoom(): void {
    if (this.size < this.maxKeys) return;
    const table = this.free.size > 0 ? this.free : this.delaying;
    const oldest = table.keys().next().value;
    if (oldest !== undefined) table.delete(oldest);
  }

  private forgetIdle(now: number): void {
    for (const table of [this.free, this.delaying]) {
      for (const [key, entry] of table) {
        if (now - entry.last < this.policy.forgetAfterMs) break;
        table.delete(key);
      }
    }
  }
}
