import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { newShareToken } from '../../src/api/jobs/share-tokens.ts';
import { asUser } from '../../src/db/as-user.ts';
import type { TxSql } from '../../src/db/client.ts';
import { readMigrations } from '../../src/db/migrate.ts';
import { enqueueUrls } from '../../src/queue/tasks.ts';
import { apiFixture, type TestUser } from '../support/api.ts';
import { urls } from '../support/jobs.ts';
import { rejectsWithCode } from '../support/tenants.ts';

const api = await apiFixture();
const { sql } = api.db;

async function jobWithTasks(user: TestUser, host: string, count: number): Promise<string> {
  const res = await user.call('POST', '/v1/jobs', { url: `https://${host}/`, use_sitemap: false });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  await enqueueUrls(sql, res.body.id, urls(host, count));
  return res.body.id;
}

async function share(user: TestUser, jobId: string, body?: unknown) {
  const res = await user.call('POST', `/v1/jobs/${jobId}/share-links`, body);
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body as { id: string; token: string; url_path: string; expires_at: string };
}

const owner = await api.user();
const jobA = await jobWithTasks(owner, 'a.example', 12);
const jobB = await jobWithTasks(owner, 'b.example', 5);

describe('share links', () => {
  test('a new link returns its token once; only the token’s SHA-256 is stored', async () => {
    const before = Date.now();
    const link = await share(owner, jobA);
    assert.match(link.token, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(link.url_path, `/v1/shared/${link.token}`);
    const hours = (Date.parse(link.expires_at) - before) / 3_600_000;
    assert.ok(hours > 167.9 && hours < 168.1, `default 168 hours, got ${hours}`);
    const [row] = await sql<{ token_hash: Buffer; created_by: string }[]>`
      select token_hash, created_by from job_share_links where id = ${link.id}`;
    assert.deepEqual(row!.token_hash, createHash('sha256').update(link.token).digest());
    assert.equal(row!.created_by, owner.id);

    const listed = await owner.call('GET', `/v1/jobs/${jobA}/share-links`);
    assert.equal(listed.status, 200);
    const entry = listed.body.data.find((l: { id: string }) => l.id === link.id);
    assert.equal(entry.active, true);
    assert.equal(entry.revoked_at, null);
    assert.ok(!JSON.stringify(listed.body).includes(link.token), 'the list never shows tokens');
  });

  test('expires_in_hours is 1–720', async () => {
    const short = await share(owner, jobA, { expires_in_hours: 1 });
    const hours = (Date.parse(short.expires_at) - Date.now()) / 3_600_000;
    assert.ok(hours > 0.9 && hours <= 1, `${hours}`);
    for (const expires_in_hours of [0, 721, 1.5, '24']) {
      const res = await owner.call('POST', `/v1/jobs/${jobA}/share-links`, { expires_in_hours });
      assert.equal(res.status, 400, String(expires_in_hours));
      assert.equal(res.body.error.code, 'validation_failed');
    }
  });

  test('the shared job and its tasks open without signing in, without organisation data', async () => {
    const link = await share(owner, jobA);
    const job = await api.call('GET', link.url_path);
    assert.equal(job.status, 200);
    assert.equal(job.body.id, jobA);
    assert.equal(job.body.root_url, 'https://a.example/');
    assert.equal(job.body.tasks.total, 13);
    assert.equal(job.body.organisation_id, undefined);
    assert.equal(job.body.created_by, undefined);

    const tasks = await api.call('GET', `${link.url_path}/tasks?limit=5&sort=url&order=desc`);
    assert.equal(tasks.status, 200);
    assert.equal(tasks.body.data.length, 5);
    const all: string[] = [...tasks.body.data.map((t: { url: string }) => t.url)];
    let cursor = tasks.body.next_cursor;
    while (cursor) {
      const next = await api.call(
        'GET',
        `${link.url_path}/tasks?limit=5&sort=url&order=desc&cursor=${cursor}`,
      );
      all.push(...next.body.data.map((t: { url: string }) => t.url));
      cursor = next.body.next_cursor;
    }
    assert.equal(all.length, 13);
    assert.ok(all.every((u) => u.startsWith('https://a.example/')));
    const filtered = await api.call('GET', `${link.url_path}/tasks?path=p1`);
    assert.deepEqual(filtered.body.data.map((t: { url: string }) => t.url).sort(), [
      'https://a.example/p1',
      'https://a.example/p10',
      'https://a.example/p11',
    ]);
    const bad = await api.call('GET', `${link.url_path}/tasks?status=nope`);
    assert.equal(bad.status, 400);
  });

  test('a token opens its own job only: no other job, task, link or organisation row is visible', async () => {
    const link = await share(owner, jobA);
    await share(owner, jobB);
    const seen = await asUser(sql, { role: 'anon' }, async (tx) => {
      await tx`select set_config('request.headers', ${JSON.stringify({ 'x-share-token': link.token })}, true)`;
      const [row] = await tx<Record<string, number>[]>`
        select (select count(*) from jobs)::int as jobs,
          (select count(*) from tasks where job_id = ${jobB})::int as tasks_b,
          (select count(*) from tasks where job_id = ${jobA})::int as tasks_a,
          (select count(*) from job_share_links)::int as links,
          (select count(*) from organisations)::int as organisations,
          (select count(*) from organisation_members)::int as members`;
      return row;
    });
    assert.deepEqual(
      { ...seen },
      { jobs: 1, tasks_b: 0, tasks_a: 13, links: 0, organisations: 0, members: 0 },
    );
  });

  test('revoking stops the link at once; revoking again is still 204', async () => {
    const link = await share(owner, jobA);
    assert.equal((await api.call('GET', link.url_path)).status, 200);
    const res = await owner.call('DELETE', `/v1/jobs/${jobA}/share-links/${link.id}`);
    assert.equal(res.status, 204);
    for (const path of [link.url_path, `${link.url_path}/tasks`]) {
      const gone = await api.call('GET', path);
      assert.equal(gone.status, 404);
      assert.equal(gone.body.error.code, 'not_found');
    }
    const listed = await owner.call('GET', `/v1/jobs/${jobA}/share-links`);
    const entry = listed.body.data.find((l: { id: string }) => l.id === link.id);
    assert.equal(entry.active, false);
    assert.ok(entry.revoked_at);
    assert.equal((await owner.call('DELETE', `/v1/jobs/${jobA}/share-links/${link.id}`)).status, 204);
    // The link belongs to job A: naming it under job B finds nothing.
    const other = await share(owner, jobA);
    assert.equal((await owner.call('DELETE', `/v1/jobs/${jobB}/share-links/${other.id}`)).status, 404);
    assert.equal((await api.call('GET', other.url_path)).status, 200);
  });

  test('an expired link, an unknown token and a malformed one are the same 404', async () => {
    const link = await share(owner, jobA);
    await sql`
      update job_share_links set created_at = now() - interval '2 days', expires_at = now() - interval '1 second'
      where id = ${link.id}`;
    const expired = await api.call('GET', link.url_path);
    const unknown = await api.call('GET', `/v1/shared/${randomBytes(32).toString('base64url')}`);
    const malformed = await api.call('GET', `/v1/shared/${encodeURIComponent("x' or 1=1;--")}/tasks`);
    assert.equal(expired.status, 404);
    assert.deepEqual(unknown.body, expired.body);
    assert.deepEqual(malformed.body, expired.body);
    assert.equal(malformed.status, 404);
  });

  test('another tenant cannot create, list or revoke links on your job', async () => {
    const stranger = await api.user();
    const link = await share(owner, jobA);
    const [before] = await sql<{ n: number }[]>`select count(*)::int as n from job_share_links`;

    const created = await stranger.call('POST', `/v1/jobs/${jobA}/share-links`, {});
    const listed = await stranger.call('GET', `/v1/jobs/${jobA}/share-links`);
    const revoked = await stranger.call('DELETE', `/v1/jobs/${jobA}/share-links/${link.id}`);
    const unknown = await stranger.call('GET', `/v1/jobs/${randomUUID()}/share-links`);
    for (const res of [created, listed, revoked]) {
      assert.equal(res.status, 404);
      assert.equal(res.body.error.code, 'not_found');
    }
    assert.deepEqual(listed.body, unknown.body);
    const [after] = await sql<{ n: number }[]>`select count(*)::int as n from job_share_links`;
    assert.equal(after!.n, before!.n);
    assert.equal((await api.call('GET', link.url_path)).status, 200, 'the link still works');
  });

  test('the table caps expiry at 720 hours for inserts that bypass the API', async () => {
    const { hash } = newShareToken();
    const insert = (hours: number) => (tx: TxSql) =>
      tx`insert into job_share_links (job_id, token_hash, created_by, expires_at)
         values (${jobA}, ${newShareToken().hash}, ${owner.id}, now() + make_interval(hours => ${hours}))`;
    // As a member through PostgREST / supabase-js would: role authenticated with the JWT's claims.
    const claims = { role: 'authenticated' as const, sub: owner.id };
    await rejectsWithCode(asUser(sql, claims, insert(721)), '23514', /job_share_links_expiry_cap/);
    await asUser(sql, claims, insert(720));
    // created_at is not the member's to choose, so it cannot stretch the window either.
    await rejectsWithCode(
      asUser(
        sql,
        claims,
        (tx) => tx`insert into job_share_links (job_id, token_hash, created_by, created_at, expires_at)
                   values (${jobA}, ${hash}, ${owner.id}, now() + interval '1 year', now() + interval '1 year 1 day')`,
      ),
      '42501',
    );
    // Even the table owner (service role, maintenance) is held to the cap.
    await rejectsWithCode(
      sql`insert into job_share_links (job_id, token_hash, created_by, created_at, expires_at)
          values (${jobA}, ${hash}, ${owner.id}, now() - interval '1 day', now() + interval '30 days')`,
      '23514',
    );
  });

  test('the migration shortens links made before the cap to 720 hours', async () => {
    const migration = (await readMigrations()).find((m) => m.name === 'auth_hardening');
    assert.ok(migration);
    // Replayed inside a transaction that is rolled back, on a link made as if before the cap existed.
    const rollback = new Error('rollback');
    await sql
      .begin(async (tx) => {
        await tx`alter table job_share_links drop constraint job_share_links_expiry_cap`;
        const [link] = await tx<{ id: string }[]>`
          insert into job_share_links (job_id, token_hash, created_by, created_at, expires_at)
          values (${jobA}, ${newShareToken().hash}, ${owner.id}, now() - interval '1 day', now() + interval '1 year')
          returning id`;
        for (const statement of migration.statements) await tx.unsafe(statement.text);
        const [row] = await tx<{ hours: number }[]>`
          select extract(epoch from expires_at - created_at)::int / 3600 as hours
          from job_share_links where id = ${link!.id}`;
        assert.equal(row!.hours, 720);
        throw rollback;
      })
      .catch((err) => {
        if (err !== rollback) throw err;
      });
  });

  test('shared views tell browsers not to pass the token on in a Referer', async () => {
    const link = await share(owner, jobA);
    for (const path of [link.url_path, `${link.url_path}/tasks`, `/v1/shared/${'x'.repeat(43)}`]) {
      const res = await api.call('GET', path);
      assert.ok(res.status === 200 || res.status === 404, `${path}: ${res.status}`);
      assert.equal(res.headers.get('referrer-policy'), 'no-referrer', path);
    }
    const signedIn = await owner.call('GET', `/v1/jobs/${jobA}/share-links`);
    assert.equal(signedIn.headers.get('referrer-policy'), null, 'only the public shared views');
  });

  test('creating without a body uses the default lifetime; the routes are documented', async () => {
    const res = await owner.call('POST', `/v1/jobs/${jobA}/share-links`);
    assert.equal(res.status, 201);
    const doc = (await api.call('GET', '/v1/openapi.json')).body;
    assert.ok(doc.paths['/v1/jobs/{id}/share-links'].post);
    assert.ok(doc.paths['/v1/jobs/{id}/share-links/{linkId}'].delete);
    assert.deepEqual(doc.paths['/v1/shared/{token}'].get.security, []);
    assert.ok(doc.paths['/v1/shared/{token}/tasks'].get);
  });
});
