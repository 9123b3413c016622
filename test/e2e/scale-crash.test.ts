// Process-level guarantees of the worker pool: several worker processes share one job through PostgreSQL
// alone, a worker killed with SIGKILL loses no page, and a PostgreSQL restart mid-crawl is waited out.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connect, type Sql } from '../../src/db/client.ts';
import { startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { migrate } from '../../src/db/migrate.ts';
import { freePort } from '../../src/db/port.ts';
import { createJob } from '../../src/jobs/job-service.ts';
import { createOrganisation, getJob } from '../../src/queue/jobs.ts';
import { testDatabase } from '../support/db.ts';
import { FixtureSite } from '../support/fixture-site.ts';
import { tempDir } from '../support/tmp.ts';
import { waitFor } from '../support/wait.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const PAGES = 60;

/** /p/0 … /p/59, each linking to the next three; MISS on first request, HIT after; each answer takes `ms`. */
async function startSite(ms: number): Promise<FixtureSite> {
  const site = new FixtureSite();
  site.route('/robots.txt', (_req, res) => {
    res.writeHead(404);
    res.end();
  });
  site.routePrefix('/p/', (req, res, s) => {
    const n = Number((req.url ?? '').slice(3));
    const links = [1, 2, 3].map((k) => `<a href="/p/${(n + k) % PAGES}">next ${k}</a>`).join('');
    const seen = s.hitCount(req.url ?? '') > 0;
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'text/html', 'cf-cache-status': seen ? 'HIT' : 'MISS' });
      res.end(`<html><body>${links}</body></html>`);
    }, ms);
  });
  site.route('/', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html', 'cf-cache-status': 'HIT' });
    res.end('<a href="/p/0">start</a>');
  });
  await site.start();
  after(() => site.stop());
  return site;
}

function spawnWorker(url: string, id: string, env: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'worker-process.ts')], {
    env: { ...process.env, DATABASE_URL: url, WORKER_ID: id, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  child.once('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGKILL' && signal !== 'SIGTERM')
      process.stderr.write(`worker ${id}: ${stderr}`);
  });
  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return child;
}

async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** Waits, with the shared waitFor, until the job row satisfies `done`. */
function jobWhen(
  sql: Sql,
  jobId: string,
  done: (job: NonNullable<Awaited<ReturnType<typeof getJob>>>) => boolean,
  timeoutMs = 40_000,
) {
  return waitFor(
    `job ${jobId}`,
    async () => {
      const job = await getJob(sql, jobId).catch(() => undefined);
      return job && done(job) ? job : undefined;
    },
    { timeoutMs, intervalMs: 100 },
  );
}

async function expectAllPagesOnce(sql: Sql, jobId: string, site: FixtureSite): Promise<void> {
  const tasks = await sql<{ url: string; status: string; warm_attempts: number | null }[]>`
    select url, status, warm_attempts from tasks where job_id = ${jobId} order by url`;
  const expected = [site.url('/'), ...Array.from({ length: PAGES }, (_, n) => site.url(`/p/${n}`))].sort();
  assert.deepEqual(
    tasks.map((t) => t.url),
    expected,
    'the exact set of pages',
  );
  assert.deepEqual(new Set(tasks.map((t) => t.status)), new Set(['completed']), 'no page lost');
  for (const t of tasks) {
    const path = new URL(t.url).pathname;
    const gets = site.requested(path).filter((r) => r.method === 'GET').length;
    assert.ok(gets >= 1 + (t.warm_attempts ?? 0), `${path} fetched`);
  }
}

