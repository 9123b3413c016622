// npm run bench:queue — queue throughput and claim latency, measured, not asserted.
// Enqueues 100k tasks over 50 jobs, drains them with claim/complete batches from 4 connections, then repeats
// the run with 1M finished task rows already in the table. Uses a throwaway embedded cluster (fsync on, the
// defaults a user gets) unless DATABASE_URL is set, in which case it creates and drops its own database there.
//   BENCH_TASKS=100000 BENCH_JOBS=50 BENCH_WORKERS=4 BENCH_BATCH=100 BENCH_FINISHED=1000000
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { connect, type Sql } from '../src/db/client.ts';
import { migrate } from '../src/db/migrate.ts';
import { openScratchServer, withDatabase } from '../src/db/scratch-server.ts';
import { createOrganisation, insertJob, startJob } from '../src/queue/jobs.ts';
import { claimTasks, completeTasks, enqueueUrls } from '../src/queue/tasks.ts';

const TASKS = Number(process.env.BENCH_TASKS ?? 100_000);
const JOBS = Number(process.env.BENCH_JOBS ?? 50);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 4);
const BATCH = Number(process.env.BENCH_BATCH ?? 100);
const FINISHED = Number(process.env.BENCH_FINISHED ?? 1_000_000);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function run(sql: Sql, label: string, pools: Sql[]): Promise<Record<string, string | number>> {
  const org = await createOrganisation(sql, `bench ${label}`, 'operator');
  const jobs: string[] = [];
  for (let j = 0; j < JOBS; j++) {
    const job = await insertJob(sql, {
      organisationId: org,
      rootUrl: `https://${label}-${j}.bench/`,
      maxPages: TASKS,
      concurrency: 200,
    });
    jobs.push(job.id);
  }
  const perJob = Math.ceil(TASKS / JOBS);
  const t0 = performance.now();
  await Promise.all(
    pools.map(async (pool, w) => {
      for (let j = w; j < JOBS; j += pools.length) {
        for (let offset = 0; offset < perJob; offset += 1000) {
          const urls = Array.from(
            { length: Math.min(1000, perJob - offset) },
            (_, i) => `https://${label}-${j}.bench/page/${offset + i}`,
          );
          await enqueueUrls(pool, jobs[j]!, urls, { source: 'sitemap' });
        }
      }
    }),
  );
  const enqueueSecs = (performance.now() - t0) / 1000;
  for (const job of jobs) await startJob(sql, job);

  const latencies: number[] = [];
  let done = 0;
  const t1 = performance.now();
  await Promise.all(
    pools.map(async (pool, w) => {
      let empty = 0;
      while (empty < 3) {
        const c0 = performance.now();
        const claimed = await claimTasks(pool, `bench-${w}`, BATCH);
        latencies.push(performance.now() - c0);
        if (claimed.length === 0) {
          empty++;
          continue;
        }
        empty = 0;
        await completeTasks(
          pool,
          claimed.map((t) => ({ id: t.id, attempt: t.attempts, status_code: 200, response_time_ms: 10 })),
        );
        done += claimed.length;
      }
    }),
  );
  const drainSecs = (performance.now() - t1) / 1000;
  latencies.sort((a, b) => a - b);
  const [left] = await sql<{ n: number }[]>`
    select count(*)::int as n from jobs where id in ${sql(jobs)} and status <> 'completed'`;
  return {
    run: label,
    tasks: done,
    'enqueue tasks/s': Math.round(TASKS / enqueueSecs),
    'claim+complete tasks/s': Math.round(done / drainSecs),
    'claim p50 ms': percentile(latencies, 50).toFixed(2),
    'claim p99 ms': percentile(latencies, 99).toFixed(2),
    'jobs not completed': left?.n ?? -1,
  };
}

async function addFinishedRows(sql: Sql, count: number): Promise<void> {
  const org = await createOrganisation(sql, 'history', 'operator');
  const job = await insertJob(sql, {
    organisationId: org,
    rootUrl: 'https://history.bench/',
    maxPages: 1_000_000,
  });
  for (let offset = 0; offset < count; offset += 250_000) {
    const n = Math.min(250_000, count - offset);
    await sql`
      insert into tasks (job_id, url, source, status, attempts, status_code, response_time_ms, completed_at)
      select ${job.id}, 'https://history.bench/p/' || (${offset} + g), 'link', 'completed', 1, 200, 10, now()
      from generate_series(1, ${n}) g`;
  }
  await sql`vacuum analyze tasks`;
}

async function main(): Promise<void> {
  // fsync stays on: these are the settings a user gets.
  const server = await openScratchServer({ prefix: 'bbb-bench-' });
  const adminUrl = server.adminUrl;
  const dbName = `bbb_bench_${process.pid}`;
  const admin = connect(adminUrl, { max: 1 });
  await admin.unsafe(`create database ${dbName}`);
  const url = withDatabase(adminUrl, dbName);
  const sql = connect(url, { max: 2 });
  const pools = Array.from({ length: WORKERS }, () => connect(url, { max: 1 }));
  try {
    await migrate(sql);
    const [v] = await sql<{ v: string; fsync: string; sc: string }[]>`
      select current_setting('server_version') as v, current_setting('fsync') as fsync,
             current_setting('synchronous_commit') as sc`;
    console.log(
      `PostgreSQL ${v?.v} (${server.label}, fsync=${v?.fsync}, synchronous_commit=${v?.sc}); ` +
        `${os.cpus().length} CPUs; ${TASKS} tasks over ${JOBS} jobs, ${WORKERS} connections, batches of ${BATCH}`,
    );
    const rows = [await run(sql, 'empty', pools)];
    const f0 = performance.now();
    await addFinishedRows(sql, FINISHED);
    console.log(`inserted ${FINISHED} finished rows in ${((performance.now() - f0) / 1000).toFixed(1)} s`);
    rows.push(await run(sql, `with-${FINISHED / 1e6}M-finished`, pools));
    console.table(rows);
  } finally {
    await Promise.all([...pools, sql].map((p) => p.end()));
    await admin.unsafe(`drop database if exists ${dbName} with (force)`);
    await admin.end();
    await server.close();
  }
}

await main();
