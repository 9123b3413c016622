// HostStateStore backed by the host_politeness table, so every worker process shares one start-rate and
// backoff budget per host (see supabase/migrations/20261125000800_host_politeness.sql).
//
// Concurrency per host is deliberately NOT a database slot: the in-process limit caps this process's requests,
// and across processes a job's `concurrency` (enforced by claim_tasks under the job row lock) caps running tasks
// per site, each of which has at most one request in flight. A database slot would need its own leases and
// crash recovery for no extra safety.
//
// While the database is unreachable the store falls back to in-process state instead of failing the crawl:
// this process stays polite on its own, and the shared row takes over again once the connection is back.
import {
  type HostState,
  type HostStateStore,
  InMemoryHostStateStore,
  type PolitenessConfig,
  type PolitenessOutcome,
} from '../crawler/politeness.ts';
import type { Sql } from '../db/client.ts';
import { isConnectionError, withDeadline } from './db-retry.ts';
import { PolitenessDbDeadlineMsDefault } from './defaults.ts';

export interface PgHostStateStoreOptions {
  /**
   * 'database' (default): transitions use the database clock, the only clock all workers share, and the `now`
   * Politeness passes in is ignored. 'caller': use that `now` (tests comparing with the pure functions).
   */
  clock?: 'database' | 'caller';
}

function configJson(config: PolitenessConfig) {
  return {
    minDelayMs: config.minDelayMs,
    maxDelayMs: config.maxDelayMs,
    backoffStartMs: config.backoffStartMs,
    recoverAfterSuccesses: config.recoverAfterSuccesses,
    maxRetryAfterMs: config.maxRetryAfterMs,
  };
}

const ms = (value: number | undefined): number | null =>
  value === undefined || !Number.isFinite(value) ? null : Math.round(value);

export class PgHostStateStore implements HostStateStore {
  private readonly local = new InMemoryHostStateStore();
  private readonly useCallerClock: boolean;

  constructor(
    private readonly sql: Sql,
    options: PgHostStateStoreOptions = {},
  ) {
    this.useCallerClock = options.clock === 'caller';
  }

  acquire(host: string, limit: number, signal?: AbortSignal): Promise<void> {
    return this.local.acquire(host, limit, signal);
  }

  release(host: string): Promise<void> {
    return this.local.release(host);
  }

  reserve(host: string, now: number, config: PolitenessConfig): Promise<{ waitMs: number }> {
    return this.orLocal(
      () => this.reserveShared(host, now, config),
      () => this.local.reserve(host, now, config),
    );
  }

  record(host: string, outcome: PolitenessOutcome, now: number, config: PolitenessConfig): Promise<void> {
    return this.orLocal(
      () => this.recordShared(host, outcome, now, config),
      () => this.local.record(host, outcome, now, config),
    );
  }

  setFloor(host: string, floorMs: number): Promise<void> {
    return this.orLocal(
      async () => {
        await this.sql`select politeness_set_floor(${host}, ${Math.round(floorMs)})`;
      },
      () => this.local.setFloor(host, floorMs),
    );
  }

  // One immediate retry covers a pooled connection that died idle (postgres.js reconnects on the next query).
  private async orLocal<T>(shared: () => Promise<T>, local: () => Promise<T>): Promise<T> {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        // A politeness round trip is tiny; past a few seconds the database is in trouble, crawl on locally.
        return await withDeadline(shared(), PolitenessDbDeadlineMsDefault);
      } catch (err) {
        if (!isConnectionError(err)) throw err;
      }
    }
    return local();
  }

  private async reserveShared(host: string, now: number, config: PolitenessConfig) {
    const [row] = await this.sql<{ wait: number }[]>`
      select politeness_reserve(${host}, ${this.sql.json(configJson(config))},
        ${this.useCallerClock ? Math.round(now) : null}::bigint) as wait`;
    return { waitMs: Number(row?.wait ?? 0) };
  }

  private async recordShared(
    host: string,
    outcome: PolitenessOutcome,
    now: number,
    config: PolitenessConfig,
  ) {
    await this.sql`
      select politeness_record(${host}, ${outcome.ok}, ${outcome.statusCode ?? null}::integer,
        ${ms(outcome.retryAfterMs)}::bigint, ${this.sql.json(configJson(config))},
        ${this.useCallerClock ? Math.round(now) : null}::bigint)`;
  }

  async get(host: string): Promise<HostState> {
    const [row] = await this.sql<HostState[]>`
      select politeness_ts_ms(next_start_at) as "nextStartAt", politeness_ts_ms(blocked_until) as "blockedUntil",
        extra_delay_ms as "extraDelayMs", floor_ms as "floorMs", success_streak as "successStreak"
      from host_politeness where host = ${host}`;
    if (!row) return { nextStartAt: 0, blockedUntil: 0, extraDelayMs: 0, floorMs: 0, successStreak: 0 };
    return { ...row, nextStartAt: Number(row.nextStartAt), blockedUntil: Number(row.blockedUntil) };
  }
}
