// graphile-worker on the same PostgreSQL, for a side-by-side figure. It is installed by the benchmark into a
// scratch folder (never a dependency of this project) and run in batched mode: a local queue of 500 jobs per
// fetch and batched completion/failure (completeJobBatchDelay / failJobBatchDelay = 0, its performance docs'
// settings), with a trivial task. Jobs go in through add_jobs in one call, then ANALYZE, as its perf test does;
// between reps its table is emptied and vacuumed (untimed), so no rep inherits the previous ones' dead rows.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Sql } from '../src/db/client.ts';
import { sleep } from './queue-stats.ts';

// 0.17 is the first release with localQueue and batched completion (0.16.x has neither).
export const GRAPHILE_VERSION = process.env.BENCH_GRAPHILE_VERSION ?? '0.17.3';
const PEERS_DIR = path.join(os.tmpdir(), 'bbb-bench-peers');

export interface GraphileOptions {
  /** Jobs added per rep: enough that the measurement window never runs dry. */
  jobs: number;
  concurrency: number;
  maxPoolSize: number;
  localQueueSize: number;
  warmupMs: number;
  measureMs: number;
}

interface Runner {
  stop(): Promise<void>;
  promise: Promise<void>;
}

export interface Graphile {
  version: string;
  run(options: object): Promise<Runner>;
  runMigrations(options: object): Promise<void>;
  Logger: new (factory: unknown) => unknown;
}

/** Installs graphile-worker into os.tmpdir()/bbb-bench-peers on first use, and loads it from there. */
export function loadGraphile(): Graphile {
  const pkg = path.join(PEERS_DIR, 'node_modules', 'graphile-worker', 'package.json');
  const installed = existsSync(pkg)
    ? (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version
    : '';
  if (installed !== GRAPHILE_VERSION) {
    console.log(`installing graphile-worker@${GRAPHILE_VERSION} into ${PEERS_DIR} (once)`);
    execFileSync(
      'npm',
      ['install', '--prefix', PEERS_DIR, '--no-audit', '--no-fund', `graphile-worker@${GRAPHILE_VERSION}`],
      { stdio: 'inherit' },
    );
  }
  const gw = createRequire(pkg)('graphile-worker') as Omit<Graphile, 'version'>;
  return { ...gw, version: GRAPHILE_VERSION };
}

function preset(url: string, o: GraphileOptions, gw: Graphile): object {
  // Errors only: its info lines per worker start would drown the bench output.
  const logger = new gw.Logger(
    () => (level: string, message: string) =>
      level === 'error' && console.error(`graphile-worker: ${message}`),
  );
  return {
    worker: {
      logger,
      connectionString: url,
      concurrentJobs: o.concurrency,
      maxPoolSize: o.maxPoolSize,
      localQueue: { size: o.localQueueSize },
      completeJobBatchDelay: 0,
      failJobBatchDelay: 0,
    },
  };
}

export async function installGraphile(gw: Graphile, url: string, o: GraphileOptions): Promise<void> {
  await gw.runMigrations({ preset: preset(url, o, gw) });
}

async function jobsLeft(sql: Sql): Promise<number> {
  const [row] = await sql<{ n: number }[]>`select count(*)::int as n from graphile_worker._private_jobs`;
  return row!.n;
}

/** One rep: add the jobs, ANALYZE, run for warm-up + window, and count the jobs that left the table in it. */
export async function graphileRep(
  gw: Graphile,
  url: string,
  sql: Sql,
  o: GraphileOptions,
): Promise<{ jobsPerSec: number; drained: boolean }> {
  await sql`
    select count(*) from graphile_worker.add_jobs(array(
      select json_populate_record(null::graphile_worker.job_spec,
        json_build_object('identifier', 'bench', 'payload', json_build_object('id', i)))
      from generate_series(1, ${o.jobs}) i))`;
  await sql`analyze`;
  const runner = await gw.run({
    preset: preset(url, o, gw),
    noHandleSignals: true,
    taskList: { bench: async () => {} },
  });
  await sleep(o.warmupMs);
  const left0 = await jobsLeft(sql);
  const t0 = performance.now();
  await sleep(o.measureMs);
  const left1 = await jobsLeft(sql);
  const seconds = (performance.now() - t0) / 1000;
  await runner.stop();
  // What is left would only lengthen the next rep's queue. It deletes every job it finishes, so each rep leaves a
  // few hundred thousand dead rows: vacuumed here, untimed, or the reps measure when autovacuum got to them
  // (on PostgreSQL 15 next to our 1M-row database it fell from 21k to 3.5k jobs/s over ten reps).
  await sql`delete from graphile_worker._private_jobs`;
  await sql`vacuum graphile_worker._private_jobs`;
  return { jobsPerSec: (left0 - left1) / seconds, drained: left1 === 0 };
}