describe('worker processes', () => {
  test('two worker processes finish one job, each page fetched once apart from warm re-requests', async () => {
    const db = await testDatabase();
    const site = await startSite(5);
    const org = await createOrganisation(db.sql, 'scale');
    const { job } = await createJob(db.sql, {
      url: site.url('/'),
      organisationId: org,
      useSitemap: false,
      concurrency: 8,
    });
    const workers = [spawnWorker(db.url, 'a'), spawnWorker(db.url, 'b')];
    await jobWhen(db.sql, job.id, (j) => j.status === 'completed');
    await Promise.all(workers.map(stopWorker));
    await expectAllPagesOnce(db.sql, job.id, site);
    const tasks = await db.sql<{ url: string; warm_attempts: number | null }[]>`
      select url, coalesce(warm_attempts, 0) as warm_attempts from tasks where job_id = ${job.id}`;
    for (const t of tasks) {
      const gets = site.requested(new URL(t.url).pathname).length;
      assert.equal(
        gets,
        1 + (t.warm_attempts ?? 0),
        `${t.url}: one crawl plus its warm GETs, no duplicate crawl`,
      );
    }
    const byWorker =
      await db.sql`select count(distinct locked_by)::int as n from tasks where job_id = ${job.id}`;
    assert.equal(byWorker[0]?.n, 2, 'both processes did work');
  });

  test('a worker killed with SIGKILL mid-crawl loses no page', async () => {
    const db = await testDatabase();
    const site = await startSite(60);
    const org = await createOrganisation(db.sql, 'crash');
    const { job } = await createJob(db.sql, {
      url: site.url('/'),
      organisationId: org,
      useSitemap: false,
      concurrency: 8,
    });
    const victim = spawnWorker(db.url, 'victim', { LEASE_SECONDS: '2' });
    const survivor = spawnWorker(db.url, 'survivor', { LEASE_SECONDS: '2' });
    // Kill it while it holds running tasks, so their leases must be recovered.
    await waitFor(
      'the victim to hold a task',
      async () =>
        ((
          await db.sql`select count(*)::int as n from tasks where locked_by = 'victim' and status = 'running'`
        )[0]?.n as number) > 0,
      { timeoutMs: 30_000 },
    );
    victim.kill('SIGKILL');
    await jobWhen(db.sql, job.id, (j) => j.status === 'completed');
    await stopWorker(survivor);
    await expectAllPagesOnce(db.sql, job.id, site);
    const [retried] =
      await db.sql`select count(*)::int as n from tasks where job_id = ${job.id} and attempts > 1`;
    assert.ok((retried?.n as number) > 0, 'the killed worker’s tasks were recovered and run again');
  });

  test('PostgreSQL restarting mid-crawl is waited out and the crawl completes', async () => {
    const dir = tempDir();
    const port = await freePort();
    let pg = await startEmbeddedPostgres({ dataDir: dir, port, fsync: false });
    const sql = connect(pg.url, { max: 2 });
    after(() => sql.end({ timeout: 1 }));
    await migrate(sql);
    const site = await startSite(40);
    const org = await createOrganisation(sql, 'restart');
    const { job } = await createJob(sql, {
      url: site.url('/'),
      organisationId: org,
      useSitemap: false,
      concurrency: 6,
    });
    const worker = spawnWorker(pg.url, 'steady');
    await jobWhen(sql, job.id, (j) => j.completed_tasks >= 10);
    await pg.stop();
    pg = await startEmbeddedPostgres({ dataDir: dir, port, fsync: false });
    after(() => pg.stop());
    const done = await jobWhen(sql, job.id, (j) => j.status === 'completed', 60_000);
    await stopWorker(worker);
    assert.equal(done.completed_tasks, PAGES + 1);
    await expectAllPagesOnce(sql, job.id, site);
  });
});

test('a pool limited to some jobs never claims another job', async () => {
  const db = await testDatabase();
  const org = await createOrganisation(db.sql, 'filter');
  const mine = await createJob(db.sql, {
    url: 'https://mine.example/',
    organisationId: org,
    useSitemap: false,
  });
  const theirs = await createJob(db.sql, { url: 'https://theirs.example/', organisationId: org });
  const { claimTasks } = await import('../../src/queue/tasks.ts');
  const { claimDiscovery } = await import('../../src/queue/discovery.ts');
  const claimed = await claimTasks(db.sql, 'cli', 50, 30, [mine.job.id]);
  assert.deepEqual(
    claimed.map((t) => t.job_id),
    [mine.job.id],
  );
  const discoveries = await claimDiscovery(db.sql, 'cli', 5, 30, [mine.job.id]);
  assert.equal(discoveries.length, 0, 'theirs has a discovery step; mine has none');
  const rest = await claimTasks(db.sql, 'server', 50);
  assert.deepEqual(
    rest.map((t) => t.job_id),
    [theirs.job.id],
  );
});
