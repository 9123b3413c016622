// The worker's public API, for the CLI (`bbb worker`, `bbb crawl`, `bbb serve`) and tests.
//
//   startWorkerPool({ sql, workerId?, concurrency?, batchSize?, leaseSeconds?, pollMs?, flushMs?, crawl?, onEvent? })
//     → WorkerPool { workerId, stats, inFlight, stop({ deadlineMs? }) }
//   Claims and crawls tasks and runs sitemap discovery until stopped. Never throws; database outages are
//   waited out. stop() stops claiming, waits up to deadlineMs for in-flight pages, hands back the rest unrun,
//   and writes buffered results. It does not close `sql` (the caller owns it).
//
//   startMaintenance({ sql, intervalMs?, stalledAfterMs?, retentionMs?, onEvent? })
//     → Maintenance { isLeader(), tick(), stop() }
//   Leader-elected housekeeping; run one per process, exactly one leads.
//
//   runWorkerProcess({ sql, pool?, maintenance?, signals?, deadlineMs? }) → WorkerProcess { pool, maintenance,
//   stop(), done }
//   Both together, with SIGTERM/SIGINT wired to a graceful stop; `done` resolves once stopped.
import type { Sql } from '../db/client.ts';
import { StopDeadlineMsDefault } from './defaults.ts';
import { type Maintenance, type MaintenanceOptions, startMaintenance } from './maintenance.ts';
import { startWorkerPool, type WorkerPool, type WorkerPoolOptions } from './pool.ts';

export { isConnectionError } from './db-retry.ts';
export type { Maintenance, MaintenanceEvent, MaintenanceOptions } from './maintenance.ts';
export { startMaintenance } from './maintenance.ts';
export { PgHostStateStore } from './pg-host-store.ts';
export type { WorkerPool, WorkerPoolOptions, WorkerReadiness } from './pool.ts';
export { startWorkerPool } from './pool.ts';
export type { WorkerEvent, WorkerStats } from './types.ts';

export interface WorkerProcessOptions {
  sql: Sql;
  pool?: Omit<WorkerPoolOptions, 'sql'>;
  /** false: no maintenance loop in this process (another process runs one). */
  maintenance?: Omit<MaintenanceOptions, 'sql'> | false;
  /** Default ['SIGTERM', 'SIGINT']; [] leaves signals to the caller. */
  signals?: NodeJS.Signals[];
  /** How long in-flight pages may run on after a stop is asked for. Default StopDeadlineMsDefault. */
  deadlineMs?: number;
}

export interface WorkerProcess {
  pool: WorkerPool;
  maintenance: Maintenance | undefined;
  stop(): Promise<void>;
  /** Resolves when stop() (or a signal) has finished stopping everything. */
  done: Promise<void>;
}

export function runWorkerProcess(options: WorkerProcessOptions): WorkerProcess {
  const pool = startWorkerPool({ sql: options.sql, ...options.pool });
  const maintenance =
    options.maintenance === false
      ? undefined
      : startMaintenance({ sql: options.sql, ...options.maintenance });
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => {
    resolveDone = resolve;
  });
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      for (const signal of signals) process.off(signal, onSignal);
      await Promise.all([
        pool.stop({ deadlineMs: options.deadlineMs ?? StopDeadlineMsDefault }),
        maintenance?.stop(),
      ]);
      resolveDone();
    })();
    return stopping;
  };
  const onSignal = () => void stop();
  for (const signal of signals) process.on(signal, onSignal);
  return { pool, maintenance, stop, done };
}
