// A worker pool whose database connections are killed again and again in the middle of a crawl (every backend
// of its pool, the LISTEN connection included, by pg_terminate_backend) still completes the job, crawling and
// recording every page exactly once. Each kill lands while pages are in flight and their results about to be
// written, and the next round can only start once the pool has reconnected, written them and claimed again.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import { after, before, test } from 'node:test';
import { closeFetchPool } from '../../src/crawler/fetch-pool.ts';
import { connect, poolHealth } from '../../src/db/client.ts';
import { createJob } from '../../src/jobs/job-service.ts';
import { createOrganisation, getJob } from '../../src/queue/jobs.ts';
import { startWorkerPool } from '../../src/worker/index.ts';
import { testDatabase } from '../support/db.ts';
import { SITE_HOST } from '../support/fixture-routes.ts';
import { type FixtureSite, startFixtureSite } from '../support/fixture-site.ts';
import { waitFor } from '../support/wait.ts';
import { testCrawlOptions } from './helpers.ts';

// Rounds of the crawl: the home page links to every page of round 0, each page of round r to every page of
// round r + 1. Pages of round r > 0 are held unanswered until the test has killed the pool's connections.
const ROUNDS = 6;
const PER_ROUND = 4; // the job's concurrency and the per-host limit below: all of a round in flight at once
const roundPaths = (r: number) => Array.from({ length: PER_ROUND }, (_, i) => `/r${r}/${i}`);
const allPaths = ['/', ...Array.from({ length: ROUNDS }, (_, r) => roundPaths(r)).flat()];

let site: FixtureSite;
let origin: string;
const held = new Map<number, Array<() => void>>();
const released = new Set<number>([0]);

function answer(res: http.ServerResponse, round: number): void {
  const links = round + 1 < ROUNDS ? roundPaths(round + 1).map((p) => `<a href="${p}">${p}</a>`) : [];
  res.writeHead(200, { 'content-type': 'text/html', 'cf-cache-status': 'HIT' });
  res.end(`<html><body>${links.join('')}</body></html>`);
}

function release(round: number): void {
  released.add(round);
  for (const respond of held.get(round) ?? []) respond();
  held.delete(round);
}

before(async () => {
  site = await startFixtureSite((s) => {
    s.page(
      '/',
      roundPaths(0)
        .map((p) => `<a href="${p}">${p}</a>`)
        .join(''),
      { 'cf-cache-status': 'HIT' },
    );
    s.routePrefix('/r', (req, res) => {
      const round = Number(/^\/r(\d+)\//.exec(req.url ?? '')?.[1]);
      if (released.has(round)) return answer(res, round);
      held.set(round, [...(held.get(round) ?? []), () => answer(res, round)]);
    });
  });
  origin = `http://${SITE_HOST}:${site.port}`;
});
after(async () => {
  for (let r = 0; r < ROUNDS; r++) release(r);
  await closeFetchPool();
  await site.stop();
});

test('a job completes, every page crawled once, while the pool’s connections are killed again and again', async () => {
  const db = await testDatabase();
  // Unique per run, so only this pool's backends are killed even on a shared server.
  const app = `bbb outage ${randomBytes(4).toString('hex')}`;
  const workerDb = connect(db.url, { max: 4, applicationName: app });
  after(() => workerDb.end({ timeout: 1 }));

  const organisationId = await createOrganisation(db.sql, 'Bees');
  const { job } = await createJob(db.sql, {
    url: `${origin}/`,
    organisationId,
    source: 'cli',
    useSitemap: false,
    concurrency: PER_ROUND,
  });
  const pool = startWorkerPool({
    sql: workerDb,
    concurrency: 8,
    jobIds: [job.id],
    crawl: testCrawlOptions({ respectRobots: false, politeness: { perHostConcurrency: PER_ROUND } }),
  });

  const killBackends = async (): Promise<number> => {
    // With a timeout, pg_terminate_backend returns only once the backend has exited.
    const [row] = await db.sql<{ n: number }[]>`
      select count(*) filter (where pg_terminate_backend(pid, 5000))::int as n from pg_stat_activity
      where application_name = ${app} and datname = ${db.name}`;
    return row?.n ?? 0;
  };
  const requested = (paths: string[]) => paths.every((p) => site.requested(p).length > 0);

  try {
    for (let round = 1; round < ROUNDS; round++) {
      // Round `round` being requested means the pool wrote the previous round's results (their links) and
      // claimed again since the last kill.
      await waitFor(`round ${round} in flight`, () => requested(roundPaths(round)), { timeoutMs: 30_000 });
      release(round);
      const killed = await killBackends();
      assert.ok(killed > 0, `round ${round}: the pool had connections to kill`);
    }
    await waitFor('the job to complete', async () => (await getJob(db.sql, job.id))?.status === 'completed', {
      timeoutMs: 30_000,
    });
  } finally {
    await pool.stop({ deadlineMs: 1_000 });
  }

  const tasks = await db.sql<{ path: string; status: string; attempts: number }[]>`
    select substring(url from '//[^/]+(/.*)$') as path, status, attempts from tasks
    where job_id = ${job.id}`;
  assert.deepEqual(
    tasks.map((t) => [t.path, t.status, t.attempts]).sort(),
    allPaths.map((p) => [p, 'completed', 1]).sort(),
    'every page recorded once, on its first attempt',
  );
  for (const p of allPaths) assert.equal(site.requested(p).length, 1, `${p} requested once`);
  // The pool's readiness agrees once it answers again.
  const before = Date.now();
  await workerDb`select 1`;
  const health = poolHealth(workerDb);
  assert.equal(health.consecutiveFailures, 0);
  assert.ok((health.lastOkAt ?? 0) >= before);
});
