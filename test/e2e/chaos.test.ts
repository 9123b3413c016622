// The chaos crawl: a 2,000-page crawl by worker processes while every worker backend is terminated every 1-2 s
// for 60 s (the site answers slowly enough that the crawl outlasts them), PostgreSQL is restarted once and one
// worker is killed with SIGKILL. Afterwards the job has completed, every
// page is reported exactly once, nothing is stuck, and every counter equals a recount. Runs on a private server
// of the suite's PostgreSQL version (17 embedded, or the version behind DATABASE_URL), which it may restart.
//   BBB_CHAOS_SECONDS (default 60): how long the terminations go on.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connect, type Sql } from '../../src/db/client.ts';
import { createJob } from '../../src/jobs/job-service.ts';
import { createOrganisation, getJob, type JobRow } from '../../src/queue/jobs.ts';
import { loadReport } from '../../src/report/index.ts';
import { withDbRetry } from '../../src/worker/db-retry.ts';
import { FixtureSite } from '../support/fixture-site.ts';
import { startPrivatePostgres } from '../support/private-postgres.ts';
import { mulberry32 } from '../support/random.ts';
import { waitFor } from '../support/wait.ts';
import { runBbb } from './bbb-process.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const PAGES = 2_100;
const CHAOS_MS = Number(process.env.BBB_CHAOS_SECONDS ?? 60) * 1000;
const CONCURRENCY = 8;
// Slow enough that the crawl outlasts the chaos: at most CONCURRENCY pages are in flight, so the 2,101 pages
// take at least 10% longer than the terminations go on (251 ms a page for 60 s), however fast the machine.
const ANSWER_MS = Math.ceil((CHAOS_MS * 1.1 * CONCURRENCY) / (PAGES + 1));

/** /p/0 … /p/2099 in one sitemap, each page linking to the next three; every answer takes ANSWER_MS. */
async function startSite(): Promise<FixtureSite> {
  const site = new FixtureSite();
  site.robots([], ['/sitemap.xml']);
  site.sitemap(
    '/sitemap.xml',
    Array.from({ length: PAGES }, (_, n) => `/p/${n}`),
  );
  const answer = (res: import('node:http').ServerResponse, body: string) =>
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'text/html', 'cf-cache-status': 'HIT' });
      res.end(body);
    }, ANSWER_MS);
  site.routePrefix('/p/', (req, res) => {
    const n = Number((req.url ?? '').slice(3));
    answer(res, [1, 2, 3].map((k) => `<a href="/p/${(n + k) % PAGES}">next</a>`).join(''));
  });
  site.route('/', (_req, res) => answer(res, '<a href="/p/0">start</a>'));
  await site.start();
  after(() => site.stop());
  return site;
}

function spawnWorker(url: string, id: string): { child: ChildProcess; exit: Promise<number | string> } {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'worker-process.ts')], {
    env: { ...process.env, DATABASE_URL: url, WORKER_ID: id, LEASE_SECONDS: '3' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const exit = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      if (code !== 0 && signal !== 'SIGKILL')
        process.stderr.write(`worker ${id} (${code ?? signal}):\n${stderr}\n`);
      resolve(code ?? signal ?? 'unknown');
    }),
  );
  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, exit };
}

const running = (sql: Sql, id: string) =>
  withDbRetry(() => getJob(sql, id), { signal: AbortSignal.timeout(60_000) }).then(
    (j) => j?.status === 'running',
  );

