import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { compileFilters } from '../../src/crawler/filters.ts';
import { JobOptionLimits } from '../../src/queue/job-options.ts';
import { insertJob } from '../../src/queue/jobs.ts';
import { apiFixture, type TestUser } from '../support/api.ts';
import { HOSTILE_PATH_LENGTH, REDOS_SHAPES } from '../support/redos.ts';

const api = await apiFixture();
const { sql } = api.db;

/** A signed-in user with their personal organisation made (as on their first request). */
async function member(): Promise<{ user: TestUser; org: string }> {
  const user = await api.user();
  assert.equal((await user.call('GET', '/v1/jobs')).status, 200);
  const [row] = await sql<{ organisation_id: string }[]>`
    select organisation_id from organisation_members where user_id = ${user.id}`;
  return { user, org: row!.organisation_id };
}

async function jobCount(): Promise<number> {
  const [row] = await sql<{ n: number }[]>`select count(*)::int as n from jobs`;
  return row!.n;
}

describe('POST /v1/jobs', () => {
  test('creates a running job in the active organisation, as the user, with its root queued', async () => {
    const { user, org } = await member();
    const res = await user.call('POST', '/v1/jobs', {
      url: 'HTTPS://Create.Example/some/page?x=1',
      max_pages: 50,
      concurrency: 3,
      use_sitemap: false,
      exclude: ['/private/**'],
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const job = res.body;
    assert.equal(job.status, 'running');
    assert.equal(job.root_url, 'https://create.example/');
    assert.equal(job.domain, 'create.example');
    assert.equal(job.organisation_id, org);
    assert.equal(job.created_by, user.id);
    assert.equal(job.source, 'manual');
    assert.equal(job.paused_reason, null);
    assert.deepEqual(job.options, {
      max_pages: 50,
      concurrency: 3,
      use_sitemap: false,
      find_links: true,
      include: [],
      exclude: ['/private/**'],
      max_attempts: 3,
    });
    assert.equal(job.tasks.total, 1);
    assert.equal(job.tasks.pending, 1);
    assert.equal(job.discovery_status, 'skipped');
    const tasks = await sql`select url, source from tasks where job_id = ${job.id}`;
    assert.deepEqual(
      tasks.map((t) => ({ ...t })),
      [{ url: 'https://create.example/', source: 'root' }],
    );
  });

  test('a new job for the same host supersedes the active one; another host does not', async () => {
    const { user } = await member();
    const first = (await user.call('POST', '/v1/jobs', { url: 'https://same.example/' })).body;
    // Left out, max_pages is what the plan allows (Free: 500) rather than a refusal.
    assert.equal(first.options.max_pages, 500);
    const other = (await user.call('POST', '/v1/jobs', { url: 'https://other.example/' })).body;
    const second = await user.call('POST', '/v1/jobs', { url: 'https://same.example/again' });
    assert.equal(second.status, 201);
    assert.equal((await user.call('GET', `/v1/jobs/${first.id}`)).body.status, 'cancelled');
    assert.equal((await user.call('GET', `/v1/jobs/${other.id}`)).body.status, 'running');
    assert.equal((await user.call('GET', `/v1/jobs/${second.body.id}`)).body.status, 'running');
  });

  test('another tenant’s active job for the same host is untouched', async () => {
    const a = await member();
    const b = await member();
    const theirs = (await b.user.call('POST', '/v1/jobs', { url: 'https://shared-host.example/' })).body;
    assert.equal(
      (await a.user.call('POST', '/v1/jobs', { url: 'https://shared-host.example/' })).status,
      201,
    );
    assert.equal((await b.user.call('GET', `/v1/jobs/${theirs.id}`)).body.status, 'running');
  });

  test('organisation_id: one of yours is used; one you are not in is 404, like one that does not exist', async () => {
    const { user } = await member();
    const stranger = await member();
    const [second] = await sql<
      { id: string }[]
    >`insert into organisations (name) values ('Second') returning id`;
    await sql`insert into organisation_members values (${second!.id}, ${user.id}, 'member')`;
    const mine = await user.call('POST', '/v1/jobs', {
      url: 'https://org.example/',
      organisation_id: second!.id,
    });
    assert.equal(mine.status, 201);
    assert.equal(mine.body.organisation_id, second!.id);

    const before = await jobCount();
    const foreign = await user.call('POST', '/v1/jobs', {
      url: 'https://org.example/',
      organisation_id: stranger.org,
    });
    const unknown = await user.call('POST', '/v1/jobs', {
      url: 'https://org.example/',
      organisation_id: randomUUID(),
    });
    assert.equal(foreign.status, 404);
    assert.equal(foreign.body.error.code, 'not_found');
    assert.deepEqual(foreign.body, unknown.body);
    assert.equal(await jobCount(), before);
  });

  test('invalid bodies are 400 with a message naming the problem, and nothing is written', async () => {
    const { user } = await member();
    const before = await jobCount();
    const cases: Array<[unknown, string, RegExp]> = [
      [{ url: 'ftp://example.com/' }, 'validation_failed', /url/],
      [{ url: 'http://' }, 'validation_failed', /url/],
      [{ url: 'https://bad host.example/' }, 'validation_failed', /url/],
      [{}, 'validation_failed', /site URL/],
      [{ url: 'https://ok.example/', max_pages: '10' }, 'validation_failed', /max_pages/],
      [{ url: 'https://ok.example/', use_sitemap: 'yes' }, 'validation_failed', /use_sitemap/],
      [{ url: 'https://ok.example/', concurrency: 201 }, 'validation_failed', /concurrency above 200/],
      [{ url: 'https://ok.example/', include: ['/(a+)+/'] }, 'validation_failed', /include/],
      [{ url: 'https://ok.example/', maxPages: 10 }, 'validation_failed', /maxPages/],
      [[1, 2], 'validation_failed', /JSON object/],
      ['{"url": "https://ok.example/"', 'invalid_json', /not valid JSON/],
      // The server never crawls private networks: say so at once rather than fail every page.
      [{ url: 'http://127.0.0.1:3000/' }, 'private_target', /bbb crawl/],
      [{ url: 'http://[::1]/' }, 'private_target', /private or loopback/],
      [{ url: 'http://10.1.2.3/' }, 'private_target', /private or loopback/],
      [{ url: 'http://app.localhost/' }, 'private_target', /private or loopback/],
    ];
    for (const [body, code, message] of cases) {
      const res = await user.call('POST', '/v1/jobs', body);
      assert.equal(res.status, 400, `${JSON.stringify(body)} → ${res.status}`);
      assert.equal(res.body.error.code, code, JSON.stringify(body));
      assert.match(JSON.stringify(res.body.error), message, JSON.stringify(res.body));
    }
    assert.equal(await jobCount(), before);
  });

  test('tenant URL patterns: what cannot run in linear time is 400; the ReDoS shapes are safe to match', async () => {
    const { user } = await member();
    const { max, maxLength, maxTotalSize } = JobOptionLimits.patterns;
    const refused: Array<[Record<string, unknown>, RegExp]> = [
      [{ include: ['/(?=a)b/'] }, /include\.0: .*lookahead .* cannot run in linear time/],
      [{ exclude: ['/docs/**', '/(a)\\1/'] }, /exclude\.1: .*backreferences .* spell out the repeated text/],
      [
        { exclude: [`/${'a'.repeat(maxLength)}`] },
        new RegExp(`each exclude pattern is at most ${maxLength} characters`),
      ],
      [
        { include: Array.from({ length: max + 1 }, (_, i) => `/p${i}/**`) },
        new RegExp(`at most ${max} include patterns`),
      ],
      [
        { exclude: Array.from({ length: Math.ceil(maxTotalSize / 900) + 1 }, (_, i) => `/x${i}[0-9]{900}/`) },
        new RegExp(`exclude\\.\\d+: .*more than the ${maxTotalSize.toLocaleString('en')} a job may have`),
      ],
    ];
    for (const [options, message] of refused) {
      const res = await user.call('POST', '/v1/jobs', { url: 'https://redos.example/', ...options });
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(res.body.error.code, 'validation_failed');
      assert.match(JSON.stringify(res.body.error), message);
    }
    // Accepted, and the stored patterns, compiled as a worker compiles them, answer at once on a hostile URL.
    for (const { pattern, hostilePath, matchingPath } of REDOS_SHAPES) {
      const res = await user.call('POST', '/v1/jobs', { url: 'https://redos.example/', include: [pattern] });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.deepEqual(res.body.options.include, [pattern]);
      const filter = compileFilters({ include: res.body.options.include });
      assert.equal(
        filter.test(`https://redos.example${hostilePath(HOSTILE_PATH_LENGTH)}`).ok,
        false,
        pattern,
      );
      assert.equal(filter.test(`https://redos.example${matchingPath}`).ok, true, pattern);
    }
  });

  test('the plan limits answer 402 plan_limit_reached exactly at the boundary', async () => {
    const { user, org } = await member();
    await sql`
      insert into plans (id, name, daily_page_quota, jobs_per_30_days, max_pages_per_job, listed)
      values ('tiny', 'Tiny', 100, 2, 5, false) on conflict (id) do nothing`;
    await sql`update organisations set plan_id = 'tiny' where id = ${org}`;

    const tooBig = await user.call('POST', '/v1/jobs', { url: 'https://limit.example/', max_pages: 6 });
    assert.equal(tooBig.status, 402);
    assert.equal(tooBig.body.error.code, 'plan_limit_reached');
    assert.match(tooBig.body.error.message, /at most 5 pages/);

    const first = await user.call('POST', '/v1/jobs', { url: 'https://limit.example/', max_pages: 5 });
    assert.equal(first.status, 201);
    assert.equal(
      (await user.call('POST', '/v1/jobs', { url: 'https://l2.example/', max_pages: 5 })).status,
      201,
    );
    const third = await user.call('POST', '/v1/jobs', { url: 'https://l3.example/', max_pages: 1 });
    assert.equal(third.status, 402);
    assert.equal(third.body.error.code, 'plan_limit_reached');
    assert.match(third.body.error.message, /2 jobs in 30 days/);
    const restart = await user.call('POST', `/v1/jobs/${first.body.id}/restart`);
    assert.equal(restart.status, 402);
    // The refused restart changed nothing: the job it would have superseded still runs.
    assert.equal((await user.call('GET', `/v1/jobs/${first.body.id}`)).body.status, 'running');
  });
});

describe('GET /v1/jobs', () => {
  test('pages newest first with a keyset cursor: no duplicates, no gaps, ties broken by id', async () => {
    const { user, org } = await member();
    const ids: string[] = [];
    for (let i = 0; i < 23; i++) {
      const job = await insertJob(sql, {
        organisationId: org,
        createdBy: user.id,
        rootUrl: `https://p${i}.example/`,
      });
      ids.push(job.id);
    }
    // Equal created_at values (to the microsecond) and values a microsecond apart.
    await sql`update jobs set created_at = '2026-01-01T00:00:00.000001Z' where id = any (${ids.slice(0, 8)}::uuid[])`;
    await sql`update jobs set created_at = '2026-01-01T00:00:00.000002Z' where id = any (${ids.slice(8, 12)}::uuid[])`;
    const expected = (
      await sql<
        { id: string }[]
      >`select id from jobs where organisation_id = ${org} order by created_at desc, id desc`
    ).map((r) => r.id);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = cursor ? `&cursor=${cursor}` : '';
      const res = await user.call('GET', `/v1/jobs?limit=5${q}`);
      assert.equal(res.status, 200);
      assert.ok(res.body.data.length <= 5);
      seen.push(...res.body.data.map((j: { id: string }) => j.id));
      cursor = res.body.next_cursor;
      pages++;
    } while (cursor && pages < 20);
    assert.equal(pages, 5);
    assert.deepEqual(seen, expected);
  });

  test('filters: status, domain, q, created_after/before; default is the active organisation only', async () => {
    const { user, org } = await member();
    const stranger = await member();
    const mk = (rootUrl: string, organisationId = org) =>
      insertJob(sql, { organisationId, createdBy: user.id, rootUrl }).then((j) => j.id);
    const a = await mk('https://www.alpha.example/');
    const b = await mk('https://beta.example/');
    const c = await mk('https://alpha.example/');
    await mk('https://alpha.example/', stranger.org);
    const [second] = await sql<
      { id: string }[]
    >`insert into organisations (name) values ('Other') returning id`;
    await sql`insert into organisation_members values (${second!.id}, ${user.id}, 'member')`;
    const elsewhere = await mk('https://alpha.example/', second!.id);
    await sql`update jobs set status = 'completed' where id = ${b}`;
    await sql`update jobs set created_at = '2025-06-01T00:00:00Z' where id = ${a}`;

    const ids = async (query: string) => {
      const res = await user.call('GET', `/v1/jobs?${query}`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body.data.map((j: { id: string }) => j.id).sort();
    };
    assert.deepEqual(await ids(''), [a, b, c].sort());
    assert.deepEqual(await ids('status=completed'), [b]);
    assert.deepEqual(await ids('status=pending,completed'), [a, b, c].sort());
    assert.deepEqual(await ids('domain=ALPHA.example'), [c]);
    assert.deepEqual(await ids('q=ALPHA'), [a, c].sort());
    assert.deepEqual(await ids(`q=${encodeURIComponent('%')}`), []);
    assert.deepEqual(await ids('created_before=2025-12-31T00:00:00Z'), [a]);
    assert.deepEqual(await ids('created_after=2025-12-31T00:00:00Z'), [b, c].sort());
    assert.deepEqual(await ids(`organisation_id=${second!.id}`), [elsewhere]);

    const foreign = await user.call('GET', `/v1/jobs?organisation_id=${stranger.org}`);
    assert.equal(foreign.status, 404);
    for (const bad of ['status=done', 'limit=0', 'limit=201', 'created_after=yesterday', 'cursor=%%%']) {
      const res = await user.call('GET', `/v1/jobs?${bad}`);
      assert.equal(res.status, 400, bad);
    }
    const forged = Buffer.from(JSON.stringify({ v: 'not a time', id: a })).toString('base64url');
    const res = await user.call('GET', `/v1/jobs?cursor=${forged}`);
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'invalid_cursor');
  });
});

describe('GET /v1/jobs/:id', () => {
  test('returns the job; another tenant’s job is the same 404 as an unknown id; a bad id is 400', async () => {
    const { user } = await member();
    const stranger = await member();
    const job = (await user.call('POST', '/v1/jobs', { url: 'https://get.example/' })).body;
    const res = await user.call('GET', `/v1/jobs/${job.id}`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { ...job, updated_at: res.body.updated_at });

    const theirs = await stranger.user.call('GET', `/v1/jobs/${job.id}`);
    const unknown = await stranger.user.call('GET', `/v1/jobs/${randomUUID()}`);
    assert.equal(theirs.status, 404);
    assert.deepEqual(theirs.body, unknown.body);
    const bad = await user.call('GET', '/v1/jobs/not-a-uuid');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'validation_failed');
  });

  test('paused_reason says daily_page_quota while the organisation’s pages for today are used', async () => {
    const { user, org } = await member();
    const job = (await user.call('POST', '/v1/jobs', { url: 'https://quota.example/' })).body;
    assert.equal(job.paused_reason, null);
    await sql`
      insert into organisation_page_usage (organisation_id, day, pages)
      values (${org}, public.utc_today(), 1000)`;
    assert.equal((await user.call('GET', `/v1/jobs/${job.id}`)).body.paused_reason, 'daily_page_quota');
    await user.call('POST', `/v1/jobs/${job.id}/cancel`);
    assert.equal((await user.call('GET', `/v1/jobs/${job.id}`)).body.paused_reason, null);
  });
});

