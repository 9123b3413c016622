// Fixed-window attempt counters, in process (GoTrue's own limiter is in-process too): at most `limit` hits per
// key per window. Memory is bounded: windows are kept in the order they opened, so expired ones are dropped
// from the front as time passes, and when `maxKeys` is reached the oldest window goes first.

export interface RateLimiterOptions {
  limit: number;
  windowMs: number;
  /** The clock, so tests can move time. */
  now: () => number;
  maxKeys?: number;
}

export interface RateLimitResult {
  allowed: boolean;
  /** Until the key's window closes (0 when allowed). */
  retryAfterMs: number;
}

const DEFAULT_MAX_KEYS = 50_000;

export class RateLimiter {
  // Insertion order = window start order, because a renewed window is deleted and re-inserted.
  private readonly windows = new Map<string, { start: number; count: number }>();
  private readonly maxKeys: number;

  constructor(private readonly options: RateLimiterOptions) {
    this.maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
  }

  /** Counts one attempt for `key`, unless the key is already at its limit. */
  hit(key: string): RateLimitResult {
    const now = this.options.now();
    this.evictExpired(now);
    let window = this.windows.get(key);
    if (!window || now - window.start >= this.options.windowMs) {
      this.windows.delete(key);
      if (this.windows.size >= this.maxKeys) {
        const oldest = this.windows.keys().next().value;
        if (oldest !== undefined) this.windows.delete(oldest);
      }
      window = { start: now, count: 0 };
      this.windows.set(key, window);
    }
    if (window.count >= this.options.limit) {
      return { allowed: false, retryAfterMs: window.start + this.options.windowMs - now };
    }
    window.count++;
    return { allowed: true, retryAfterMs: 0 };
  }

  get size(): number {
    return this.windows.size;
  }

  private evictExpired(now: number): void {
    for (const [key, window] of this.windows) {
      if (now - window.start < this.options.windowMs) break;
      this.windows.delete(key);
    }
  }
}
