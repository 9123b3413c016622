import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { decodeJwt } from 'jose';
import { verifyApiKey } from '../../src/auth/jwt.ts';
import { tempDir } from '../support/tmp.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

function bbb(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [path.join(root, 'bin/bbb.js'), ...args], {
    env: { ...process.env, BBB_JWT_SECRET: '', BBB_JWT_ISSUER: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

test('bbb keys prints the anon and service-role keys made from the data directory’s secret', async () => {
  const dataDir = tempDir();
  const first = await bbb(['keys'], { BBB_DATA_DIR: dataDir });
  assert.equal(first.code, 0, first.stderr);
  const lines = Object.fromEntries(
    first.stdout
      .trim()
      .split('\n')
      .map((l) => l.split('=', 2) as [string, string]),
  );
  assert.deepEqual(Object.keys(lines), ['SUPABASE_ANON_KEY', 'SUPABASE_SERVICE_ROLE_KEY']);
  const secret = readFileSync(path.join(dataDir, 'jwt-secret'), 'utf8').trim();
  assert.equal(await verifyApiKey(secret, lines.SUPABASE_ANON_KEY!), 'anon');
  assert.equal(await verifyApiKey(secret, lines.SUPABASE_SERVICE_ROLE_KEY!), 'service_role');
  assert.doesNotMatch(first.stdout + first.stderr, new RegExp(secret), 'the secret itself is never printed');

  // Same secret on the next run; --json for scripts; the configured issuer goes into the keys.
  const json = await bbb(['keys', '--json'], {
    BBB_DATA_DIR: dataDir,
    BBB_JWT_ISSUER: 'https://bbb.example',
  });
  assert.equal(json.code, 0, json.stderr);
  const parsed = JSON.parse(json.stdout) as { anon_key: string; service_role_key: string };
  assert.equal(await verifyApiKey(secret, parsed.anon_key), 'anon');
  assert.equal(decodeJwt(parsed.service_role_key).iss, 'https://bbb.example');
});

test('bbb keys with a bad setting exits 2 and says what to fix', async () => {
  const res = await bbb(['keys'], { BBB_DATA_DIR: tempDir(), BBB_JWT_SECRET: 'too-short' });
  assert.equal(res.code, 2);
  assert.match(res.stderr, /BBB_JWT_SECRET must be at least 32 characters/);
  assert.equal(res.stdout, '');
});
