// npm run bench:queue — the queue under a mixed workload, through the real SQL functions, side by side with
// graphile-worker on the same PostgreSQL. Measured, not asserted.
//   1. Fresh table: each rep migrates a new database, keeps BENCH_JOBS jobs running in one organisation
//      (operator plan) and runs the workload of bench/queue-workload.ts: BENCH_WORKERS connections looping
//      claim_tasks → write_task_results (links, completions, retryable and permanent failures, lost runs),
//      heartbeats, and maintenance (promotion, lease recovery, pruning with a seconds-long retention).
//   2. Fill: about BENCH_FINISHED tasks through enqueue → claim → write in another database (timed apart;
//      BENCH_FINISHED=0 skips it and step 3).
//   3. Large table: the same workload, rep after rep, on that database.
// Each of our reps is followed by one graphile-worker rep (batched mode, bench/queue-graphile.ts). Throughput
// is the tasks (jobs) that finished within a BENCH_MEASURE_MS window opened BENCH_WARMUP_MS after the start.
// A throwaway embedded PostgreSQL (fsync on) unless DATABASE_URL is set; either way its own databases.
//   BENCH_REPS=5 BENCH_WORKERS=4 BENCH_BATCH=100 BENCH_JOBS=50 BENCH_CONCURRENCY=20 BENCH_FINISHED=1000000
//   BENCH_WARMUP_MS=2000 BENCH_MEASURE_MS=8000 BENCH_GRAPHILE=1 BENCH_GRAPHILE_JOBS=300000 BENCH_GRAPHILE_CONCURRENCY=24
//   BENCH_SQL='<SQL run after each migration, to try a change to the queue functions without a migration>'
import { performance } from 'node:perf_hooks';
import { connect, type Sql } from '../src/db/client.ts';
import { openScratchServer, withDatabase } from '../test/support/scratch-server.ts';
import { currentQueue } from './queue-api.ts';
import {
  type Graphile,
  type GraphileOptions,
  graphileRep,
  installGraphile,
  loadGraphile,
} from './queue-graphile.ts';
import { DEFAULT_SHAPE, fillHistory, JobFeeder, type JobShape } from './queue-jobs.ts';
import { envNumber, machine, median, ms, percentile, perSec, serverInfo, sleep } from './queue-stats.ts';
import { DEFAULT_WORKLOAD, Workload, type WorkloadOptions } from './queue-workload.ts';

const REPS = envNumber('BENCH_REPS', 5);
const JOBS = envNumber('BENCH_JOBS', 50);
const FINISHED = envNumber('BENCH_FINISHED', 1_000_000);
const WARMUP_MS = envNumber('BENCH_WARMUP_MS', 2_000);
const MEASURE_MS = envNumber('BENCH_MEASURE_MS', 8_000);
const WITH_GRAPHILE = envNumber('BENCH_GRAPHILE', 1) !== 0;

const workload: WorkloadOptions = {
  ...DEFAULT_WORKLOAD,
  workers: envNumber('BENCH_WORKERS', DEFAULT_WORKLOAD.workers),
  batch: envNumber('BENCH_BATCH', DEFAULT_WORKLOAD.batch),
};
const shape: JobShape = {
  ...DEFAULT_SHAPE,
  concurrency: envNumber('BENCH_CONCURRENCY', DEFAULT_SHAPE.concurrency),
};
const graphile: Omit<GraphileOptions, 'warmupMs' | 'measureMs'> = {
  jobs: envNumber('BENCH_GRAPHILE_JOBS', 300_000),
  concurrency: envNumber('BENCH_GRAPHILE_CONCURRENCY', 24),
  // As many connections as our workers use, plus the one it keeps for LISTEN.
  maxPoolSize: workload.workers + 1,
  localQueueSize: 500,
};

type Row = Record<string, string | number>;

async function oursRep(url: string, org: string, prefix: string): Promise<{ rate: number; row: Row }> {
  const sql = connect(url, { max: 1 });
  const feeder = new JobFeeder(currentQueue, sql, org, JOBS, shape, prefix);
  await feeder.ready();
  const work = new Workload(currentQueue, url, workload);
  await sleep(WARMUP_MS);
  work.record();
  await sleep(MEASURE_MS);
  const { counters: c, claimMs, writeMs, seconds } = work.sample();
  await work.stop();
  await feeder.stop();
  const [t] = await sql<{ live: number; dead: number }[]>`
    select n_live_tup::int as live, n_dead_tup::int as dead from pg_stat_user_tables where relname = 'tasks'`;
  await sql.end();
  const rate = c.finished / seconds;
  return {
    rate,
    row: {
      'tasks/s': perSec(rate),
      'claim p50': ms(percentile(claimMs, 50)),
      'claim p99': ms(percentile(claimMs, 99)),
      'write p50': ms(percentile(writeMs, 50)),
      'write p99': ms(percentile(writeMs, 99)),
      'tasks/claim': (c.claimed / Math.max(1, c.claims)).toFixed(0),
      'jobs/claim': (c.jobsInClaims / Math.max(1, c.nonEmptyClaims)).toFixed(1),
      links: c.links,
      retried: c.retried,
      promoted: c.promoted,
      lost: c.lost,
      recovered: c.recovered,
      pruned: c.pruned,
      'tasks live/dead': `${t?.live ?? '?'}/${t?.dead ?? '?'}`,
      errors: c.errors,
    },
  };
}

