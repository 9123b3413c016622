// npm run bench:realtime — live updates under load, measured, not asserted (docs/benchmarks.md#realtime).
// A server process as `bbb serve` runs realtime (bench/realtime-server.ts) on a throwaway embedded
// PostgreSQL 17 (fsync on) or DATABASE_URL, RLS on; BENCH_RT_ORGS organisations of BENCH_RT_USERS members,
// each with one running job. For each client count, a client process (bench/realtime-clients.ts) opens that
// many websockets, each a member watching its organisation's job's tasks and the unfiltered jobs table; then
// for each rate, this process writes task changes through claim_tasks and write_task_results
// (bench/realtime-writer.ts) for BENCH_RT_SECONDS, waits for delivery to drain, and compares what every
// client received with what committed. A count's rates stop at the first that misses the goal (every change
// to every authorised client, p99 under BENCH_RT_P99_MS) unless BENCH_RT_ALL_RATES=1.
//   BENCH_RT_CLIENTS=1,100,500 BENCH_RT_RATES=250,500,1000,2000,3000,4000 BENCH_RT_SECONDS=10 BENCH_RT_WRITERS=2
//   BENCH_RT_TICK_MS=50 BENCH_RT_ORGS=50 BENCH_RT_USERS=10 BENCH_RT_P99_MS=250 BENCH_RT_ALL_RATES=0
//   BENCH_RT_WARMUP_SECONDS=3 (unreported, at the first rate, once the clients have subscribed)
//   BENCH_RT_CPU_PROF=<dir>: the server runs with --cpu-prof, and its hottest functions are printed
//   BENCH_RT_SQL='<SQL run after the migrations>', to measure a change to realtime_authorize without a migration
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { apiKeys } from '../src/auth/jwt.ts';
import { connect, type Sql } from '../src/db/client.ts';
import { migrate } from '../src/db/migrate.ts';
import { openScratchServer, withDatabase } from '../test/support/scratch-server.ts';
import { envNumber, machine, percentile, serverInfo } from './queue-stats.ts';
import type { ClientSpec } from './realtime-messages.ts';
import {
  ClientProcess,
  machineCpu,
  processCpuMs,
  type ServerProcess,
  startServer,
} from './realtime-processes.ts';
import { printProfile } from './realtime-profile.ts';
import { type BenchOrg, createTenants, topUp } from './realtime-setup.ts';
import { writeAtRate } from './realtime-writer.ts';

