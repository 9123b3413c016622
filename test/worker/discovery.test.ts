// Sitemap discovery as a worker runs it: URLs are queued (and crawled) while the walk is still going, and the
// discovery lease is renewed meanwhile, so a long walk is never handed to a second worker.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { closeFetchPool } from '../../src/crawler/fetch-pool.ts';
import { createJob } from '../../src/jobs/job-service.ts';
import { createOrganisation, getJob } from '../../src/queue/jobs.ts';
import { startWorkerPool } from '../../src/worker/index.ts';
import { testDatabase } from '../support/db.ts';
import { SITE_HOST } from '../support/fixture-routes.ts';
import { type FixtureSite, startFixtureSite } from '../support/fixture-site.ts';
import { waitFor } from '../support/wait.ts';
import { testCrawlOptions } from './helpers.ts';

const db = await testDatabase();
let site: FixtureSite;
let origin: string;
const firstHalf = ['/a1', '/a2', '/a3'];
const secondHalf = ['/b1', '/b2'];
let releaseSecond: Promise<void> = Promise.resolve();

before(async () => {
  site = await startFixtureSite((s) => {
    s.robots([], ['/sitemap_index.xml']);
    s.sitemapIndex('/sitemap_index.xml', ['/first.xml', '/second.xml']);
    s.sitemap('/first.xml', firstHalf);
    // Held back until the test says so (the walk is still going while it waits), then sent on to the list.
    s.route('/second.xml', (_req, res) => {
      void releaseSecond.then(() => {
        res.writeHead(302, { location: '/second-list.xml' });
        res.end();
      });
    });
    s.sitemap('/second-list.xml', secondHalf);
    for (const p of ['/', ...firstHalf, ...secondHalf]) s.page(p, '<html><body>ok</body></html>');
  });
  origin = `http://${SITE_HOST}:${site.port}`;
});
after(async () => {
  await closeFetchPool();
  await site.stop();
});

test('sitemap URLs are queued and crawled while the walk goes on, and its lease is renewed', async () => {
  let release!: () => void;
  releaseSecond = new Promise((resolve) => {
    release = resolve;
  });
  const org = await createOrganisation(db.sql, 'Discovery org');
  const { job } = await createJob(db.sql, { url: `${origin}/`, organisationId: org, concurrency: 4 });
  const pool = startWorkerPool({
    sql: db.connect(4),
    concurrency: 4,
    leaseSeconds: 0.6,
    crawl: testCrawlOptions(),
  });
  try {
    await waitFor('the second sitemap to be requested', () => site.requested('/second.xml').length > 0);
    const [claimed] = await db.sql<{ until: Date }[]>`
      select discovery_locked_until as until from jobs where id = ${job.id}`;
    // The first sitemap's pages are crawled before the second sitemap has even arrived.
    await waitFor("the first sitemap's pages to be crawled", async () => {
      const [row] = await db.sql<{ n: number }[]>`
        select count(*)::int as n from tasks where job_id = ${job.id} and source = 'sitemap' and status = 'completed'`;
      return row!.n === firstHalf.length;
    });
    await waitFor('the discovery lease to be renewed', async () => {
      const [row] = await db.sql<{ until: Date; status: string }[]>`
        select discovery_locked_until as until, discovery_status as status from jobs where id = ${job.id}`;
      return row!.status === 'running' && row!.until.getTime() > claimed!.until.getTime();
    });
    release();
    const done = await waitFor('the job to complete', async () => {
      const row = await getJob(db.sql, job.id);
      return row?.status === 'completed' ? row : undefined;
    });
    assert.equal(done.completed_tasks, 1 + firstHalf.length + secondHalf.length);
    assert.equal(done.discovery_status, 'done');
    assert.equal(done.discovery_attempts, 1, 'never handed to a second attempt');
  } finally {
    release();
    await pool.stop({ deadlineMs: 1000 });
  }
});
