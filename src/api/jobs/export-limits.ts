// The limits of streamed exports (GET /v1/jobs/:id/export), each defined here once. An export has no row cap,
// so what bounds it is time and concurrency: a client that stops reading is cut off, a user and a process
// run only so many at once, and all of a process's exports share a few database connections, so the rest of
// the pool stays free for API requests however many exports are open. Waiting for one of those connections,
// and each statement on it, are bounded too, so a stuck database or lock ends exports instead of piling them
// up (docs/api.md, "Exports").
import type { Sql } from '../../db/client.ts';

export interface ExportLimits {
  /** A client that takes none of the export for this long is cut off (per write, so slow but steady is fine). */
  idleTimeoutMs: number;
  /** Exports one user may have open at once in a process. */
  perUser: number;
  /** Exports a process serves at once, across users: each holds a page in memory and a socket. */
  perProcess: number;
  /** Pool connections the process's exports may use at once (each only for one page's short transaction). */
  dbConnections: number;
  /** How long a page may wait for one of those connections before the export gives up (503, or a cut body). */
  connectionWaitMs: number;
  /** statement_timeout in a page's transaction: a page is one index range, so this much means it is stuck. */
  statementTimeoutMs: number;
  /** Rows per page: one short transaction each, so larger pages mean fewer round trips. */
  pageRows: number;
}

export const EXPORT_LIMITS: Readonly<ExportLimits> = {
  idleTimeoutMs: 30_000,
  perUser: 2,
  perProcess: 16,
  dbConnections: 2,
  connectionWaitMs: 15_000,
  statementTimeoutMs: 5_000,
  pageRows: 1000,
};

/**
 * The limits with `overrides` applied. The exports' connections are capped below the pool's size, so that at
 * least one connection is always left for API requests (a pool of one has to be shared).
 */
export function exportLimits(sql: Sql, overrides: Partial<ExportLimits> = {}): ExportLimits {
  const limits = { ...EXPORT_LIMITS, ...overrides };
  return { ...limits, dbConnections: Math.max(1, Math.min(limits.dbConnections, sql.options.max - 1)) };
}
