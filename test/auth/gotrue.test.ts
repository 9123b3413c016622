import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import bcrypt from 'bcryptjs';
import { decodeJwt } from 'jose';
import { apiKeys } from '../../src/auth/jwt.ts';
import { type ApiFixture, type ApiResult, apiFixture, TEST_JWT_SECRET } from '../support/api.ts';

const keys = await apiKeys(TEST_JWT_SECRET);
const api = await apiFixture();
const PASSWORD = 'correct horse battery';
let counter = 0;
const newEmail = () => `user${++counter}-${Date.now()}@example.test`;

function auth(fixture: ApiFixture, method: string, path: string, body?: unknown, headers = {}) {
  return fixture.call(method, `/auth/v1${path}`, body, { apikey: keys.anon, ...headers });
}
const signUp = (email: string, password = PASSWORD, data?: unknown) =>
  auth(api, 'POST', '/signup', { email, password, ...(data ? { data } : {}) });
const signIn = (email: string, password = PASSWORD, fixture = api) =>
  auth(fixture, 'POST', '/token?grant_type=password', { email, password });
const refresh = (refresh_token: string) =>
  auth(api, 'POST', '/token?grant_type=refresh_token', { refresh_token });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

function assertError(res: ApiResult, status: number, errorCode: string) {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(res.body.code, status);
  assert.equal(res.body.error_code, errorCode, JSON.stringify(res.body));
  assert.equal(typeof res.body.msg, 'string');
}

test('signup stores a confirmed user with a bcrypt hash and returns a Supabase-shaped session', async () => {
  const email = newEmail();
  const res = await signUp(email.toUpperCase(), PASSWORD, { name: 'Ada' });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const s = res.body;
  assert.equal(s.token_type, 'bearer');
  assert.equal(s.expires_in, 3600);
  assert.ok(Math.abs(s.expires_at - (Math.floor(Date.now() / 1000) + 3600)) <= 2);
  assert.match(s.refresh_token, /^[A-Za-z0-9_-]{12,}$/);
  assert.equal(s.user.email, email, 'stored lowercased');
  assert.equal(s.user.aud, 'authenticated');
  assert.equal(s.user.role, 'authenticated');
  assert.deepEqual(s.user.user_metadata, { name: 'Ada' });
  assert.deepEqual(s.user.app_metadata, { provider: 'email', providers: ['email'] });
  assert.ok(s.user.email_confirmed_at && s.user.confirmed_at && s.user.last_sign_in_at);
  assert.deepEqual(s.user.identities, []);
  assert.equal(s.user.is_anonymous, false);
  assert.equal(JSON.stringify(s).includes(PASSWORD), false);
  assert.equal('encrypted_password' in s.user, false);

  const claims = await api.deps.verifyToken(s.access_token);
  assert.equal(claims.sub, s.user.id);
  assert.equal(claims.email, email);
  assert.equal(claims.iss, 'bbb');
  assert.equal(claims.exp, s.expires_at);
  const raw = decodeJwt(s.access_token);
  assert.equal(raw.aal, 'aal1');
  assert.equal(raw.phone, '');
  assert.equal(raw.is_anonymous, false);
  assert.deepEqual(
    (raw.amr as Array<{ method: string }>).map((a) => a.method),
    ['password'],
  );
  assert.deepEqual(raw.user_metadata, { name: 'Ada' });

  const [row] = await api.db.sql`
    select email, encrypted_password, email_confirmed_at, raw_app_meta_data, aud, role
    from auth.users where id = ${s.user.id}`;
  assert.equal(row!.email, email);
  assert.match(row!.encrypted_password, /^\$2[aby]\$10\$/);
  assert.ok(await bcrypt.compare(PASSWORD, row!.encrypted_password));
  assert.ok(row!.email_confirmed_at);
  // Only the token's SHA-256 is stored, tied to the session named in the access token.
  const tokens = await api.db.sql`select token, session_id, revoked, parent from auth.refresh_tokens
                                  where user_id = ${s.user.id}`;
  assert.equal(tokens.length, 1);
  assert.equal(tokens[0]!.token, createHash('sha256').update(s.refresh_token).digest('hex'));
  assert.equal(tokens[0]!.session_id, raw.session_id);
  assert.equal(tokens[0]!.revoked, false);
  assert.equal(tokens[0]!.parent, null);
});

