import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { insertJob } from '../../src/queue/jobs.ts';
import { apiFixture, type TestUser } from '../support/api.ts';

const api = await apiFixture();
const { sql } = api.db;

const activeOrg = async (user: TestUser) =>
  (await user.call('GET', '/v1/organisations')).body.data.find((o: { active: boolean }) => o.active)
    .id as string;

test('/plans needs no token and lists the plans for sale, not the operator plan', async () => {
  const res = await api.call('GET', '/v1/plans');
  assert.equal(res.status, 200);
  assert.deepEqual(
    res.body.data.map((p: { id: string }) => p.id),
    ['free', 'pro', 'business'],
  );
  assert.deepEqual(res.body.data[0], {
    id: 'free',
    name: 'Free',
    daily_page_quota: 1000,
    jobs_per_30_days: 30,
    max_pages_per_job: 500,
  });
  const doc = (await api.call('GET', '/v1/openapi.json')).body;
  assert.deepEqual(doc.paths['/v1/plans'].get.security, [], 'documented as public');
  assert.ok(doc.paths['/v1/usage']);
});

test('usage counts jobs of the last 30 days and today’s pages from the counters', async () => {
  const user = await api.user();
  const empty = await user.call('GET', '/v1/usage');
  assert.equal(empty.status, 200);
  const org = await activeOrg(user);
  assert.equal(empty.body.organisation_id, org);
  assert.deepEqual(empty.body.jobs, { used_last_30_days: 0, limit: 30 });
  assert.equal(empty.body.pages.used_today, 0);
  assert.equal(empty.body.pages.remaining_today, 1000);

  for (let i = 0; i < 3; i++) await insertJob(sql, { organisationId: org, rootUrl: 'https://usage.test/' });
  const old = await insertJob(sql, { organisationId: org, rootUrl: 'https://usage.test/' });
  await sql`update jobs set created_at = now() - interval '31 days' where id = ${old.id}`;
  await sql`insert into organisation_page_usage (organisation_id, day, pages) values
            (${org}, utc_today(), 250), (${org}, utc_today() - 1, 999)`;
  // Another organisation's usage never counts.
  const other = await api.user();
  const otherOrg = await activeOrg(other);
  await insertJob(sql, { organisationId: otherOrg, rootUrl: 'https://usage.test/' });
  await sql`insert into organisation_page_usage (organisation_id, day, pages) values (${otherOrg}, utc_today(), 7)`;

  const res = await user.call('GET', '/v1/usage');
  assert.equal(res.status, 200);
  assert.deepEqual(res.body.plan, {
    id: 'free',
    name: 'Free',
    daily_page_quota: 1000,
    jobs_per_30_days: 30,
    max_pages_per_job: 500,
  });
  assert.deepEqual(res.body.jobs, { used_last_30_days: 3, limit: 30 });
  const { resets_at, ...pages } = res.body.pages;
  assert.deepEqual(pages, { used_today: 250, daily_quota: 1000, remaining_today: 750 });
  const reset = new Date(resets_at);
  assert.equal(reset.toISOString().slice(11), '00:00:00.000Z', 'a UTC midnight');
  assert.ok(reset.getTime() > Date.now() - 60_000 && reset.getTime() <= Date.now() + 86_400_000);
});

test('usage of a named organisation: yours (any plan), never another’s', async () => {
  const [user, outsider] = await Promise.all([api.user(), api.user()]);
  await activeOrg(user);
  const created = await user.call('POST', '/v1/organisations', { name: 'Big' });
  const org = created.body.id as string;
  // The plan of your own organisation is readable even when it is not for sale.
  await sql`update organisations set plan_id = 'operator' where id = ${org}`;
  await sql`insert into organisation_page_usage (organisation_id, day, pages) values (${org}, utc_today(), 5)`;
  const res = await user.call('GET', `/v1/usage?organisation_id=${org}`);
  assert.equal(res.status, 200);
  assert.equal(res.body.organisation_id, org);
  assert.equal(res.body.plan.id, 'operator');
  assert.equal(res.body.pages.used_today, 5);
  assert.equal(res.body.pages.remaining_today, 2147483647 - 5);
  assert.ok(!(await api.call('GET', '/v1/plans')).body.data.some((p: { id: string }) => p.id === 'operator'));

  const foreign = await outsider.call('GET', `/v1/usage?organisation_id=${org}`);
  assert.equal(foreign.status, 404);
  assert.equal(foreign.body.error.code, 'not_found');
  assert.equal((await outsider.call('GET', `/v1/usage?organisation_id=${randomUUID()}`)).status, 404);
  const malformed = await user.call('GET', '/v1/usage?organisation_id=123');
  assert.equal(malformed.status, 400);
  assert.equal(malformed.body.error.code, 'validation_failed');
  assert.equal((await api.call('GET', '/v1/usage')).status, 401);
});

test('an organisation past its daily quota has nothing remaining, not a negative number', async () => {
  const user = await api.user();
  const org = await activeOrg(user);
  await sql`insert into organisation_page_usage (organisation_id, day, pages) values (${org}, utc_today(), 1200)`;
  const res = await user.call('GET', '/v1/usage');
  assert.equal(res.body.pages.used_today, 1200);
  assert.equal(res.body.pages.remaining_today, 0);
  const [row] = await sql<{ remaining: number }[]>`select org_pages_remaining(${org}) as remaining`;
  assert.equal(row!.remaining, res.body.pages.remaining_today, 'agrees with what claim_tasks enforces');
});
