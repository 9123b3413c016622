import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import bcrypt from 'bcryptjs';
import { decodeJwt } from 'jose';
import { MAX_METADATA_BYTES, MAX_METADATA_DEPTH } from '../../src/auth/gotrue/metadata.ts';
import { apiKeys } from '../../src/auth/jwt.ts';
import { LOGIN_DELAY } from '../../src/auth/login-delay.ts';
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

/** Password grants from a given socket address, on a fixture whose clock the test moves. */
function grantsFrom(fixture: ApiFixture) {
  return async (address: string, email: string, password = 'wrong password') => {
    const res = await fixture.app.request(
      '/auth/v1/token?grant_type=password',
      {
        method: 'POST',
        headers: { apikey: keys.anon, 'content-type': 'application/json' },
        body: JSON.stringify({ email, password }),
      },
      { incoming: { socket: { remoteAddress: address } } },
    );
    const body = (await res.json()) as { error_code?: string; access_token?: string };
    return { status: res.status, body, retryAfter: Number(res.headers.get('retry-after') ?? 0) };
  };
}

test('a sign-up body nested 200,000 levels deep is a 400 in GoTrue’s shape, not a 500', async () => {
  const roomy = await apiFixture({ bodyLimitBytes: 1024 * 1024 });
  const deep = 200_000;
  const body = `{"email":"${newEmail()}","password":"${PASSWORD}","data":{"a":${'['.repeat(deep)}${']'.repeat(deep)}}}`;
  const res = await auth(roomy, 'POST', '/signup', body, { 'content-type': 'application/json' });
  assertError(res, 400, 'validation_failed');
  assert.match(res.body.msg, /nested too deeply/);
  // Brackets inside strings are text, not nesting.
  const brackets = await signUp(newEmail(), PASSWORD, { note: '[[[[[[[[[[[[{{{{{{{{{{{{' });
  assert.equal(brackets.status, 200, JSON.stringify(brackets.body));
  assertError(
    await auth(roomy, 'POST', '/token?grant_type=password', `{"email":${'['.repeat(50)}${']'.repeat(50)}}`, {
      'content-type': 'application/json',
    }),
    400,
    'validation_failed',
  );
  const [{ n }] = (await roomy.db.sql`select count(*)::int as n from auth.users`) as [{ n: number }];
  assert.equal(n, 0, 'nothing was stored');
});

test('sign-up data is bounded: 8 levels deep and 4 KiB at most', async () => {
  const nest = (levels: number): Record<string, unknown> =>
    levels === 1 ? { leaf: true } : { next: nest(levels - 1) };
  const eight = await signUp(newEmail(), PASSWORD, nest(MAX_METADATA_DEPTH));
  assert.equal(eight.status, 200, JSON.stringify(eight.body));
  assert.deepEqual(eight.body.user.user_metadata, nest(MAX_METADATA_DEPTH));
  // Nine levels of data: the body itself then nests ten deep.
  assertError(await signUp(newEmail(), PASSWORD, nest(MAX_METADATA_DEPTH + 1)), 400, 'validation_failed');
  const fits = await signUp(newEmail(), PASSWORD, { bio: 'x'.repeat(MAX_METADATA_BYTES - 20) });
  assert.equal(fits.status, 200, JSON.stringify(fits.body));
  const big = await signUp(newEmail(), PASSWORD, { bio: 'x'.repeat(MAX_METADATA_BYTES) });
  assertError(big, 400, 'validation_failed');
  assert.match(big.body.msg, /4096 bytes/);
});

test('the most common passwords are refused as GoTrue refuses pwned ones, whatever their case', async () => {
  for (const password of ['password123', 'Password123', 'QWERTYUIOP', 'iloveyou1']) {
    const res = await signUp(newEmail(), password);
    assertError(res, 422, 'weak_password');
    assert.deepEqual(res.body.weak_password, { reasons: ['pwned'] }, password);
    assert.match(res.body.msg, /known to be weak/);
  }
  const dated = await auth(
    api,
    'POST',
    '/signup',
    { email: newEmail(), password: 'password123' },
    { 'x-supabase-api-version': '2024-01-01' },
  );
  assert.equal(dated.status, 422);
  assert.equal(dated.body.code, 'weak_password');
  assert.deepEqual(dated.body.weak_password, { reasons: ['pwned'] });
  assert.equal((await signUp(newEmail(), 'password123 but longer')).status, 200, 'only exact matches');
});