test('a second signup with the same email (any case) is refused with user_already_exists', async () => {
  const email = newEmail();
  assert.equal((await signUp(email)).status, 200);
  assertError(await signUp(email.toUpperCase(), 'another password'), 422, 'user_already_exists');
  const [{ n }] = (await api.db
    .sql`select count(*)::int as n from auth.users where lower(email) = ${email}`) as [{ n: number }];
  assert.equal(n, 1);
});

test('weak, over-long and missing passwords and bad emails are refused as GoTrue does', async () => {
  const weak = await signUp(newEmail(), 'short');
  assertError(weak, 422, 'weak_password');
  assert.deepEqual(weak.body.weak_password, { reasons: ['length'] });
  assertError(await signUp(newEmail(), 'x'.repeat(73)), 400, 'validation_failed');
  assertError(await auth(api, 'POST', '/signup', { email: newEmail() }), 400, 'validation_failed');
  const bad = await signUp('not-an-email');
  assertError(bad, 400, 'validation_failed');
  assert.match(bad.body.msg, /email/i);
  assertError(
    await auth(api, 'POST', '/signup', { phone: '+15555550100', password: PASSWORD }),
    400,
    'phone_provider_disabled',
  );
});

test('a wrong password and an unknown email get the same answer', async () => {
  const email = newEmail();
  await signUp(email);
  const wrong = await signIn(email, 'wrong password!');
  const unknown = await signIn(newEmail());
  assertError(wrong, 400, 'invalid_credentials');
  assert.deepEqual(wrong.body, unknown.body);
  assert.equal(wrong.body.msg, 'Invalid login credentials');
  // Users without a password (made by other means) cannot sign in with any password.
  const other = await api.user();
  assertError(await signIn(other.email, ''), 400, 'invalid_credentials');
  const ok = await signIn(email.toUpperCase());
  assert.equal(ok.status, 200);
  assert.equal(ok.body.user.email, email);
});

test('with X-Supabase-Api-Version 2024-01-01 errors carry the code as a string and echo the header', async () => {
  const res = await auth(
    api,
    'POST',
    '/token?grant_type=password',
    { email: newEmail(), password: 'nope nope' },
    {
      'x-supabase-api-version': '2024-01-01',
    },
  );
  assert.equal(res.status, 400);
  assert.deepEqual(res.body, { code: 'invalid_credentials', message: 'Invalid login credentials' });
  assert.equal(res.headers.get('x-supabase-api-version'), '2024-01-01');
});

test('refresh swaps the token; reusing a swapped one revokes the session, newest token included', async () => {
  const email = newEmail();
  const first = (await signUp(email)).body;
  const second = await refresh(first.refresh_token);
  assert.equal(second.status, 200, JSON.stringify(second.body));
  assert.notEqual(second.body.refresh_token, first.refresh_token);
  const sid = (t: string) => decodeJwt(t).session_id;
  assert.equal(sid(second.body.access_token), sid(first.access_token), 'same session');
  const [parent] = await api.db.sql`select parent from auth.refresh_tokens
    where token = ${createHash('sha256').update(second.body.refresh_token).digest('hex')}`;
  assert.equal(parent!.parent, createHash('sha256').update(first.refresh_token).digest('hex'));
  assert.equal((await auth(api, 'GET', '/user', undefined, bearer(second.body.access_token))).status, 200);

  assertError(await refresh(first.refresh_token), 400, 'refresh_token_already_used');
  assertError(await refresh(second.body.refresh_token), 400, 'refresh_token_already_used');
  assertError(
    await auth(api, 'GET', '/user', undefined, bearer(second.body.access_token)),
    403,
    'session_not_found',
  );
  // Other sessions of the same user are untouched.
  assert.equal((await refresh((await signIn(email)).body.refresh_token)).status, 200);
});

test('two refreshes with the same token at once: exactly one succeeds', async () => {
  const { refresh_token } = (await signUp(newEmail())).body;
  const results = await Promise.all([refresh(refresh_token), refresh(refresh_token)]);
  assert.deepEqual(results.map((r) => r.status).sort(), [200, 400]);
  assertError(results.find((r) => r.status === 400)!, 400, 'refresh_token_already_used');
});

