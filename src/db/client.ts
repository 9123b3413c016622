// One place that turns configuration into a connection pool: DATABASE_URL when set, else the embedded
// PostgreSQL. The embedded package is imported only on that path (its import installs signal handlers).
// Pools are made with the patched driver (postgres-driver.ts: postgres.js survives losing connections) and
// report whether they can reach the database (pool-health.ts).
import type Postgres from 'postgres';
import type { EmbeddedPostgres } from './embedded.ts';
import { trackHealth } from './pool-health.ts';
import { postgres } from './postgres-driver.ts';

export type { PoolHealth } from './pool-health.ts';
export { poolHealth } from './pool-health.ts';

export type Sql = Postgres.Sql;
export type TxSql = Postgres.TransactionSql;
/** A pool or a transaction: what the queue wrappers run on, so a caller can compose them in one transaction. */
export type Queryable = Sql | TxSql;

export interface Database {
  sql: Sql;
  /** Secret-bearing URL: pass it to child processes, never print it. */
  url: string;
  embedded: EmbeddedPostgres | undefined;
  close(): Promise<void>;
}

export interface ConnectOptions {
  max?: number;
  applicationName?: string;
  /**
   * false: this pool's commits do not wait for the WAL flush. For workers: a crash loses at most the last
   * few hundred ms of results, whose tasks then run again when their leases expire — cheaper than a disk
   * flush per batch. Never for user-facing writes.
   */
  synchronousCommit?: boolean;
}

export function connect(url: string, options: ConnectOptions = {}): Sql {
  const sql = postgres(url, {
    max: options.max ?? 10,
    connect_timeout: 10,
    idle_timeout: 30,
    // postgres.js defaults to 3^n/100 s between reconnects (up to 20 s); after a database restart that is long
    // dead time for workers. Capped exponential with jitter instead.
    backoff: (attempt: number) => Math.min(0.05 * 2 ** attempt, 1) * (0.5 + Math.random() / 2),
    onnotice: () => {},
    connection: {
      application_name: options.applicationName ?? 'bbb',
      ...(options.synchronousCommit === false ? { synchronous_commit: 'off' } : {}),
    },
    // Task ids and counts are int8 but stay far below 2^53; numbers are easier to use than strings.
    types: {
      bigint: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) },
    },
  });
  return trackHealth<Sql>(sql);
}

/**
 * A new pool with `sql`'s settings (URL, types, connection parameters, the patched driver, health tracking),
 * changed by `overrides`: for a connection that must be a client of its own, such as the maintenance lock's.
 */
export function cloneClient(sql: Sql, overrides: Partial<Postgres.Options<Record<string, never>>>): Sql {
  // `shared` is per-client state; handing it over would make the clone share the pool's connection queues.
  const { shared: _, ...options } = sql.options as typeof sql.options & { shared?: unknown };
  return trackHealth<Sql>(postgres({ ...(options as object), ...overrides } as never));
}

/** What a database is opened from: the settings of these names in src/config.ts, which the commands pass. */
export interface DatabaseSettings {
  /** Unset: the embedded PostgreSQL. */
  databaseUrl?: string | undefined;
  dataDir: string;
  pgPort?: number | undefined;
  pgStartTimeoutMs: number;
  pgFsync: boolean;
  dbPoolMax: number;
}

export async function openDatabase(
  config: DatabaseSettings,
  options: { onLog?: (line: string) => void; applicationName?: string } = {},
): Promise<Database> {
  let embedded: EmbeddedPostgres | undefined;
  let url = config.databaseUrl;
  if (!url) {
    const { startEmbeddedPostgres } = await import('./embedded.ts');
    embedded = await startEmbeddedPostgres({
      dataDir: config.dataDir,
      port: config.pgPort,
      startTimeoutMs: config.pgStartTimeoutMs,
      fsync: config.pgFsync,
      ...(options.onLog ? { onLog: options.onLog } : {}),
    });
    url = embedded.url;
  }
  const sql = connect(url, {
    max: config.dbPoolMax,
    ...(options.applicationName ? { applicationName: options.applicationName } : {}),
  });
  return {
    sql,
    url,
    embedded,
    async close() {
      await sql.end({ timeout: 5 });
      await embedded?.stop();
    },
  };
}

/** A URL safe to print: the password is replaced. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<invalid database URL>';
  }
}