const list = (name: string, fallback: string) =>
  (process.env[name] || fallback).split(',').map((v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${name}: ${v} is not a positive number`);
    return n;
  });
const CLIENTS = list('BENCH_RT_CLIENTS', '1,100,500');
const RATES = list('BENCH_RT_RATES', '250,500,1000,2000,3000,4000');
const SECONDS = envNumber('BENCH_RT_SECONDS', 10);
const WARMUP_SECONDS = envNumber('BENCH_RT_WARMUP_SECONDS', 3);
const WRITERS = envNumber('BENCH_RT_WRITERS', 2);
const TICK_MS = envNumber('BENCH_RT_TICK_MS', 50);
const ORGS = envNumber('BENCH_RT_ORGS', 50);
const USERS = envNumber('BENCH_RT_USERS', 10);
const P99_MS = envNumber('BENCH_RT_P99_MS', 250);
const ALL_RATES = envNumber('BENCH_RT_ALL_RATES', 0) !== 0;
const CPU_PROF = process.env.BENCH_RT_CPU_PROF;
/** Delivery has drained once nothing more arrives for this long (or everything expected has). */
const DRAIN_QUIET_MS = 3_000;
const DRAIN_MAX_MS = 30_000;
/** Pending tasks per job before a client count's steps: what its rates claim, and half as much again. */
const TOP_UP_MARGIN = 1.5;

type Row = Record<string, string | number>;
type FunctionStats = Map<string, { calls: number; ms: number }>;

async function functionStats(sql: Sql): Promise<FunctionStats> {
  const rows = await sql<{ name: string; calls: number; ms: number }[]>`
    select funcname as name, calls::int, total_time as ms from pg_stat_user_functions
    where funcname = 'realtime_authorize'`;
  return new Map(rows.map((r) => [r.name, { calls: r.calls, ms: r.ms }]));
}

const fixed = (v: number, digits = 0) => (Number.isFinite(v) ? v.toFixed(digits) : '-');

/** Client i is member i / ORGS of organisation i % ORGS: every organisation watched, evenly. */
function specs(orgs: BenchOrg[], n: number): ClientSpec[] {
  if (n > orgs.length * USERS) throw new Error(`${n} clients need more than ${ORGS} × ${USERS} members`);
  return Array.from({ length: n }, (_, i) => {
    const org = orgs[i % orgs.length]!;
    return { token: org.tokens[Math.floor(i / orgs.length)]!, org: org.index, jobId: org.jobId };
  });
}

async function step(
  sql: Sql,
  server: ServerProcess,
  clients: ClientProcess,
  list: ClientSpec[],
  rate: number,
  seconds = SECONDS,
) {
  await clients.reset();
  const fn0 = await functionStats(sql);
  const cpu0 = machineCpu();
  const clientCpu0 = processCpuMs(clients.pid);
  const mainCpu0 = process.cpuUsage();
  const from = Date.now();
  const writes = await writeAtRate(sql, { rate, seconds, loops: WRITERS, tickMs: TICK_MS });
  const written = Date.now();
  const cpu1 = machineCpu();
  const clientCpu1 = processCpuMs(clients.pid);
  const mainCpu = process.cpuUsage(mainCpu0);
  const expected = list.map((c) => writes.perJob.get(c.jobId) ?? 0);
  const total = expected.reduce((a, b) => a + b, 0);
  let seen = -1;
  let quietSince = performance.now();
  const drainStart = performance.now();
  for (;;) {
    const got = await clients.count();
    if (got !== seen) quietSince = performance.now();
    seen = got;
    if (got >= total || performance.now() - quietSince > DRAIN_QUIET_MS) break;
    if (performance.now() - drainStart > DRAIN_MAX_MS) break;
    await delay(100);
  }
  const report = await clients.report();
  const fn1 = await functionStats(sql);
  const jobs = new Map(
    (
      await sql<{ id: string; pending: number; running: number; completed: number }[]>`
        select id, pending_tasks as pending, running_tasks as running, completed_tasks as completed from jobs`
    ).map((j) => [j.id, j]),
  );
  const received = report.tasks.reduce((a, b) => a + b, 0);
  const complete = report.tasks.filter((n, i) => n === expected[i]).length;
  const upToDate = report.lastJob.filter((s, i) => {
    const j = jobs.get(list[i]!.jobId)!;
    return s && s.pending === j.pending && s.running === j.running && s.completed === j.completed;
  }).length;
  const during = server.samples.filter((s) => s.at >= from && s.at <= written + 1000);
  const rss = during.map((s) => s.rssMb);
  const first = during[0];
  const last = during.at(-1);
  const span = first && last && last.at > first.at ? last.at - first.at : Number.NaN;
  const checks = first && last ? last.checks - first.checks : 0;
  const authorize = { calls: 0, ms: 0 };
  const f0 = fn0.get('realtime_authorize');
  const f1 = fn1.get('realtime_authorize');
  if (f1) Object.assign(authorize, { calls: f1.calls - (f0?.calls ?? 0), ms: f1.ms - (f0?.ms ?? 0) });
  const achieved = writes.changes / writes.seconds;
  const ok =
    received === total &&
    complete === list.length &&
    upToDate === list.length &&
    report.foreign === 0 &&
    report.lost === 0 &&
    writes.lost === 0 &&
    report.taskLatency.p99 < P99_MS &&
    achieved >= 0.95 * rate;
  const wall = (written - from) / 100; // CPU ms over this: % of one core
  const row: Row = {
    clients: list.length,
    'rate/s': rate,
    'written/s': Math.round(achieved),
    'received/expected': `${received}/${total}`,
    'clients complete': `${complete}/${list.length}`,
    'job rows current': `${upToDate}/${list.length}`,
    foreign: report.foreign,
    'p50 ms': fixed(report.taskLatency.p50, 1),
    'p95 ms': fixed(report.taskLatency.p95, 1),
    'p99 ms': fixed(report.taskLatency.p99, 1),
    'max ms': fixed(report.taskLatency.max),
    'job events/client/s': fixed(
      report.jobEvents.reduce((a, b) => a + b, 0) / list.length / ((written - from) / 1000),
      1,
    ),
    'job p99 ms': fixed(report.jobLatency.p99, 1),
    'server CPU %': first && last ? fixed(((last.cpuMs - first.cpuMs) / span) * 100) : '-',
    'server RSS MB': during.length ? `${fixed(Math.min(...rss))}-${fixed(Math.max(...rss))}` : '-',
    'server heap MB': last ? fixed(last.heapMb) : '-',
    'server loop max ms': during.length ? fixed(Math.max(...during.map((s) => s.loopMaxMs))) : '-',
    'checks/s': fixed((checks / span) * 1000, 1),
    'audiences/check': fixed(first && last ? (last.audiences - first.audiences) / Math.max(1, checks) : 0, 0),
    'check ms': fixed(first && last ? (last.checkMs - first.checkMs) / Math.max(1, checks) : 0, 1),
    'authorize ms (pg)': fixed(authorize.ms / Math.max(1, authorize.calls), 1),
    'clients CPU %': fixed((clientCpu1 - clientCpu0) / wall),
    'writer CPU %': fixed((mainCpu.user + mainCpu.system) / 1000 / wall),
    'machine CPU %': fixed(((cpu1.busy - cpu0.busy) / (cpu1.total - cpu0.total)) * 100),
    'claim p99 ms': fixed(percentile(writes.claimMs, 99), 1),
    'write p99 ms': fixed(percentile(writes.writeMs, 99), 1),
    ok: ok ? 'yes' : 'no',
  };
  if (report.errors.length > 0) console.log(`  client errors: ${report.errors.join('; ')}`);
  if (writes.lost > 0 || writes.shortClaims > 0)
    console.log(`  writer: ${writes.lost} results lost, ${writes.shortClaims} claims short of tasks`);
  return { row, ok };
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const scratch = await openScratchServer({ prefix: 'bbb-bench-rt-' });
  const dbName = `bbb_bench_rt_${process.pid}`;
  const admin = connect(scratch.adminUrl, { max: 1 });
  let server: ServerProcess | undefined;
  const rows: Row[] = [];
  try {
    await admin.unsafe(`create database ${dbName}`);
    // realtime_authorize's time in pg_stat_user_functions.
    await admin.unsafe(`alter database ${dbName} set track_functions = 'pl'`);
    const url = withDatabase(scratch.adminUrl, dbName);
    const sql = connect(url, { max: WRITERS + 1, applicationName: 'bench writer' });
    await migrate(sql);
    if (process.env.BENCH_RT_SQL) await sql.unsafe(process.env.BENCH_RT_SQL);
    console.log(`${machine()}\n${await serverInfo(sql)} (${scratch.label})`);
    const secret = randomBytes(32).toString('hex');
    const orgs = await createTenants(sql, secret, ORGS, USERS);
    const { anon } = await apiKeys(secret);
    const profDir = CPU_PROF ? path.resolve(CPU_PROF) : undefined;
    if (profDir) mkdirSync(profDir, { recursive: true });
    server = await startServer({ DATABASE_URL: url, BBB_JWT_SECRET: secret, BBB_LOG_LEVEL: 'warn' }, profDir);
    const rss0 = server.samples[0]?.rssMb ?? Number.NaN;
    console.log(
      `${ORGS} organisations × ${USERS} members, one running job each; steps of ${SECONDS} s, ` +
        `${WRITERS} writer loops on a ${TICK_MS} ms tick; server RSS at start ${fixed(rss0)} MB`,
    );
    const perJobClaims = (RATES.reduce((a, b) => a + b, 0) * SECONDS + RATES[0]! * WARMUP_SECONDS) / 2 / ORGS;
    for (const n of CLIENTS) {
      const t = performance.now();
      const added = await topUp(sql, orgs, Math.ceil(perJobClaims * TOP_UP_MARGIN) + 100);
      console.log(`${n} clients: ${added} tasks enqueued in ${fixed((performance.now() - t) / 1000, 1)} s`);
      const list = specs(orgs, n);
      const clients = new ClientProcess();
      try {
        const ms = await clients.connect(
          `${server.url.replace(/^http/, 'ws')}/realtime/v1/websocket`,
          anon,
          list,
        );
        console.log(`  ${n} clients subscribed in ${fixed(ms)} ms`);
        if (WARMUP_SECONDS > 0) await step(sql, server, clients, list, RATES[0]!, WARMUP_SECONDS);
        for (const rate of RATES) {
          const r = await step(sql, server, clients, list, rate);
          rows.push(r.row);
          console.log(`  ${JSON.stringify(r.row)}`);
          if (!r.ok && !ALL_RATES) break;
        }
      } finally {
        await clients.close();
      }
    }
    await sql.end();
    console.table(rows);
    const best = CLIENTS.map((n) => {
      const passed = rows.filter((r) => r.clients === n && r.ok === 'yes').map((r) => Number(r['rate/s']));
      return `${n} clients: ${passed.length ? Math.max(...passed) : 'none'}`;
    });
    console.log(`highest rate with every change delivered and p99 < ${P99_MS} ms — ${best.join(', ')}`);
    const rss = server.samples.map((s) => s.rssMb);
    console.log(
      `server RSS over the run: start ${fixed(rss0)} MB, min ${fixed(Math.min(...rss))}, ` +
        `max ${fixed(Math.max(...rss))}, end ${fixed(rss.at(-1) ?? Number.NaN)} MB`,
    );
  } finally {
    await server?.stop();
    await admin.unsafe(`drop database if exists ${dbName} with (force)`).catch(() => {});
    await admin.end();
    await scratch.close();
  }
  if (CPU_PROF) printProfile(path.resolve(CPU_PROF));
  console.log(`bench:realtime took ${fixed((performance.now() - t0) / 1000)} s`);
}

await main();