test('a crawl survives terminated backends, a PostgreSQL restart and a killed worker, losing nothing', async () => {
  const pg = await startPrivatePostgres();
  const sql = connect(pg.url, { max: 2, applicationName: 'chaos test' });
  after(() => sql.end({ timeout: 1 }));
  const site = await startSite();
  const org = await createOrganisation(sql, 'chaos', 'operator');
  const { job } = await createJob(sql, {
    url: site.url('/'),
    organisationId: org,
    concurrency: CONCURRENCY,
    maxPages: 10_000,
  });
  const workers = [spawnWorker(pg.url, 'a'), spawnWorker(pg.url, 'b')];

  const rand = mulberry32(Number(process.env.BBB_TEST_SEED ?? Date.now() % 1_000_000));
  const chaos = { terminated: 0, restartedWhileRunning: false, killedWhileRunning: false };
  const started = Date.now();
  let restarted = false;
  let killed = false;
  let done: JobRow | undefined;
  while (Date.now() - started < CHAOS_MS && !done) {
    // Backends of the worker processes only (application_name from test/e2e/worker-process.ts).
    const [row] = await withDbRetry(
      () => sql<{ n: number }[]>`
        select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where application_name = 'test worker'`,
      { signal: AbortSignal.timeout(30_000) },
    );
    chaos.terminated += row!.n;
    if (!restarted && Date.now() - started > CHAOS_MS / 5) {
      restarted = true;
      chaos.restartedWhileRunning = await running(sql, job.id);
      await pg.restart();
    }
    if (!killed && Date.now() - started > (CHAOS_MS * 2) / 5) {
      killed = true;
      chaos.killedWhileRunning = await running(sql, job.id);
      workers[0]!.child.kill('SIGKILL');
      workers.push(spawnWorker(pg.url, 'c'));
    }
    await new Promise((resolve) => setTimeout(resolve, 1000 + rand() * 1000));
    const now = await withDbRetry(() => getJob(sql, job.id), { signal: AbortSignal.timeout(30_000) });
    if (now?.status !== 'running') done = now;
  }
  assert.ok(
    chaos.restartedWhileRunning && chaos.killedWhileRunning,
    `chaos while crawling: ${JSON.stringify(chaos)}`,
  );
  assert.equal(done, undefined, `the crawl outlasted the ${CHAOS_MS / 1000} s of terminations`);
  assert.ok(chaos.terminated >= 10, `backends terminated: ${chaos.terminated}`);

  done ??= await waitFor(
    'the job to finish',
    async () => {
      const j = await getJob(sql, job.id).catch(() => undefined);
      return j && j.status !== 'running' ? j : undefined;
    },
    { timeoutMs: 180_000, intervalMs: 250 },
  );
  for (const w of workers.slice(1)) w.child.kill('SIGTERM');
  const exits = await Promise.all(workers.slice(1).map((w) => w.exit));
  assert.deepEqual(exits, [0, 0], 'the surviving workers stopped cleanly: no driver error escaped');

  console.log(
    `# chaos crawl: ${JSON.stringify(chaos)}, finished after ${Math.round((Date.now() - started) / 1000)} s`,
  );
  assert.equal(done.status, 'completed');
  const expected = [site.url('/'), ...Array.from({ length: PAGES }, (_, n) => site.url(`/p/${n}`))].sort();
  const tasks = await sql<{ url: string; status: string }[]>`
    select url, status from tasks where job_id = ${job.id} order by url`;
  assert.deepEqual(
    tasks.map((t) => t.url),
    expected,
  );
  assert.deepEqual(new Set(tasks.map((t) => t.status)), new Set(['completed']), 'nothing stuck or lost');
  const report = await loadReport(sql, job.id);
  assert.equal(report.pages.length, expected.length);
  assert.equal(new Set(report.pages.map((p) => p.url)).size, expected.length, 'every page reported once');
  const [drift] = await sql<{ ok: boolean }[]>`
    select (j.total_tasks, j.pending_tasks, j.retrying_tasks, j.running_tasks, j.completed_tasks, j.failed_tasks,
      j.skipped_tasks) = (select count(*)::int, (count(*) filter (where status = 'pending'))::int,
        (count(*) filter (where status = 'retrying'))::int, (count(*) filter (where status = 'running'))::int,
        (count(*) filter (where status = 'completed'))::int, (count(*) filter (where status = 'failed'))::int,
        (count(*) filter (where status = 'skipped'))::int from tasks where job_id = j.id) as ok,
      j.stats = compute_job_stats(j.id) as stats_ok
    from jobs j where j.id = ${job.id}`;
  assert.deepEqual({ ...drift }, { ok: true, stats_ok: true }, 'counters and stats equal a recount');
});

test('bbb crawl survives its backends being terminated every 1.5 s and reports every page', async () => {
  const pg = await startPrivatePostgres();
  const killer = connect(pg.url, { max: 1, applicationName: 'chaos test' });
  after(() => killer.end({ timeout: 1 }));
  const pages = 200;
  const site = new FixtureSite();
  site.routePrefix('/q/', (req, res) => {
    const n = Number((req.url ?? '').slice(3));
    res.writeHead(200, { 'content-type': 'text/html', 'cf-cache-status': 'HIT' });
    res.end(`<a href="/q/${(n + 1) % pages}">next</a><a href="/q/${(n * 7) % pages}">jump</a>`);
  });
  site.route('/', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html', 'cf-cache-status': 'HIT' });
    res.end('<a href="/q/0">start</a>');
  });
  await site.start();
  after(() => site.stop());
  const run = runBbb(['crawl', site.url('/'), '--no-sitemap', '--concurrency', '8', '--format', 'json'], {
    DATABASE_URL: pg.url,
  });
  let exited = false;
  void run.done.then(() => {
    exited = true;
  });
  let terminated = 0;
  while (!exited) {
    const [row] = await withDbRetry(
      () => killer<{ n: number }[]>`
        select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where application_name = 'bbb crawl'`,
      { signal: AbortSignal.timeout(30_000) },
    );
    terminated += row!.n;
    await Promise.race([run.done, new Promise((resolve) => setTimeout(resolve, 1500))]);
  }
  const { code, stdout, stderr } = await run.done;
  assert.equal(code, 0, stderr);
  assert.ok(terminated >= 3, `backends terminated: ${terminated}`);
  const report = JSON.parse(stdout) as {
    job: { status: string };
    pages: Array<{ url: string; status_code: number }>;
  };
  assert.equal(report.job.status, 'completed');
  assert.equal(report.pages.length, pages + 1);
  assert.equal(new Set(report.pages.map((p) => p.url)).size, pages + 1, 'every page reported once');
  assert.ok(report.pages.every((p) => p.status_code === 200));
});