/** Migrates, applies BENCH_SQL (a way to try a SQL change without editing migrations), adds organisations. */
async function prepare(url: string, orgs: string[]): Promise<string[]> {
  const sql = connect(url, { max: 1 });
  try {
    await currentQueue.migrate(sql);
    if (process.env.BENCH_SQL) await sql.unsafe(process.env.BENCH_SQL);
    const ids: string[] = [];
    for (const name of orgs) ids.push(await currentQueue.createOrganisation(sql, name, 'operator'));
    return ids;
  } finally {
    await sql.end();
  }
}

interface Phase {
  name: string;
  ours: number[];
  theirs: number[];
  rows: Row[];
}

async function main(): Promise<void> {
  const server = await openScratchServer({ prefix: 'bbb-bench-' });
  const admin = connect(server.adminUrl, { max: 1 });
  const dbs: string[] = [];
  const createDb = async (suffix: string) => {
    const name = `bbb_bench_${process.pid}_${suffix}`;
    await admin.unsafe(`create database ${name}`);
    dbs.push(name);
    return { name, url: withDatabase(server.adminUrl, name) };
  };
  const dropDb = (name: string) => admin.unsafe(`drop database if exists ${name} with (force)`);
  let gwSql: Sql | undefined;
  try {
    console.log(`${machine()}\n${await serverInfo(admin)} (${server.label})`);
    console.log(
      `ours: ${workload.workers} worker connections, batches of ${workload.batch}, ${JOBS} running jobs ` +
        `(concurrency ${shape.concurrency}, ${shape.minPages}-${shape.maxPages} pages); window ${MEASURE_MS} ms ` +
        `after ${WARMUP_MS} ms; ${REPS} reps`,
    );
    let gw: Graphile | undefined;
    let gwUrl = '';
    if (WITH_GRAPHILE) {
      gw = loadGraphile();
      const db = await createDb('graphile');
      gwUrl = db.url;
      gwSql = connect(gwUrl, { max: 1 });
      await installGraphile(gw, gwUrl, { ...graphile, warmupMs: 0, measureMs: 0 });
      console.log(
        `graphile-worker ${gw.version}: 1 runner, concurrency ${graphile.concurrency}, maxPoolSize ` +
          `${graphile.maxPoolSize}, localQueue ${graphile.localQueueSize}, batched complete/fail (0 ms), ` +
          `${graphile.jobs} jobs per rep (more if a rep could do more)`,
      );
    }
    const theirRep = async (phase: Phase) => {
      if (!gw || !gwSql) return;
      const r = await graphileRep(gw, gwUrl, gwSql, {
        ...graphile,
        warmupMs: WARMUP_MS,
        measureMs: MEASURE_MS,
      });
      phase.theirs.push(r.jobsPerSec);
      phase.rows.at(-1)!['graphile jobs/s'] = perSec(r.jobsPerSec) + (r.drained ? ' (ran dry)' : '');
      // A queue that runs dry understates its rate: keep half as many jobs again as the last rep could do.
      graphile.jobs = Math.max(
        graphile.jobs,
        Math.ceil((1.5 * r.jobsPerSec * (WARMUP_MS + MEASURE_MS)) / 1000),
      );
    };

    // Ours, then theirs, rep after rep: a noisy minute on the machine hits both.
    const runPhase = async (name: string, ourRep: (rep: number) => Promise<{ rate: number; row: Row }>) => {
      const phase: Phase = { name, ours: [], theirs: [], rows: [] };
      for (let rep = 1; rep <= REPS; rep++) {
        const r = await ourRep(rep);
        phase.ours.push(r.rate);
        phase.rows.push({ rep, ...r.row });
        await theirRep(phase);
        console.log(`${name}, rep ${rep}: ${JSON.stringify(phase.rows.at(-1))}`);
      }
      return phase;
    };

    const phases = [
      await runPhase('fresh table', async (rep) => {
        const db = await createDb(`fresh${rep}`);
        const [org] = await prepare(db.url, ['bench']);
        const r = await oursRep(db.url, org!, `fresh${rep}`);
        await dropDb(db.name);
        return r;
      }),
    ];
    if (FINISHED > 0) {
      const hist = await createDb('history');
      const [historyOrg, org] = await prepare(hist.url, ['history', 'bench']);
      const f = await fillHistory(currentQueue, hist.url, historyOrg!, FINISHED, workload);
      const rate = perSec(f.tasks / f.seconds);
      console.log(`fill: ${f.tasks.toLocaleString('en-US')} tasks in ${f.seconds.toFixed(0)} s (${rate}/s)`);
      const name = `with ${(f.tasks / 1e6).toFixed(2)}M finished rows`;
      phases.push(await runPhase(name, (rep) => oursRep(hist.url, org!, `large${rep}`)));
    }

    for (const phase of phases) {
      console.log(`\n${phase.name}`);
      console.table(phase.rows);
    }
    console.table(
      phases.map((p) => ({
        run: p.name,
        'ours tasks/s (median)': perSec(median(p.ours)),
        'graphile jobs/s (median)': perSec(median(p.theirs)),
        'ours/theirs': p.theirs.length ? (median(p.ours) / median(p.theirs)).toFixed(3) : '-',
      })),
    );
  } finally {
    await gwSql?.end();
    for (const name of dbs) await dropDb(name).catch(() => {});
    await admin.end();
    await server.close();
  }
}

const t0 = performance.now();
await main();
console.log(`bench:queue took ${((performance.now() - t0) / 1000).toFixed(0)} s`);
