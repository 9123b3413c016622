// Unmodified supabase-js against `bbb serve`'s auth server on a real socket: what a web app would do.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, test } from 'node:test';
import { createClient, type Session } from '@supabase/supabase-js';
import { startApiServer } from '../../src/api/server.ts';
import { apiKeys } from '../../src/auth/jwt.ts';
import { apiFixture, TEST_JWT_SECRET } from '../support/api.ts';

const api = await apiFixture();
const server = await startApiServer(api.deps, { host: '127.0.0.1', port: 0 });
after(() => server.close());
const { anon } = await apiKeys(TEST_JWT_SECRET);
// Node 20 has no global WebSocket, and supabase-js builds its realtime client up front (ws has no types).
const WebSocket = createRequire(import.meta.url)('ws');
const options = {
  auth: { persistSession: false, autoRefreshToken: false },
  realtime: { transport: WebSocket },
};
const supabase = createClient(server.url, anon, options);
// A second client that only presents refresh tokens it is given.
const other = createClient(server.url, anon, options);
// No channel was opened, so there is no realtime socket to close (removeAllChannels() would wait 10 s on
// realtime-js's disconnect timer for nothing).
after(async () => {
  await supabase.auth.stopAutoRefresh();
  await other.auth.stopAutoRefresh();
});

const email = `js-${Date.now()}@example.test`;
const password = 'a long enough password';

test('supabase-js: sign up, sign in, refresh, get the user, call the API, sign out', async () => {
  const signedUp = await supabase.auth.signUp({ email, password, options: { data: { plan: 'free' } } });
  assert.equal(signedUp.error, null);
  assert.equal(signedUp.data.user?.email, email);
  assert.deepEqual(signedUp.data.user?.user_metadata, { plan: 'free' });
  const first = signedUp.data.session!;
  assert.ok(first.access_token && first.refresh_token);

  const signedIn = await supabase.auth.signInWithPassword({ email, password });
  assert.equal(signedIn.error, null);
  const s1: Session = signedIn.data.session!;
  assert.equal(signedIn.data.user?.id, signedUp.data.user?.id);
  assert.ok(s1.expires_at! > Date.now() / 1000);

  const refreshed = await supabase.auth.refreshSession();
  assert.equal(refreshed.error, null);
  const s2 = refreshed.data.session!;
  assert.notEqual(s2.refresh_token, s1.refresh_token, 'a new refresh token');
  assert.equal((await supabase.auth.getSession()).data.session?.refresh_token, s2.refresh_token);

  const got = await supabase.auth.getUser();
  assert.equal(got.error, null);
  assert.equal(got.data.user?.id, signedIn.data.user?.id);
  assert.equal(got.data.user?.email, email);

  // The product API accepts the access token the auth server issued.
  const jobs = await fetch(`${server.url}/v1/jobs`, {
    headers: { authorization: `Bearer ${s2.access_token}` },
  });
  assert.equal(jobs.status, 200, await jobs.clone().text());
  await jobs.body?.cancel();

  // A refresh token works once: presenting the signup session's token twice is refused the second time.
  const once = await other.auth.refreshSession({ refresh_token: first.refresh_token });
  assert.equal(once.error, null);
  assert.notEqual(once.data.session?.refresh_token, first.refresh_token);
  const twice = await other.auth.refreshSession({ refresh_token: first.refresh_token });
  assert.equal(twice.error?.name, 'AuthApiError');
  assert.equal(twice.error?.status, 400);
  assert.equal(twice.error?.code, 'refresh_token_already_used');

  const out = await supabase.auth.signOut();
  assert.equal(out.error, null);
  assert.equal((await supabase.auth.getSession()).data.session, null);
  for (const token of [s2.refresh_token, s1.refresh_token]) {
    const after = await other.auth.refreshSession({ refresh_token: token });
    assert.equal(after.data.session, null);
    assert.equal(after.error?.status, 400);
    assert.match(String(after.error?.code), /^refresh_token_(not_found|already_used)$/);
  }
  assert.equal(
    (await other.auth.refreshSession({ refresh_token: s2.refresh_token })).error?.code,
    'refresh_token_not_found',
    'signOut deleted the session the newest token belonged to',
  );
  // The product API stops accepting the signed-out session's access token too, long before it expires.
  const afterLogout = await fetch(`${server.url}/v1/jobs`, {
    headers: { authorization: `Bearer ${s2.access_token}` },
  });
  assert.equal(afterLogout.status, 401);
  assert.equal(((await afterLogout.json()) as { error: { code: string } }).error.code, 'invalid_token');
  const stale = await other.auth.getUser(s2.access_token);
  assert.equal(stale.data.user, null);
  assert.equal(
    stale.error?.name,
    'AuthSessionMissingError',
    'session_not_found is read as a signed-out session',
  );
});

test('supabase-js reads our error codes: wrong password, taken email, weak password', async () => {
  const wrong = await other.auth.signInWithPassword({ email, password: 'not the password' });
  assert.equal(wrong.error?.code, 'invalid_credentials');
  assert.equal(wrong.error?.message, 'Invalid login credentials');
  assert.equal(wrong.error?.status, 400);

  const taken = await other.auth.signUp({ email, password });
  assert.equal(taken.error?.code, 'user_already_exists');
  assert.equal(taken.error?.status, 422);

  const weak = await other.auth.signUp({ email: `weak-${email}`, password: 'short' });
  assert.equal(weak.error?.name, 'AuthWeakPasswordError');
  assert.equal(weak.error?.code, 'weak_password');
  assert.deepEqual((weak.error as unknown as { reasons: string[] }).reasons, ['length']);

  const common = await other.auth.signUp({ email: `common-${email}`, password: 'password123' });
  assert.equal(common.error?.name, 'AuthWeakPasswordError');
  assert.equal(common.error?.status, 422);
  assert.deepEqual((common.error as unknown as { reasons: string[] }).reasons, ['pwned']);
  assert.equal(common.data.user, null);
});