test('password grants are limited per address across emails; the window reopens as time passes', async () => {
  let now = Date.now();
  const limited = await apiFixture({ loginRateLimit: 3, now: () => now });
  const from = grantsFrom(limited);
  for (let i = 0; i < 3; i++) assert.equal((await from('10.0.0.1', `x${i}@example.test`)).status, 400);
  const over = await from('10.0.0.1', 'x9@example.test');
  assert.equal(over.status, 429);
  assert.equal(over.body.error_code, 'over_request_rate_limit');
  assert.ok(over.retryAfter > 0 && over.retryAfter <= 300, String(over.retryAfter));
  assert.equal((await from('10.0.0.2', 'x9@example.test')).status, 400, 'other addresses are not limited');
  now += 5 * 60 * 1000;
  assert.equal((await from('10.0.0.1', 'x9@example.test')).body.error_code, 'invalid_credentials');
});

test('wrong passwords from one address never lock the owner out from another', async () => {
  const limited = await apiFixture({ loginRateLimit: 5 });
  const from = grantsFrom(limited);
  const email = newEmail();
  assert.equal((await auth(limited, 'POST', '/signup', { email, password: PASSWORD })).status, 200);
  for (let i = 0; i < 5; i++) assert.equal((await from('203.0.113.66', email)).status, 400);
  const attacker = await from('203.0.113.66', email);
  assert.equal(attacker.status, 429);
  const owner = await from('198.51.100.20', email, PASSWORD);
  assert.equal(owner.status, 200, JSON.stringify(owner.body));
  assert.ok(owner.body.access_token);
});

test('failures for one email from one address make that pair wait longer each time; success clears it', async () => {
  let now = Date.now();
  const limited = await apiFixture({ now: () => now });
  const from = grantsFrom(limited);
  const email = newEmail();
  assert.equal((await auth(limited, 'POST', '/signup', { email, password: PASSWORD })).status, 200);
  const free = LOGIN_DELAY.freeAttempts;
  for (let i = 0; i < free; i++)
    assert.equal((await from('10.1.1.1', email)).status, 400, `attempt ${i + 1}`);
  // The wait doubles with every failure past the free ones; attempts during a wait do not count.
  for (const seconds of [1, 2, 4]) {
    const early = await from('10.1.1.1', email);
    assert.equal(early.status, 429);
    assert.equal(early.body.error_code, 'over_request_rate_limit');
    assert.equal(early.retryAfter, seconds);
    assert.equal((await from('10.1.1.1', email, PASSWORD)).status, 429, 'even the right password waits');
    now += seconds * 1000 - 1;
    assert.equal((await from('10.1.1.1', email)).status, 429, 'not a millisecond early');
    now += 1;
    assert.equal((await from('10.1.1.1', email)).body.error_code, 'invalid_credentials');
  }
  assert.equal((await from('10.1.1.1', email)).retryAfter, 8);
  assert.equal((await from('10.1.1.2', email)).status, 400, 'another address tries at once');
  assert.equal((await from('10.1.1.1', newEmail())).status, 400, 'another email from the same address too');

  now += 8000;
  assert.equal((await from('10.1.1.1', email, PASSWORD)).status, 200);
  for (let i = 0; i < free; i++) assert.equal((await from('10.1.1.1', email)).status, 400, 'counting anew');
  assert.equal((await from('10.1.1.1', email)).status, 429);
});

test('the per-address limit counts an IPv6 /64 as one client, and IPv4-mapped addresses as IPv4', async () => {
  const limited = await apiFixture({ loginRateLimit: 2 });
  const from = grantsFrom(limited);
  assert.equal((await from('2001:db8:1:2::1', 'a@example.test')).status, 400);
  assert.equal((await from('2001:db8:1:2:ffff:ffff:ffff:9', 'b@example.test')).status, 400);
  assert.equal((await from('2001:db8:1:2::abcd', 'c@example.test')).status, 429, 'same /64');
  assert.equal((await from('2001:db8:1:3::1', 'c@example.test')).status, 400, 'the next /64');

  assert.equal((await from('198.51.100.7', 'a@example.test')).status, 400);
  assert.equal((await from('::ffff:198.51.100.7', 'b@example.test')).status, 400);
  assert.equal(
    (await from('198.51.100.7', 'c@example.test')).status,
    429,
    'the mapped form is the same client',
  );
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
