// The pool under stress: a graceful stop hands in-flight tasks back unrun.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { closeFetchPool } from '../../src/crawler/fetch-pool.ts';
import { createJob } from '../../src/jobs/job-service.ts';
import { createOrganisation, getJob } from '../../src/queue/jobs.ts';
import { enqueueUrls } from '../../src/queue/tasks.ts';
import { startWorkerPool } from '../../src/worker/index.ts';
import { testDatabase } from '../support/db.ts';
import { SITE_HOST } from '../support/fixture-routes.ts';
import { type FixtureSite, startFixtureSite } from '../support/fixture-site.ts';
import { waitFor } from '../support/wait.ts';
import { testCrawlOptions } from './helpers.ts';

let site: FixtureSite;
let origin: string;

before(async () => {
  site = await startFixtureSite((s) => {
    s.page('/', '<p>home</p>', { 'cf-cache-status': 'HIT' });
    s.routePrefix('/stall/', () => {}); // never answers: the task stays in flight until aborted
  });
  origin = `http://${SITE_HOST}:${site.port}`;
});
after(async () => {
  await closeFetchPool();
  await site.stop();
});

async function siteJob(db: Awaited<ReturnType<typeof testDatabase>>, paths: string[]) {
  const organisationId = await createOrganisation(db.sql, 'Bees');
  const { job } = await createJob(db.sql, {
    url: `${origin}/`,
    organisationId,
    source: 'manual',
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
    sql: db.connect(4),
    concurrency: 8,
    crawl: testCrawlOptions({ respectRobots: false, headersTimeoutMs: 30_000, totalTimeoutMs: 30_000 }),
  });
  // The home page is crawled too; on a loaded machine it can still be in flight when the stalls arrive.
  await waitFor(
    'three stalled requests in flight and the home page done',
    async () =>
      site.requests.filter((r) => r.path.startsWith('/stall/')).length === 3 &&
      (
        await db.sql`select 1 from tasks where job_id = ${jobId} and url = ${`${origin}/`} and status = 'completed'`
      ).length === 1,
  );
  assert.equal(pool.inFlight, 3);
  const started = Date.now();
  await pool.stop({ deadlineMs: 200 });
  assert.ok(Date.now() - started < 5_000, 'stop kept to its deadline');
  const rows = await db.sql<{ url: string; status: string; spare: number; locked_by: string | null }[]>`
    select url, status, max_attempts - attempts as spare, locked_by from tasks
    where job_id = ${jobId} and url like ${`${origin}/stall/%`}
    order by url`;
  // Pending again with as many attempts left as before the claim (attempts, the fencing token, never goes back).
  assert.deepEqual(
    rows.map((r) => [r.status, r.spare, r.locked_by]),
    [
      ['pending', 3, null],
      ['pending', 3, null],
      ['pending', 3, null],
    ],
  );
  assert.equal(pool.stats.released, 3);
  assert.equal((await getJob(db.sql, jobId))?.status, 'running', 'the job waits for another worker');
});

// Losing the database: test/worker/outage.test.ts kills the pool's connections again and again mid-crawl;
// test/e2e/scale-crash.test.ts restarts PostgreSQL under a worker process.
