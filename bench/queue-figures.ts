// npm run bench:queue-figures — the queue rework's before/after figures, each version in its own fresh database
// on one server: the code before the rework run from a git worktree (its own migrations and wrappers), then the
// working tree's. Set it up once with
//   git worktree add /tmp/bbb-before 874c856 && (cd /tmp/bbb-before && npm ci)
// (874c856: the last commit before the rework) or pass another checkout with BENCH_BEFORE=<dir>. The figures:
//   (a) HOT ratio (n_tup_hot_upd / n_tup_upd) of tasks, jobs and host_politeness (which the queue never
//       touches: NaN) over BENCH_FIGURE_MS of bench:queue's mixed workload, BENCH_FIGURE_REPS reps interleaved;
//   (b) claim cost with 2,000 running jobs against 20 (40,000 ready tasks either way);
//   (c) claim cost with 20 jobs and one more holding 20,000 tasks in backoff (before: pending with a future
//       run_after; after: retrying), failed through the real path, their backoff then pushed an hour out;
//   (d) claim latency of the SQL-function claim (before) and the plpgsql one (after), from (a) and (b).
// Claim cost, (b) and (c): the median of 30 claims of 100 (after 5 untimed), each followed by an untimed write
// of its results; measured after ANALYZE, then again with seq scans off in the session ("index plans").
//   BENCH_BEFORE=/tmp/bbb-before BENCH_FIGURE_MS=15000 BENCH_FIGURE_REPS=3 BENCH_CLAIMS=30
import { performance } from 'node:perf_hooks';
import { connect, type Sql } from '../src/db/client.ts';
import { openScratchServer, withDatabase } from '../test/support/scratch-server.ts';
import { currentQueue, loadQueueFrom, type QueueApi } from './queue-api.ts';
import { DEFAULT_SHAPE, JobFeeder, startJob } from './queue-jobs.ts';
import { envNumber, machine, median, percentile, serverInfo, sleep } from './queue-stats.ts';
import { DEFAULT_WORKLOAD, Workload } from './queue-workload.ts';

const BEFORE = process.env.BENCH_BEFORE ?? '/tmp/bbb-before';
const MIXED_MS = envNumber('BENCH_FIGURE_MS', 15_000);
const MIXED_REPS = envNumber('BENCH_FIGURE_REPS', 3);
const CLAIMS = envNumber('BENCH_CLAIMS', 30);

type Db = { url: string; sql: Sql; org: string };
/** figure name -> one value per rep (medians are printed). */
type Figures = Record<string, number[]>;

const add = (f: Figures, name: string, value: number) => {
  f[name] = [...(f[name] ?? []), value];
};

/** Median ms of CLAIMS claims of 100 (after 5 untimed ones), each followed by an untimed write of its results. */
async function claimCost(api: QueueApi, sql: Sql): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 5 + CLAIMS; i++) {
    const t0 = performance.now();
    const claimed = await api.claimTasks(sql, 'figures', 100, 60);
    if (i >= 5) times.push(performance.now() - t0);
    if (claimed.length < 100) throw new Error(`claim ${i} returned ${claimed.length} tasks, not 100`);
    const results = claimed.map((t) => ({ id: t.id, attempt: t.attempts, status_code: 200 }));
    await api.writeTaskResults(sql, [], results, []);
  }
  return median(times);
}

// After ANALYZE (statistics that say every task is pending), then again with seq scans off in the session:
// the second figure is the cost of the algorithm alone, without the plan the statistics lead to.
async function claimCosts(api: QueueApi, db: Db, f: Figures, name: string): Promise<void> {
  await db.sql`analyze`;
  add(f, `${name}, ms per claim`, await claimCost(api, db.sql));
  await db.sql`set enable_seqscan = off`;
  add(f, `${name}, ms per claim, index plans`, await claimCost(api, db.sql));
  await db.sql`reset enable_seqscan`;
}

async function readyJobs(api: QueueApi, db: Db, jobs: number, tasksPerJob: number): Promise<void> {
  const shape = {
    concurrency: 20,
    minPages: tasksPerJob,
    maxPages: tasksPerJob,
    seeds: tasksPerJob,
    enqueueBatch: 100,
  };
  for (let j = 0; j < jobs; j++) await startJob(api, db.sql, db.org, 'ready', shape);
}

