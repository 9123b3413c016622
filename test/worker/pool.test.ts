// One worker pool crawls a small fixture site end to end through the real queue: sitemap discovery, link
// following, broken links, robots.txt, cache warming, and the job completing with its stats.
import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, before, test } from 'node:test';
import { closeFetchPool } from '../../src/crawler/fetch-pool.ts';
import { createJob } from '../../src/jobs/job-service.ts';
import { createOrganisation, getJob } from '../../src/queue/jobs.ts';
import { startWorkerPool } from '../../src/worker/index.ts';
import { testDatabase } from '../support/db.ts';
import { EXTERNAL_HOST, SITE_HOST } from '../support/fixture-routes.ts';
import { type FixtureSite, startFixtureSite } from '../support/fixture-site.ts';
import { waitForJobEnd } from '../support/jobs.ts';
import { testCrawlOptions } from './helpers.ts';

let site: FixtureSite;
let origin: string;

function page(s: FixtureSite, path: string, links: string[], cdn: 'warm' | 'hit' = 'hit', status = 200) {
  s.route(path, (_req: http.IncomingMessage, res: http.ServerResponse) => {
    const cache = cdn === 'hit' || s.hitCount(path) > 0 ? 'HIT' : 'MISS';
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cf-cache-status': cache });
    res.end(`<html><body>${links.map((l) => `<a href="${l}">${l}</a>`).join('')}</body></html>`);
  });
}

before(async () => {
  site = await startFixtureSite((s) => {
    s.robots(['Disallow: /private/'], ['/sitemap.xml']);
    s.sitemap('/sitemap.xml', ['/', '/from-sitemap', '/private/listed']);
    page(s, '/', ['/about', '/blog', '/missing', '/private/secret', '/redirect', 'http://ext.test:1/ext']);
    page(s, '/about', ['/blog/post-1', '/'], 'warm');
    page(s, '/blog', ['/blog/post-1', '/gone']);
    page(s, '/blog/post-1', ['/about'], 'warm');
    page(s, '/from-sitemap', [], 'warm');
    page(s, '/landing', ['/']);
    page(s, '/gone', [], 'hit', 410);
    s.route('/redirect', (_req, res) => {
      res.writeHead(301, { location: '/landing' });
      res.end();
    });
  });
  origin = `http://${SITE_HOST}:${site.port}`;
});
after(async () => {
  await closeFetchPool();
  await site.stop();
});

