import assert from 'node:assert/strict';
import { test } from 'node:test';
import { insertJob, type JobStats, type JobStatus } from '../../src/queue/jobs.ts';
import { apiFixture, type TestUser } from '../support/api.ts';

const api = await apiFixture();
const { sql } = api.db;

const activeOrg = async (user: TestUser) =>
  (await user.call('GET', '/v1/organisations')).body.data.find((o: { active: boolean }) => o.active)
    .id as string;

function stats(broken: number, before: number | null, after: number | null, saved: number): JobStats {
  const none = { p50: null, p90: null, p95: null, p99: null };
  return {
    pages: { ok: 0, broken, redirected: 0, skipped: 0, errored: 0, blocked_by_robots: 0 },
    cache_hit_ratio: { before, after },
    response_time_ms: { before: none, after: none },
    slowest: [],
    time_saved_ms: saved,
  };
}

interface Seed {
  status: JobStatus;
  completed?: number;
  failed?: number;
  stats?: JobStats;
  hoursAgo?: number;
}

async function seed(org: string, job: Seed): Promise<void> {
  const row = await insertJob(sql, { organisationId: org, rootUrl: 'https://dash.test/' });
  const finished = ['completed', 'failed', 'cancelled'].includes(job.status);
  if (job.status !== 'pending') {
    // Finishing computes stats from the (absent) tasks; the seeded stats go in afterwards.
    await sql`update jobs set status = ${job.status}, started_at = now(),
              completed_at = ${finished ? sql`now()` : null} where id = ${row.id}`;
  }
  const completed = job.completed ?? 0;
  const failed = job.failed ?? 0;
  await sql`
    update jobs set completed_tasks = ${completed}, failed_tasks = ${failed},
      total_tasks = ${completed + failed}, stats = ${job.stats ? sql.json(job.stats as never) : null},
      created_at = now() - make_interval(hours => ${job.hoursAgo ?? 0})
    where id = ${row.id}`;
}

const [alice, bob] = await Promise.all([api.user(), api.user()]);
const aliceOrg = await activeOrg(alice);
const bobOrg = await activeOrg(bob);

// Alice: five jobs in the last day, one two days ago, one ten days ago.
await seed(aliceOrg, { status: 'completed', completed: 8, failed: 2, stats: stats(2, 0.2, 0.9, 1000) });
await seed(aliceOrg, { status: 'failed', completed: 5, failed: 5, stats: stats(0, null, null, 0) });
await seed(aliceOrg, { status: 'running', completed: 3 });
await seed(aliceOrg, { status: 'cancelled', stats: stats(0, null, null, 0) });
await seed(aliceOrg, { status: 'pending' });
await seed(aliceOrg, {
  status: 'completed',
  completed: 30,
  stats: stats(1, 0.6, 1, 4000),
  hoursAgo: 48,
});
await seed(aliceOrg, {
  status: 'completed',
  completed: 100,
  stats: stats(50, 0, 1, 99_999),
  hoursAgo: 240,
});
// Bob: large numbers that would show if they leaked into Alice's totals.
await seed(bobOrg, { status: 'completed', completed: 5000, stats: stats(999, 1, 1, 7_000_000) });

test('7d (the default): hand-computed totals, page-weighted cache ratios, nothing from other tenants', async () => {
  const res = await alice.call('GET', '/v1/dashboard/stats');
  assert.equal(res.status, 200);
  const { from, to, ...rest } = res.body;
  assert.deepEqual(rest, {
    range: '7d',
    jobs: { total: 6, completed: 2, failed: 1, cancelled: 1, running: 1 },
    pages: { crawled: 10 + 10 + 3 + 30, broken: 3 },
    // (0.2×10 + 0.6×30) / 40 and (0.9×10 + 1×30) / 40; the failed and cancelled jobs have no ratio.
    cache_hit_ratio: { before: 0.5, after: 0.975 },
    time_saved_ms: 5000,
  });
  assert.equal(Date.parse(to) - Date.parse(from), 7 * 86_400_000);
  assert.ok(Math.abs(Date.parse(to) - Date.now()) < 60_000);
});

test('the range decides which jobs count', async () => {
  const day = await alice.call('GET', '/v1/dashboard/stats?range=24h');
  assert.deepEqual(day.body.jobs, { total: 5, completed: 1, failed: 1, cancelled: 1, running: 1 });
  assert.deepEqual(day.body.pages, { crawled: 23, broken: 2 });
  assert.deepEqual(day.body.cache_hit_ratio, { before: 0.2, after: 0.9 });
  assert.equal(day.body.time_saved_ms, 1000);

  const month = await alice.call('GET', '/v1/dashboard/stats?range=30d');
  assert.deepEqual(month.body.jobs, { total: 7, completed: 3, failed: 1, cancelled: 1, running: 1 });
  assert.deepEqual(month.body.pages, { crawled: 153, broken: 53 });
  // (2 + 18 + 0) / 140 and (9 + 30 + 100) / 140, to four places.
  assert.deepEqual(month.body.cache_hit_ratio, { before: 0.1429, after: 0.9929 });
  assert.equal(month.body.time_saved_ms, 104_999);

  const doc = (await api.call('GET', '/v1/openapi.json')).body;
  assert.deepEqual(
    doc.paths['/v1/dashboard/stats'].get.parameters.find((p: { name: string }) => p.name === 'range').schema
      .enum,
    ['24h', '7d', '30d', '90d'],
  );
  const bad = await alice.call('GET', '/v1/dashboard/stats?range=1y');
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, 'validation_failed');
});

test('another organisation: yours by id, someone else’s is 404, an empty one has null ratios', async () => {
  const own = await bob.call('GET', `/v1/dashboard/stats?organisation_id=${bobOrg}`);
  assert.equal(own.body.jobs.total, 1);
  assert.equal(own.body.time_saved_ms, 7_000_000);

  const foreign = await alice.call('GET', `/v1/dashboard/stats?organisation_id=${bobOrg}`);
  assert.equal(foreign.status, 404);
  assert.equal(foreign.body.error.code, 'not_found');
  assert.equal((await alice.call('GET', '/v1/dashboard/stats?organisation_id=xyz')).status, 400);

  const created = await alice.call('POST', '/v1/organisations', { name: 'Empty' });
  const empty = await alice.call('GET', `/v1/dashboard/stats?range=90d&organisation_id=${created.body.id}`);
  assert.equal(empty.status, 200);
  assert.deepEqual(empty.body.jobs, { total: 0, completed: 0, failed: 0, cancelled: 0, running: 0 });
  assert.deepEqual(empty.body.pages, { crawled: 0, broken: 0 });
  assert.deepEqual(empty.body.cache_hit_ratio, { before: null, after: null });
  assert.equal(empty.body.time_saved_ms, 0);
});

test('the default organisation follows a switch', async () => {
  const created = await bob.call('POST', '/v1/organisations', { name: 'Switched' });
  await bob.call('POST', `/v1/organisations/${created.body.id}/switch`);
  const res = await bob.call('GET', '/v1/dashboard/stats');
  assert.equal(res.body.jobs.total, 0);
});
