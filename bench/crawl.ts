// npm run bench:crawl — end-to-end crawl throughput through PostgreSQL, measured, not asserted.
// 1. Starts a generated site (bench/site-server.ts) in its own process and measures its ceiling: a bare
//    undici keep-alive loop, 64 requests in flight.
// 2. Crawls it with 1, then 2, worker processes (bench/worker-process.ts) against one database, politeness
//    off for the local host, and reports pages/s, CPU seconds and peak RSS of the workers, and machine CPU.
//   BENCH_PAGES=10000  BENCH_WORKERS=1,2  BENCH_BIG_PAGES=0 (e.g. 100000: one more run, for peak RSS)
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { connect, type Sql } from '../src/db/client.ts';
import { migrate } from '../src/db/migrate.ts';
import { createJob } from '../src/jobs/job-service.ts';
import { createOrganisation, getJob } from '../src/queue/jobs.ts';
import { openScratchServer, withDatabase } from '../test/support/scratch-server.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const PAGES = Number(process.env.BENCH_PAGES ?? 10_000);
const WORKER_COUNTS = (process.env.BENCH_WORKERS ?? '1,2').split(',').map(Number);
const BIG = Number(process.env.BENCH_BIG_PAGES ?? 0);

function tsxChild(script: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', path.join(here, script), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function firstLine(
  child: ChildProcess,
  stream: 'stdout' | 'stderr',
  pattern: RegExp,
): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let text = '';
    child[stream]!.on('data', (c: Buffer) => {
      text += c.toString();
      const match = pattern.exec(text);
      if (match) resolve(match);
    });
    child.once('exit', (code) =>
      reject(new Error(`${stream} never matched ${pattern} (exit ${code}): ${text}`)),
    );
  });
}

async function startSite(pages: number): Promise<{ child: ChildProcess; origin: string }> {
  const child = tsxChild('site-server.ts', [String(pages)]);
  const match = await firstLine(child, 'stdout', /port (\d+)/);
  return { child, origin: `http://127.0.0.1:${match[1]}` };
}

async function ceiling(origin: string, pages: number, seconds = 4): Promise<number> {
  const agent = new Agent({ connections: 64, pipelining: 1 });
  let done = 0;
  const until = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 64 }, async (_, i) => {
      let n = i;
      while (performance.now() < until) {
        const res = await request(`${origin}/p/${n % pages}`, { dispatcher: agent });
        await res.body.arrayBuffer();
        done++;
        n += 64;
      }
    }),
  );
  const rate = done / ((performance.now() - started) / 1000);
  await agent.close();
  return rate;
}

/** Busy and total jiffies from /proc/stat, for machine-wide CPU use over a run. */
function cpuTimes(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  const total = fields.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

async function crawl(sql: Sql, url: string, origin: string, pages: number, workers: number) {
  const org = await createOrganisation(sql, `bench ${workers}`, 'operator');
  const children = Array.from({ length: workers }, () =>
    tsxChild('worker-process.ts', [], { DATABASE_URL: url }),
  );
  await Promise.all(children.map((c) => firstLine(c, 'stderr', /ready/)));
  const cpu0 = cpuTimes();
  const t0 = performance.now();
  const { job } = await createJob(sql, {
    url: `${origin}/`,
    organisationId: org,
    maxPages: pages + 1,
    concurrency: 200,
    useSitemap: false,
  });
  let row = await getJob(sql, job.id);
  const deadline = Date.now() + 30 * 60_000;
  while (row && row.status === 'running' && Date.now() < deadline) {
    await delay(100);
    row = await getJob(sql, job.id);
  }
  const secs = (performance.now() - t0) / 1000;
  const cpu1 = cpuTimes();
  const usage = await Promise.all(
    children.map(async (c) => {
      const out = firstLine(c, 'stdout', /(\{.*\})/);
      c.kill('SIGTERM');
      return JSON.parse((await out)[1]!) as { cpuSeconds: number; maxRssMb: number };
    }),
  );
  return {
    pages: row?.completed_tasks ?? 0,
    status: row?.status,
    secs,
    pagesPerSec: (row?.completed_tasks ?? 0) / secs,
    workerCpu: usage.reduce((a, u) => a + u.cpuSeconds, 0),
    peakRss: Math.max(...usage.map((u) => u.maxRssMb)),
    machineCpu: (cpu1.busy - cpu0.busy) / (cpu1.total - cpu0.total),
  };
}

async function main(): Promise<void> {
  const server = await openScratchServer({ prefix: 'bbb-bench-crawl-' });
  const dbName = `bbb_bench_crawl_${process.pid}`;
  const admin = connect(server.adminUrl, { max: 1 });
  await admin.unsafe(`create database ${dbName}`);
  const url = withDatabase(server.adminUrl, dbName);
  const sql = connect(url, { max: 2 });
  const sites: ChildProcess[] = [];
  try {
    await migrate(sql);
    const site = await startSite(PAGES);
    sites.push(site.child);
    const max = await ceiling(site.origin, PAGES);
    console.log(
      `${os.cpus().length} CPUs, ${server.label}; site of ${PAGES} pages, server ceiling ${Math.round(max)} req/s`,
    );
    const rows: Array<Record<string, string | number | undefined>> = [];
    const record = (label: string, r: Awaited<ReturnType<typeof crawl>>) =>
      rows.push({
        run: label,
        status: r.status,
        pages: r.pages,
        seconds: r.secs.toFixed(1),
        'pages/s': Math.round(r.pagesPerSec),
        'of ceiling': `${Math.round((100 * r.pagesPerSec) / max)}%`,
        'worker CPU s': r.workerCpu.toFixed(1),
        'peak worker RSS MB': Math.round(r.peakRss),
        'machine CPU': `${Math.round(r.machineCpu * 100)}%`,
      });
    for (const workers of WORKER_COUNTS) {
      record(
        `${workers} worker process${workers > 1 ? 'es' : ''}`,
        await crawl(sql, url, site.origin, PAGES, workers),
      );
    }
    if (BIG > 0) {
      const big = await startSite(BIG);
      sites.push(big.child);
      record(`1 worker, ${BIG} pages`, await crawl(sql, url, big.origin, BIG, 1));
    }
    console.table(rows);
  } finally {
    for (const child of sites) child.kill('SIGTERM');
    await sql.end();
    await admin.unsafe(`drop database if exists ${dbName} with (force)`);
    await admin.end();
    await server.close();
  }
}

await main();