test('one pool crawls a site end to end and the job completes with its stats', async () => {
  const db = await testDatabase();
  const organisationId = await createOrganisation(db.sql, 'Bees');
  const { job } = await createJob(db.sql, { url: `${origin}/`, organisationId, source: 'manual' });
  const pool = startWorkerPool({ sql: db.connect(5), concurrency: 4, crawl: testCrawlOptions() });
  try {
    await waitForJobEnd(db.sql, job.id);
  } finally {
    await pool.stop({ deadlineMs: 2_000 });
  }

  const tasks = await db.sql<
    {
      url: string;
      status: string;
      status_code: number | null;
      error_code: string | null;
      found_on: string | null;
      source: string;
      depth: number;
      cache_status: string | null;
      warm_cache_status: string | null;
      redirect_url: string | null;
      attempts: number;
    }[]
  >`select url, status, status_code, error_code, found_on, source, depth, cache_status, warm_cache_status,
      redirect_url, attempts from tasks where job_id = ${job.id} order by url`;
  const byPath = new Map(tasks.map((t) => [new URL(t.url).pathname, t]));
  assert.deepEqual(
    [...byPath.keys()].sort(),
    [
      '/',
      '/about',
      '/blog',
      '/blog/post-1',
      '/from-sitemap',
      '/gone',
      '/missing',
      '/private/listed',
      '/private/secret',
      '/redirect',
    ],
    'exactly the pages linked or listed, nothing external, nothing twice',
  );

  // Broken links, with the page that links to them.
  assert.deepEqual(
    tasks
      .filter((t) => t.error_code === 'http_4xx')
      .map((t) => [new URL(t.url).pathname, t.status, t.status_code, t.found_on]),
    [
      ['/gone', 'failed', 410, `${origin}/blog`],
      ['/missing', 'failed', 404, `${origin}/`],
    ],
  );
  for (const path of ['/private/listed', '/private/secret']) {
    assert.equal(byPath.get(path)?.error_code, 'robots_disallowed', path);
    assert.equal(site.requested(path).length, 0, `${path} must never be requested`);
  }
  // Warmed: first GET a MISS, a warm GET made it a HIT.
  for (const path of ['/about', '/blog/post-1', '/from-sitemap']) {
    const t = byPath.get(path)!;
    assert.deepEqual([t.status, t.cache_status, t.warm_cache_status], ['completed', 'MISS', 'HIT'], path);
    assert.equal(site.requested(path).length, 2, `${path}: one crawl GET, one warm GET`);
  }
  assert.equal(byPath.get('/')?.warm_cache_status, null, 'a HIT is not re-requested');
  const redirected = byPath.get('/redirect')!;
  assert.deepEqual(
    [redirected.status, redirected.status_code, redirected.redirect_url],
    ['completed', 200, `${origin}/landing`],
  );
  assert.equal(byPath.get('/from-sitemap')?.source, 'sitemap');
  assert.deepEqual([byPath.get('/blog/post-1')?.source, byPath.get('/blog/post-1')?.depth], ['link', 2]);
  assert.ok(
    tasks.every((t) => t.attempts === 1),
    'no task ran twice',
  );
  assert.ok(
    !site.requests.some((r) => r.headers.host?.startsWith(EXTERNAL_HOST)),
    'external links not crawled',
  );

  const final = (await getJob(db.sql, job.id))!;
  assert.equal(final.status, 'completed');
  assert.equal(final.discovery_status, 'done');
  assert.deepEqual(
    [final.total_tasks, final.completed_tasks, final.failed_tasks, final.pending_tasks],
    [10, 6, 4, 0],
  );
  assert.equal(final.stats?.pages.broken, 2);
  assert.equal(final.stats?.pages.redirected, 1);
  assert.equal(final.stats?.pages.blocked_by_robots, 2, 'the two robots-disallowed pages');
  assert.equal(final.stats?.pages.errored, 0, 'robots-disallowed pages are not errors');
  assert.equal(final.stats?.cache_hit_ratio.after, 1);
  assert.equal(pool.stats.completed, 6);
  assert.equal(pool.stats.failed, 4);
  assert.equal(pool.stats.discoveries, 1);
});

test('a job whose filter proves too slow stops growing, and its remaining tasks fail saying why', async () => {
  const slowSite = await startFixtureSite((s) => page(s, '/', ['/slow-1', '/slow-2', '/slow-3']));
  const slowOrigin = `http://${SITE_HOST}:${slowSite.port}`;
  const db = await testDatabase();
  const organisationId = await createOrganisation(db.sql, 'Slow filters');
  const { job } = await createJob(db.sql, {
    url: `${slowOrigin}/`,
    organisationId,
    source: 'manual',
    useSitemap: false,
    include: ['/', '/slow-*'],
  });
  // Every match counts as slow and the first one passes the budget: the guard stops after one link.
  const crawl = testCrawlOptions({ filterGuard: { slowMatchMs: 0, slowBudgetMs: -1 } });
  const pool = startWorkerPool({ sql: db.connect(5), concurrency: 2, crawl });
  try {
    await waitForJobEnd(db.sql, job.id);
  } finally {
    await pool.stop({ deadlineMs: 2_000 });
    await slowSite.stop();
  }
  const tasks = await db.sql<
    { url: string; status: string; error_code: string | null; error_message: string | null }[]
  >`select url, status, error_code, error_message from tasks where job_id = ${job.id} order by id`;
  assert.deepEqual(
    tasks.map((t) => [new URL(t.url).pathname, t.status, t.error_code]),
    [
      ['/', 'completed', null],
      // Admitted by the match that stopped the filter; the other two links never were.
      ['/slow-1', 'failed', 'invalid_job'],
    ],
  );
  assert.match(
    tasks[1]!.error_message ?? '',
    /took up to \d+ ms to match one URL.*fewer or simpler patterns/,
  );
  assert.equal(slowSite.requested('/slow-1').length, 0, 'a task of a stopped job is never fetched');
});
