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

test('results produced while the database is unreachable are written after it returns', async () => {
  const db = await testDatabase();
  const jobId = await siteJob(db, ['/gated/1', '/gated/2', '/gated/3']);
  // From the maintenance database: a database cannot close itself to connections.
  const admin = connect(process.env.BBB_TEST_ADMIN_URL!, { max: 1 });
  const events: WorkerEvent[] = [];
  const pool = startWorkerPool({
    sql: workerSql(db.url),
    concurrency: 8,
    crawl: testCrawlOptions({ respectRobots: false }),
    onEvent: (e) => {
      events.push(e);
    },
  });
  // A fresh pool for checking after the outage: the test's own connections are killed too and could hit the
  // same postgres.js stuck-connection case the worker guards against.
  const checker = connect(db.url, { max: 1 });
  after(() => checker.end({ timeout: 1 }));
  try {
    await waitFor(
      'the gated pages in flight',
      () => site.requests.filter((r) => r.path.startsWith('/gated/')).length === 3,
    );
    // Take the database away from the worker: no new connections, and every existing one killed.
    await admin.unsafe(`alter database ${db.name} allow_connections false`);
    await admin`
      select pg_terminate_backend(pid) from pg_stat_activity
      where datname = ${db.name} and pid <> pg_backend_pid()`;
    releaseSlow();
    await waitFor(
      'a failed result write',
      () => events.some((e) => e.type === 'db_error' && e.during === 'write results'),
      // A write caught by postgres.js's stuck-connection case fails only at the worker's call deadline (15 s).
      { timeoutMs: 30_000 },
    );
    assert.equal(pool.stats.completed, 0, 'nothing could be written yet');
    await admin.unsafe(`alter database ${db.name} allow_connections true`);
    // A fresh pool for checking: the test's own connections were killed too and could hit the same postgres.js
    // stuck-connection case the worker guards against.
    await waitFor('the job to complete', async () => (await getJob(checker, jobId))?.status === 'completed', {
      // A connection attempt caught by the outage can sit out postgres.js's connect_timeout (10 s) first.
      timeoutMs: 60_000,
    });
  } finally {
    await admin.unsafe(`alter database ${db.name} allow_connections true`).catch(() => {});
    await pool.stop({ deadlineMs: 1_000 });
    await admin.end();
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
