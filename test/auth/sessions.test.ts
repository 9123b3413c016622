// /v1 and the session an access token names: a logout, a deleted or revoked session, and a session past
// BBB_SESSION_MAX_AGE end the token's use on /v1 as well as its refresh.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { createApp } from '../../src/api/app.ts';
import { SESSION_CACHE_MS } from '../../src/auth/gotrue/session-cache.ts';
import { apiKeys, signHs256 } from '../../src/auth/jwt.ts';
import { connect } from '../../src/db/client.ts';
import { type ApiFixture, type ApiResult, apiFixture, TEST_JWT_SECRET } from '../support/api.ts';

const keys = await apiKeys(TEST_JWT_SECRET);
const PASSWORD = 'correct horse battery';
let now = Date.now();
const api = await apiFixture({ now: () => now });
const newEmail = () => `s-${randomUUID().slice(0, 8)}@example.test`;

const auth = (fixture: ApiFixture, method: string, path: string, body?: unknown, headers = {}) =>
  fixture.call(method, `/auth/v1${path}`, body, { apikey: keys.anon, ...headers });
const jobs = (fixture: ApiFixture, token: string) =>
  fixture.call('GET', '/v1/jobs', undefined, { authorization: `Bearer ${token}` });

async function signedUp(fixture = api) {
  const email = newEmail();
  const res = await auth(fixture, 'POST', '/signup', { email, password: PASSWORD });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return { email, ...res.body } as { email: string; access_token: string; refresh_token: string };
}

function assertEnded(res: ApiResult) {
  assert.equal(res.status, 401, JSON.stringify(res.body));
  assert.equal(res.body.error.code, 'invalid_token');
  assert.match(res.body.error.message, /session has ended/);
}

test('after a global logout, every session’s access token is refused on /v1 at once', async () => {
  const a = await signedUp();
  const b = (await auth(api, 'POST', '/token?grant_type=password', { email: a.email, password: PASSWORD }))
    .body;
  assert.equal((await jobs(api, a.access_token)).status, 200, 'cached as live');
  assert.equal((await jobs(api, b.access_token)).status, 200);
  const out = await auth(api, 'POST', '/logout', undefined, { authorization: `Bearer ${a.access_token}` });
  assert.equal(out.status, 204);
  assertEnded(await jobs(api, a.access_token));
  assertEnded(await jobs(api, b.access_token));
});

test('a session ended elsewhere (deleted or revoked in the database) stops working within the cache time', async () => {
  const deleted = await signedUp();
  const revoked = await signedUp();
  assert.equal((await jobs(api, deleted.access_token)).status, 200);
  assert.equal((await jobs(api, revoked.access_token)).status, 200);
  // As Supabase Auth or another bbb process would: this process's cache has not been told.
  const sid = (t: string) => JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()).session_id;
  await api.db.sql`delete from auth.sessions where id = ${sid(deleted.access_token)}`;
  await api.db.sql`update auth.sessions set not_after = ${new Date(now - 1000)}
                   where id = ${sid(revoked.access_token)}`;
  now += SESSION_CACHE_MS - 1;
  assert.equal((await jobs(api, deleted.access_token)).status, 200, 'one lookup per session per cache time');
  assert.equal((await jobs(api, revoked.access_token)).status, 200);
  now += 1;
  assertEnded(await jobs(api, deleted.access_token));
  assertEnded(await jobs(api, revoked.access_token));
});

test('past BBB_SESSION_MAX_AGE, refresh refuses (session_expired) and /v1 refuses the access token', async () => {
  let clock = Date.now();
  const short = await apiFixture({ now: () => clock, sessionMaxAgeSeconds: 600 });
  const s = await signedUp(short);
  clock += 590_000;
  const refreshed = await auth(short, 'POST', '/token?grant_type=refresh_token', {
    refresh_token: s.refresh_token,
  });
  assert.equal(refreshed.status, 200, 'refreshing does not extend the lifetime');
  assert.equal((await jobs(short, refreshed.body.access_token)).status, 200);
  clock += 10_000;
  // The access token itself is still unexpired: its session is what has run out.
  assertEnded(await jobs(short, refreshed.body.access_token));
  const late = await auth(short, 'POST', '/token?grant_type=refresh_token', {
    refresh_token: refreshed.body.refresh_token,
  });
  assert.equal(late.status, 400);
  assert.equal(late.body.error_code, 'session_expired');
  const me = await auth(short, 'GET', '/user', undefined, {
    authorization: `Bearer ${refreshed.body.access_token}`,
  });
  assert.equal(me.body.error_code, 'session_not_found');
});

test('a Supabase Auth session older than the 30-day default is refused; tokens without session_id are not checked', async () => {
  const user = await api.user();
  const sessionId = randomUUID();
  await api.db.sql`insert into auth.sessions (id, user_id, created_at, updated_at)
                   values (${sessionId}, ${user.id}, now() - interval '30 days 1 minute', now())`;
  const claims = { sub: user.id, role: 'authenticated', aud: 'authenticated', email: user.email };
  const old = await signHs256(TEST_JWT_SECRET, { ...claims, session_id: sessionId }, 3600);
  assertEnded(await jobs(api, old));
  await api.db.sql`update auth.sessions set created_at = now() - interval '29 days' where id = ${sessionId}`;
  now += SESSION_CACHE_MS;
  assert.equal((await jobs(api, old)).status, 200);

  assert.equal((await jobs(api, await signHs256(TEST_JWT_SECRET, claims, 3600))).status, 200);
  const someoneElses = await signHs256(TEST_JWT_SECRET, { ...claims, session_id: randomUUID() }, 3600);
  assertEnded(await jobs(api, someoneElses));
  const otherUser = await api.user();
  const borrowed = await signHs256(
    TEST_JWT_SECRET,
    { ...claims, sub: otherUser.id, session_id: sessionId },
    3600,
  );
  assertEnded(await jobs(api, borrowed));
  const malformed = await signHs256(TEST_JWT_SECRET, { ...claims, session_id: 'not-a-uuid' }, 3600);
  const res = await jobs(api, malformed);
  assert.equal(res.status, 401);
  assert.equal(res.body.error.code, 'invalid_token');
});

test('a database role that cannot read auth.sessions is named in a 500, not hidden behind a 403', async (t) => {
  const role = `bbb_no_sessions_${randomUUID().slice(0, 8)}`;
  await api.db.sql.unsafe(`create role ${role} login password 'no-sessions'`);
  const url = new URL(api.db.url);
  url.username = role;
  url.password = 'no-sessions';
  const limited = connect(url.toString(), { max: 1 });
  t.after(async () => {
    await limited.end();
    await api.db.sql.unsafe(`drop role ${role}`);
  });
  const app = createApp({ ...api.deps, sql: limited });
  const user = await api.user();
  const res = await app.request('/v1/jobs', { headers: { authorization: `Bearer ${user.token}` } });
  const body = (await res.json()) as { error: { code: string; message: string } };
  assert.equal(res.status, 500, JSON.stringify(body));
  assert.equal(body.error.code, 'session_check_failed');
  assert.match(body.error.message, /cannot read auth\.sessions.*docs\/supabase\.md#the-database-role/);
});