describe('POST /v1/jobs/:id/cancel and /restart', () => {
  test('cancel stops a running job; a finished one is 409; another tenant gets 404 and changes nothing', async () => {
    const { user } = await member();
    const stranger = await member();
    const job = (await user.call('POST', '/v1/jobs', { url: 'https://cancel.example/' })).body;

    const refused = await stranger.user.call('POST', `/v1/jobs/${job.id}/cancel`);
    assert.equal(refused.status, 404);
    assert.equal((await user.call('GET', `/v1/jobs/${job.id}`)).body.status, 'running');

    const res = await user.call('POST', `/v1/jobs/${job.id}/cancel`);
    assert.equal(res.status, 200);
    assert.equal(res.body.status, 'cancelled');
    assert.equal(res.body.tasks.skipped, 1);
    const again = await user.call('POST', `/v1/jobs/${job.id}/cancel`);
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, 'job_finished');
  });

  test('restart starts a new job with the same options, superseding the old one if still active', async () => {
    const { user } = await member();
    const stranger = await member();
    const old = (
      await user.call('POST', '/v1/jobs', {
        url: 'https://restart.example/',
        max_pages: 42,
        concurrency: 2,
        find_links: false,
        include: ['/docs/**'],
        max_attempts: 5,
      })
    ).body;
    assert.equal((await stranger.user.call('POST', `/v1/jobs/${old.id}/restart`)).status, 404);

    const res = await user.call('POST', `/v1/jobs/${old.id}/restart`);
    assert.equal(res.status, 201);
    assert.notEqual(res.body.id, old.id);
    assert.deepEqual(res.body.options, old.options);
    assert.equal(res.body.root_url, old.root_url);
    assert.equal(res.body.status, 'running');
    assert.equal((await user.call('GET', `/v1/jobs/${old.id}`)).body.status, 'cancelled');

    // A finished job restarts too.
    const again = await user.call('POST', `/v1/jobs/${old.id}/restart`);
    assert.equal(again.status, 201);
    assert.equal((await user.call('GET', `/v1/jobs/${res.body.id}`)).body.status, 'cancelled');
  });
});

test('the job routes are in the OpenAPI document', async () => {
  const doc = (await api.call('GET', '/v1/openapi.json')).body;
  assert.ok(doc.paths['/v1/jobs'].post);
  assert.ok(doc.paths['/v1/jobs'].get);
  assert.ok(doc.paths['/v1/jobs/{id}'].get);
  assert.ok(doc.paths['/v1/jobs/{id}/cancel'].post);
  assert.ok(doc.paths['/v1/jobs/{id}/restart'].post);
  assert.ok(doc.components.schemas.Job);
});
