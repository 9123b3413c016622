// The pool under stress: a graceful stop hands in-flight tasks back unrun, and results produced while the
// database is unreachable are kept and written once it is back, so the job still completes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { closeFetchPool } from '../../src/crawler/fetch-pool.ts';
import { connect } from '../../src/db/client.ts';
import { createJob } from '../../src/queue/job-service.ts';
import { createOrganisation, getJob } from '../../src/queue/jobs.ts';
import { enqueueUrls } from '../../src/queue/tasks.ts';
import { startWorkerPool, type WorkerEvent } from '../../src/worker/index.ts';
import { testDatabase } from '../support/db.ts';
import { SITE_HOST } from '../support/fixture-routes.ts';
import { type FixtureSite, startFixtureSite } from '../support/fixture-site.ts';
import { testCrawlOptions, waitFor, workerSql } from './helpers.ts';

let site: FixtureSite;
let origin: string;
let releaseSlow: () => void = () => {};
const slowGate = new Promise<void>((resolve) => {
  releaseSlow = resolve;
});

before(async () => {
  site = await startFixtureSite((s) => {
    s.page('/', '<p>home</p>', { 'cf-cache-status': 'HIT' });
    s.routePrefix('/stall/', () => {}); // never answers: the task stays in flight until aborted
    // Answers only when the test opens the gate, so the answers land while the database is away.
    s.routePrefix('/gated/', (_req, res) => {
      void slowGate.then(() => {
        res.writeHead(200, { 'content-type': 'text/html', 'cf-cache-status': 'HIT' });
        res.end('<a href="/linked">more</a>');
      });
    });
    s.page('/linked', '<p>found while the database was down</p>', { 'cf-cache-status': 'HIT' });
  });
  origin = `http://${SITE_HOST}:${site.port}`;
});
after(async () => {
  releaseSlow();
  await closeFetchPool();
  await site.stop();
});

async function siteJob(db: Awaited<ReturnType<typeof testDatabase>>, paths: string[]) {
  const organisationId = await createOrganisation(db.sql, 'Bees');
  const { job } = await createJob(db.sql, {
    url: `${origin}/`,
    organisationId,
    source: 'cli',
    useSitemap: false,
  });
  await enqueueUrls(
    db.sql,
    job.id,
    paths.map((p) => `${origin}${p}`),
  );
  return job.id;
}

test('a graceful stop releases in-flight tasks without counting the attempt', async () => {
  const db = await testDatabase();
  const jobId = await siteJob(db, ['/stall/1', '/stall/2', '/stall/3']);
  const pool = startWorkerPool({
    sql: workerSql(db.url),
    concurrency: 8,
    crawl: testCrawlOptions({ respectRobots: false, headersTimeoutMs: 30_000, totalTimeoutMs: 30_000 }),
  });
  await waitFor(
    'three stalled requests in flight',
    () => site.requests.filter((r) => r.path.startsWith('/stall/')).length === 3,
  );
  assert.equal(pool.inFlight, 3);
  const started = Date.now();
  await pool.stop({ deadlineMs: 200 });
  assert.ok(Date.now() - started < 5_000, 'stop kept to its deadline');
  const rows = await db.sql<{ url: string; status: string; attempts: number; locked_by: string | null }[]>`
    select url, status, attempts, locked_by from tasks where job_id = ${jobId} and url like ${`${origin}/stall/%`}
    order by url`;
  assert.deepEqual(
    rows.map((r) => [r.status, r.attempts, r.locked_by]),
    [
      ['pending', 0, null],
      ['pending', 0, null],
      ['pending', 0, null],
    ],
  );
  assert.equal(pool.stats.released, 3);
  assert.equal((await getJob(db.sql, jobId))?.status, 'running', 'the job waits for another worker');
});

// A full outage (connections refused for a while) is exercised by test/e2e/scale-crash.test.ts, which restarts
// PostgreSQL under a worker process. Here every worker connection is killed while results are pending.
test('results pending while the worker’s connections are killed are written once, after it reconnects', async () => {
  const db = await testDatabase();
  const jobId = await siteJob(db, ['/gated/1', '/gated/2', '/gated/3']);
  const workerDb = connect(db.url, { max: 4, applicationName: 'outage worker' });
  after(() => workerDb.end({ timeout: 1 }));
  const pool = startWorkerPool({
    sql: workerDb,
    concurrency: 8,
    crawl: testCrawlOptions({ respectRobots: false }),
  });
  const checker = db.sql;
  try {
    await waitFor(
      'the gated pages in flight',
      () => site.requests.filter((r) => r.path.startsWith('/gated/')).length === 3,
    );
    const [killed] = await checker<{ n: number }[]>`
      select count(pg_terminate_backend(pid))::int as n from pg_stat_activity
      where application_name = 'outage worker' and datname = ${db.name}`;
    assert.ok((killed?.n ?? 0) > 0, 'the worker had connections to kill');
    releaseSlow();
    await waitFor('the job to complete', async () => (await getJob(checker, jobId))?.status === 'completed', {
      timeoutMs: 30_000,
    });
  } finally {
    await pool.stop({ deadlineMs: 1_000 });
  }
  const rows = await checker<{ path: string; status: string; attempts: number; found_on: string | null }[]>`
    select substring(url from '//[^/]+(/.*)$') as path, status, attempts, found_on from tasks
    where job_id = ${jobId} order by url`;
  assert.deepEqual(
    rows.map((r) => [r.path, r.status, r.attempts]),
    [
      ['/', 'completed', 1],
      ['/gated/1', 'completed', 1],
      ['/gated/2', 'completed', 1],
      ['/gated/3', 'completed', 1],
      ['/linked', 'completed', 1],
    ],
    'every buffered result (and its links) was written, and no page was crawled twice',
  );
  for (const n of [1, 2, 3]) assert.equal(site.requested(`/gated/${n}`).length, 1);
});
