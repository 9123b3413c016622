// Two pools (two workers as far as the database knows) crawl one site: together they stay within the job's
// concurrency (claim_tasks) and the host's shared start rate (the host_politeness row).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { closeFetchPool } from '../../src/crawler/fetch-pool.ts';
import { createJob } from '../../src/jobs/job-service.ts';
import { createOrganisation, getJob } from '../../src/queue/jobs.ts';
import { startWorkerPool, type WorkerPool } from '../../src/worker/index.ts';
import { testDatabase } from '../support/db.ts';
import { SITE_HOST } from '../support/fixture-routes.ts';
import { type FixtureSite, startFixtureSite } from '../support/fixture-site.ts';
import { waitFor } from '../support/wait.ts';
import { testCrawlOptions } from './helpers.ts';

const PAGES = 24;
let site: FixtureSite;

before(async () => {
  site = await startFixtureSite((s) => {
    s.page('/', Array.from({ length: PAGES }, (_, i) => `<a href="/p${i}">${i}</a>`).join(''), {
      'cf-cache-status': 'HIT',
    });
    // Slow enough that requests overlap whenever the workers let them.
    s.routePrefix('/p', (_req, res) => {
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'text/html', 'cf-cache-status': 'HIT' });
        res.end('<p>page</p>');
      }, 25);
    });
  });
});
after(async () => {
  await closeFetchPool();
  await site.stop();
});

async function crawlWithTwoPools(options: {
  concurrency: number;
  minDelayMs: number;
  poolConcurrency?: number;
}) {
  site.requests.length = 0;
  site.maxInFlight = 0;
  const db = await testDatabase();
  const organisationId = await createOrganisation(db.sql, 'Bees');
  const { job } = await createJob(db.sql, {
    url: `http://${SITE_HOST}:${site.port}/`,
    organisationId,
    source: 'manual',
    useSitemap: false,
    concurrency: options.concurrency,
  });
  const crawl = testCrawlOptions({ respectRobots: false, politeness: { minDelayMs: options.minDelayMs } });
  const pools: WorkerPool[] = ['a', 'b'].map((name) =>
    startWorkerPool({
      sql: db.connect(5),
      workerId: `pool-${name}`,
      concurrency: options.poolConcurrency ?? 8,
      crawl,
      pollMs: 50,
    }),
  );
  try {
    await waitFor('the job to complete', async () => (await getJob(db.sql, job.id))?.status === 'completed', {
      timeoutMs: 20_000,
    });
  } finally {
    await Promise.all(pools.map((p) => p.stop({ deadlineMs: 2_000 })));
  }
  const [counts] = await db.sql<{ completed: number; workers: number }[]>`
    select count(*) filter (where status = 'completed')::int as completed,
      count(distinct locked_by)::int as workers
    from tasks where job_id = ${job.id}`;
  return { pools, counts: counts! };
}

test('two pools on one site never exceed the job concurrency together', async () => {
  // Each pool runs at most 2 pages: only the two together can reach 3, and only the job's cap stops 4.
  const { pools, counts } = await crawlWithTwoPools({ concurrency: 3, minDelayMs: 0, poolConcurrency: 2 });
  assert.equal(counts.completed, PAGES + 1);
  assert.equal(counts.workers, 2, 'both pools crawled');
  assert.ok(pools.every((p) => p.stats.completed > 0));
  assert.ok(site.maxInFlight <= 3, `peak in flight ${site.maxInFlight} > job concurrency 3`);
  assert.ok(site.maxInFlight >= 2, `peak in flight ${site.maxInFlight}: the crawl never ran in parallel`);
});

test('two pools on one site share one start rate through the host_politeness row', async () => {
  const gap = 40;
  // Each pool may take only half the job's slots, so both must crawl.
  const { counts } = await crawlWithTwoPools({ concurrency: 8, minDelayMs: gap, poolConcurrency: 4 });
  assert.equal(counts.workers, 2, 'both pools crawled');
  const starts = site.requests
    .filter((r) => r.method === 'GET')
    .map((r) => r.at)
    .sort((a, b) => a - b);
  assert.equal(starts.length, PAGES + 1);
  // Start slots are granted by the database clock, but the site sees arrivals, and on a loaded machine a pool
  // can send a granted request tens of ms late, so one pair of arrivals may sit closer than the gap. The
  // rate over the whole crawl cannot cheat: one shared row spaces all 25 starts over ≥ 24 gaps, while a
  // rate per pool would fit them into about half that.
  const span = starts.at(-1)! - starts[0]!;
  const shared = (starts.length - 1) * gap;
  assert.ok(
    span >= shared - 30,
    `${starts.length} starts took ${span} ms; one shared ${gap} ms gap needs ${shared}`,
  );
});
