// What /v1 needs to know about the session an access token names, read by primary key from auth.sessions and
// kept for a few seconds, so a signed-in request costs at most one indexed lookup per session per
// SESSION_CACHE_MS instead of one per request. The price is staleness: a session ended elsewhere (another
// bbb process, Supabase Auth, a revoked refresh token) keeps working here for up to SESSION_CACHE_MS.
// Logouts through this process's /auth/v1 drop their entries at once. Expiry by time (not_after, the maximum
// age) is worked out on every request from the cached row, so it is never late.
import type { Sql } from '../../db/client.ts';
import { isLive, type SessionRow } from './sessions.ts';

export const SESSION_CACHE_MS = 5_000;
const DEFAULT_MAX_ENTRIES = 10_000;

type Cached = { at: number; row: Pick<SessionRow, 'user_id' | 'created_at' | 'not_after'> | undefined };

export interface SessionCacheOptions {
  sql: Sql;
  maxAgeSeconds: number;
  now: () => number;
  ttlMs?: number;
  maxEntries?: number;
}

export class SessionCache {
  // Insertion order = fetch order, so the front holds the stalest entries, the first to be evicted.
  private readonly entries = new Map<string, Cached>();
  // Bumped by forget(): a lookup that was in flight meanwhile may have read the row before the logout
  // committed, so it answers its own request but is not cached.
  private generation = 0;
  private readonly ttlMs: number;
  private readonly maxEntries: number;

  constructor(private readonly options: SessionCacheOptions) {
    this.ttlMs = options.ttlMs ?? SESSION_CACHE_MS;
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  }

  /** Whether session `id` exists, belongs to `userId`, and is neither revoked nor past its maximum age. */
  async isLive(id: string, userId: string): Promise<boolean> {
    const now = this.options.now();
    const row = await this.lookup(id, now);
    return (
      row !== undefined && row.user_id === userId && isLive(row, new Date(now), this.options.maxAgeSeconds)
    );
  }

  /** Drops sessions this process has just ended, so their tokens stop working here without delay. */
  forget(ids: Iterable<string>): void {
    for (const id of ids) this.entries.delete(id);
    this.generation++;
  }

  get size(): number {
    return this.entries.size;
  }

  private async lookup(id: string, now: number): Promise<Cached['row']> {
    const hit = this.entries.get(id);
    // A clock that went back (an adjusted system clock) must not make an entry fresh for longer.
    if (hit && now >= hit.at && now - hit.at < this.ttlMs) return hit.row;
    const generation = this.generation;
    const [row] = await this.options.sql<NonNullable<Cached['row']>[]>`
      select user_id, created_at, not_after from auth.sessions where id = ${id}`;
    if (generation !== this.generation) return row;
    this.entries.delete(id);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(id, { at: now, row });
    return row;
  }
}
