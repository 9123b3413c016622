// With BBB_JWKS_URL set, Supabase Auth issues the tokens and owns auth.users: the built-in /auth/v1, whose
// sign-up is open, stays off unless BBB_AUTH_SERVER=true asks for it, and `bbb serve` says which it is.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { runBbb } from '../e2e/bbb-process.ts';
import { testDatabase } from '../support/db.ts';
import { tempDir } from '../support/tmp.ts';

const JWKS = 'https://project.supabase.test/auth/v1/.well-known/jwks.json';

test('BBB_AUTH_SERVER defaults to off when BBB_JWKS_URL is set; an explicit value wins either way', () => {
  assert.equal(loadConfig({}, {}).authServer, true);
  assert.equal(loadConfig({}, { BBB_JWKS_URL: JWKS }).authServer, false);
  assert.equal(loadConfig({}, { BBB_JWKS_URL: JWKS, BBB_AUTH_SERVER: 'true' }).authServer, true);
  assert.equal(loadConfig({}, { BBB_AUTH_SERVER: 'false' }).authServer, false);
  assert.throws(() => loadConfig({}, { BBB_AUTH_SERVER: 'maybe' }), /BBB_AUTH_SERVER: use true or false/);
});

test('BBB_SESSION_MAX_AGE: 30 days by default, in seconds, at least 5 minutes', () => {
  assert.equal(loadConfig({}, {}).sessionMaxAgeSeconds, 30 * 24 * 3600);
  assert.equal(loadConfig({}, { BBB_SESSION_MAX_AGE: '86400' }).sessionMaxAgeSeconds, 86400);
  assert.throws(
    () => loadConfig({}, { BBB_SESSION_MAX_AGE: '10' }),
    (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /BBB_SESSION_MAX_AGE/);
      return true;
    },
  );
});

const db = await testDatabase();

/** `bbb serve` against this file's database; resolves once it is running, with its URL and log so far. */
async function serve(env: Record<string, string | undefined>) {
  const run = runBbb(['serve'], {
    DATABASE_URL: db.url,
    BBB_DATA_DIR: tempDir(),
    BBB_WORKER_CONCURRENCY: '1',
    PORT: '0',
    BBB_JWT_SECRET: undefined,
    BBB_AUTH_SERVER: undefined,
    ...env,
  });
  let log = '';
  run.child.stderr!.on('data', (c: Buffer) => {
    log += c.toString();
  });
  await run.waitForStderr(/bbb is running/);
  const url = /API listening on (http:\/\/\S+) /.exec(log)?.[1];
  assert.ok(url, log);
  return { url, log, run };
}

async function stop(run: ReturnType<typeof runBbb>) {
  run.child.kill('SIGTERM');
  const result = await run.done;
  assert.equal(result.code, 0, result.stderr);
}

test('bbb serve with BBB_JWKS_URL serves no sign-up and says so at start-up', async () => {
  const { url, log, run } = await serve({ BBB_JWKS_URL: JWKS });
  try {
    assert.match(log, /auth server off, no \/auth\/v1 \(BBB_JWKS_URL is set: Supabase Auth owns sign-up\)/);
    assert.doesNotMatch(log, /auth server at/);
    const signup = await fetch(`${url}/auth/v1/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'intruder@example.test', password: 'a long password here' }),
    });
    assert.equal(signup.status, 404);
    await signup.body?.cancel();
    const [{ n }] = (await db.sql`select count(*)::int as n from auth.users`) as [{ n: number }];
    assert.equal(n, 0);
  } finally {
    await stop(run);
  }
});

test('bbb serve with BBB_JWKS_URL and BBB_AUTH_SERVER=true serves /auth/v1 as asked', async () => {
  const { url, log, run } = await serve({ BBB_JWKS_URL: JWKS, BBB_AUTH_SERVER: 'true' });
  try {
    assert.match(log, /auth server at http:\/\/\S+\/auth\/v1/);
    const settings = await fetch(`${url}/auth/v1/settings`);
    assert.equal(settings.status, 401, 'the route exists and asks for the API key');
    assert.equal(((await settings.json()) as { error_code: string }).error_code, 'no_api_key');
  } finally {
    await stop(run);
  }
});