async function mixed(api: QueueApi, db: Db, f: Figures): Promise<void> {
  const feeder = new JobFeeder(api, db.sql, db.org, 50, DEFAULT_SHAPE, 'mixed');
  await feeder.ready();
  const work = new Workload(api, db.url, DEFAULT_WORKLOAD);
  work.record();
  await sleep(MIXED_MS);
  const s = work.sample();
  await work.stop();
  await feeder.stop();
  // Backends send their table counters at exit at the latest: the workload's connections are closed by now.
  await sleep(1_500);
  await db.sql`select pg_stat_clear_snapshot()`;
  const rows = await db.sql<{ relname: string; upd: number; hot: number }[]>`
    select relname, n_tup_upd::int as upd, n_tup_hot_upd::int as hot from pg_stat_user_tables
    where relname in ('tasks', 'jobs', 'host_politeness')`;
  for (const r of rows) {
    add(f, `(a) HOT ratio, ${r.relname}`, r.upd > 0 ? r.hot / r.upd : Number.NaN);
    add(f, `(a) updates, ${r.relname}`, r.upd);
  }
  add(f, '(a) heartbeat lease extensions', s.counters.extended);
  add(f, '(a) mixed tasks/s', s.counters.finished / s.seconds);
  add(f, '(a) mixed write p50 ms', percentile(s.writeMs, 50));
  add(f, '(a) mixed write p99 ms', percentile(s.writeMs, 99));
  add(f, '(d) mixed claim p50 ms', percentile(s.claimMs, 50));
  add(f, '(d) mixed claim p99 ms', percentile(s.claimMs, 99));
}

async function backoff(api: QueueApi, db: Db, f: Figures): Promise<void> {
  await readyJobs(api, db, 20, 2_000);
  const shape = { concurrency: 200, minPages: 20_000, maxPages: 20_000, seeds: 20_000, enqueueBatch: 100 };
  const job = await startJob(api, db.sql, db.org, 'backoff', shape);
  for (;;) {
    const claimed = await api.claimTasks(db.sql, 'figures', 200, 60, [job]);
    if (claimed.length === 0) break;
    const failures = claimed.map((t) => ({
      id: t.id,
      attempt: t.attempts,
      retryable: true,
      error_code: 'timeout_total' as const,
    }));
    await api.writeTaskResults(db.sql, [], [], failures);
  }
  // Backoffs of seconds would run out during the measurement; an hour is what a Retry-After or later attempt has.
  const moved = await db.sql`update tasks set run_after = now() + interval '1 hour' where job_id = ${job}`;
  if (moved.count !== 20_000) throw new Error(`${moved.count} tasks in backoff, not 20000`);
  await claimCosts(api, db, f, '(c) 20 jobs + 1 with 20k tasks in backoff');
}

async function main(): Promise<void> {
  const server = await openScratchServer({ prefix: 'bbb-figures-' });
  const admin = connect(server.adminUrl, { max: 1 });
  const versions = [await loadQueueFrom(BEFORE, 'before'), currentQueue];
  const out = new Map<QueueApi, Figures>(versions.map((v) => [v, {}]));
  let n = 0;
  const withDb = async (api: QueueApi, run: (db: Db, f: Figures) => Promise<void>) => {
    const name = `bbb_figures_${process.pid}_${++n}`;
    await admin.unsafe(`create database ${name}`);
    const url = withDatabase(server.adminUrl, name);
    const sql = connect(url, { max: 1 });
    try {
      await api.migrate(sql);
      await run({ url, sql, org: await api.createOrganisation(sql, 'figures', 'operator') }, out.get(api)!);
    } finally {
      await sql.end();
      await admin.unsafe(`drop database if exists ${name} with (force)`);
    }
  };
  try {
    console.log(`${machine()}\n${await serverInfo(admin)} (${server.label}); before: ${BEFORE}`);
    // Interleaved, so a noisy minute hits both versions.
    for (let rep = 0; rep < MIXED_REPS; rep++)
      for (const api of versions) await withDb(api, (db, f) => mixed(api, db, f));
    for (const api of versions) {
      for (const jobs of [20, 2_000]) {
        await withDb(api, async (db, f) => {
          await readyJobs(api, db, jobs, 40_000 / jobs);
          await claimCosts(api, db, f, `(b) ${jobs} running jobs`);
        });
      }
      await withDb(api, (db, f) => backoff(api, db, f));
    }
    const [before, after] = versions.map((v) => out.get(v)!) as [Figures, Figures];
    const fmt = (v: number[] | undefined) => (v ? median(v).toFixed(v.some((x) => x < 10) ? 3 : 0) : '-');
    console.table(
      Object.keys(after)
        .sort()
        .map((k) => ({
          figure: k,
          before: fmt(before[k]),
          after: fmt(after[k]),
          'after/before': before[k] && after[k] ? (median(after[k]) / median(before[k])).toFixed(2) : '-',
        })),
    );
  } finally {
    await admin.end();
    await server.close();
  }
}

await main();