test('unknown and malformed refresh tokens are refused', async () => {
  assertError(await refresh('a'.repeat(32)), 400, 'refresh_token_not_found');
  assertError(await refresh('short'), 400, 'validation_failed');
  assertError(await auth(api, 'POST', '/token?grant_type=refresh_token', {}), 400, 'validation_failed');
  assertError(await auth(api, 'POST', '/token?grant_type=magic', {}), 400, 'validation_failed');
});

test('GET /user returns the user for a valid token, and refuses missing or forged tokens', async () => {
  const s = (await signUp(newEmail())).body;
  const me = await auth(api, 'GET', '/user', undefined, bearer(s.access_token));
  assert.equal(me.status, 200);
  assert.deepEqual(me.body, s.user);
  assertError(await auth(api, 'GET', '/user'), 401, 'no_authorization');
  const [h, p] = s.access_token.split('.');
  assertError(await auth(api, 'GET', '/user', undefined, bearer(`${h}.${p}.AAAA`)), 403, 'bad_jwt');
});

test('logout ends sessions by scope; their refresh and access tokens stop working', async () => {
  const email = newEmail();
  const a = (await signUp(email)).body;
  const b = (await signIn(email)).body;
  const c = (await signIn(email)).body;

  const local = await auth(api, 'POST', '/logout?scope=local', undefined, bearer(a.access_token));
  assert.equal(local.status, 204);
  assertError(await refresh(a.refresh_token), 400, 'refresh_token_not_found');
  assertError(await auth(api, 'GET', '/user', undefined, bearer(a.access_token)), 403, 'session_not_found');
  assertError(
    await auth(api, 'POST', '/logout', undefined, bearer(a.access_token)),
    403,
    'session_not_found',
  );

  assert.equal(
    (await auth(api, 'POST', '/logout?scope=others', undefined, bearer(b.access_token))).status,
    204,
  );
  assertError(await refresh(c.refresh_token), 400, 'refresh_token_not_found');
  const bRefreshed = await refresh(b.refresh_token);
  assert.equal(bRefreshed.status, 200, 'others leaves this session');

  assert.equal(
    (await auth(api, 'POST', '/logout', undefined, bearer(bRefreshed.body.access_token))).status,
    204,
  );
  assertError(await refresh(bRefreshed.body.refresh_token), 400, 'refresh_token_not_found');
  const [{ n }] = (await api.db.sql`select count(*)::int as n from auth.sessions
    where user_id = ${a.user.id}`) as [{ n: number }];
  assert.equal(n, 0);
  assertError(
    await auth(api, 'POST', '/logout?scope=everything', undefined, bearer(a.access_token)),
    400,
    'validation_failed',
  );
});

test('every call needs the anon or service-role key, except the public key set', async () => {
  const none = await api.call('POST', '/auth/v1/token?grant_type=password', {
    email: 'a@b.co',
    password: 'x',
  });
  assertError(none, 401, 'no_api_key');
  const forged = await api.call('GET', '/auth/v1/settings', undefined, { apikey: `${keys.anon}x` });
  assertError(forged, 401, 'invalid_api_key');
  // A user's access token is not an API key.
  const s = (await signUp(newEmail())).body;
  assertError(
    await api.call('GET', '/auth/v1/settings', undefined, { apikey: s.access_token }),
    401,
    'invalid_api_key',
  );

  const byQuery = await api.call('GET', `/auth/v1/settings?apikey=${keys.anon}`);
  assert.equal(byQuery.status, 200);
  assert.equal(byQuery.body.external.email, true);
  assert.equal(byQuery.body.mailer_autoconfirm, true);
  const service = await api.call('GET', '/auth/v1/settings', undefined, { apikey: keys.serviceRole });
  assert.equal(service.status, 200);
  const jwks = await api.call('GET', '/auth/v1/.well-known/jwks.json');
  assert.equal(jwks.status, 200);
  assert.deepEqual(jwks.body, { keys: [] });
});

test('malformed JSON, non-JSON bodies and wrong types get clear 400s', async () => {
  const broken = await auth(api, 'POST', '/signup', '{"email": "a@b.co", ', {
    'content-type': 'application/json',
  });
  assertError(broken, 400, 'bad_json');
  const notJson = await auth(api, 'POST', '/signup', 'email=a@b.co', {
    'content-type': 'application/x-www-form-urlencoded',
  });
  assert.equal(notJson.status, 415);
  assert.equal(notJson.body.error_code, 'validation_failed');
  const wrongType = await auth(api, 'POST', '/signup', { email: 42, password: PASSWORD });
  assertError(wrongType, 400, 'validation_failed');
  assert.match(wrongType.body.msg, /^email: /);
  const badData = await auth(api, 'POST', '/signup', { email: newEmail(), password: PASSWORD, data: 'x' });
  assertError(badData, 400, 'validation_failed');
});

test('password grants are limited per address and per email; the window reopens as time passes', async () => {
  let now = Date.now();
  const limited = await apiFixture({ loginRateLimit: 3, now: () => now });
  const from = (address: string, email: string) =>
    limited.app.request(
      '/auth/v1/token?grant_type=password',
      {
        method: 'POST',
        headers: { apikey: keys.anon, 'content-type': 'application/json' },
        body: JSON.stringify({ email, password: 'wrong password' }),
      },
      { incoming: { socket: { remoteAddress: address } } },
    );

  // One address, many emails.
  for (let i = 0; i < 3; i++) assert.equal((await signIn(`x${i}@example.test`, 'nope', limited)).status, 400);
  const over = await signIn('x9@example.test', 'nope', limited);
  assertError(over, 429, 'over_request_rate_limit');
  assert.ok(Number(over.headers.get('retry-after')) > 0);

  // One email, many addresses.
  const target = 'target@example.test';
  for (let i = 0; i < 3; i++) assert.equal((await from(`10.0.0.${i}`, target)).status, 400);
  const blocked = await from('10.0.0.9', target);
  assert.equal(blocked.status, 429);
  assert.equal(((await blocked.json()) as { error_code: string }).error_code, 'over_request_rate_limit');
  assert.equal((await from('10.0.0.9', 'someone-else@example.test')).status, 400, 'other emails still work');

  now += 5 * 60 * 1000;
  assertError(await signIn('x9@example.test', 'nope', limited), 400, 'invalid_credentials');
  assert.equal((await from('10.0.0.10', target)).status, 400);
});

test('signups and refreshes count against the address too', async () => {
  let now = Date.now();
  const limited = await apiFixture({ loginRateLimit: 2, now: () => now });
  const signup = () =>
    auth(limited, 'POST', '/signup', { email: `s${++counter}@example.test`, password: PASSWORD });
  const first = await signup();
  assert.equal(first.status, 200);
  assert.equal((await signup()).status, 200);
  assertError(await signup(), 429, 'over_request_rate_limit');
  const refreshOnce = () =>
    auth(limited, 'POST', '/token?grant_type=refresh_token', { refresh_token: first.body.refresh_token });
  assert.equal((await refreshOnce()).status, 200);
  assert.equal((await refreshOnce()).status, 400, 'second use is a reuse');
  assertError(await refreshOnce(), 429, 'over_request_rate_limit');
  now += 5 * 60 * 1000;
  assert.equal((await signup()).status, 200);
});

test('behind a trusted proxy the limit follows X-Forwarded-For; without one the header is ignored', async () => {
  const viaProxy = await apiFixture({ loginRateLimit: 1, trustProxyHops: 1 });
  const signUpFrom = (fixture: ApiFixture, forwardedFor: string) =>
    auth(
      fixture,
      'POST',
      '/signup',
      { email: `p${++counter}@example.test`, password: PASSWORD },
      { 'x-forwarded-for': forwardedFor },
    );
  // The proxy appends the real client; what the client wrote before it is not trusted.
  assert.equal((await signUpFrom(viaProxy, '198.51.100.1')).status, 200);
  assert.equal((await signUpFrom(viaProxy, '198.51.100.2')).status, 200);
  assertError(await signUpFrom(viaProxy, 'spoofed, 198.51.100.2'), 429, 'over_request_rate_limit');

  const direct = await apiFixture({ loginRateLimit: 1 });
  assert.equal((await signUpFrom(direct, '198.51.100.1')).status, 200);
  assertError(await signUpFrom(direct, '198.51.100.2'), 429, 'over_request_rate_limit');
});

test('the auth endpoints appear in the OpenAPI document', async () => {
  const doc = (await api.call('GET', '/v1/openapi.json')).body;
  assert.ok(doc.paths['/auth/v1/token']?.post);
  assert.ok(doc.paths['/auth/v1/signup']?.post);
  assert.ok(doc.components.securitySchemes.apikey);
});
