import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { apiKeys } from '../../src/auth/jwt.ts';
import { isAlive } from '../../src/db/embedded-pidfile.ts';
import { tempDir } from '../support/tmp.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`bbb serve starts the embedded database, migrates, and stops cleanly on ${signal}`, async () => {
    const dataDir = tempDir();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      BBB_DATA_DIR: dataDir,
      BBB_PG_FSYNC: 'false',
      PORT: '0',
    };
    delete env.DATABASE_URL;
    const child = spawn(process.execPath, [path.join(root, 'bin/bbb.js'), 'serve'], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (stderr.includes('bbb is running')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`serve exited early (${code}):\n${stderr}`)));
    });
    assert.match(stderr, /migrations: \d+ applied/);
    assert.doesNotMatch(
      stderr,
      new RegExp(readFileSync(path.join(dataDir, 'pg-password'), 'utf8').trim()),
      'password never logged',
    );
    // The API on a real socket: readiness reaches the database, the JWT secret was made and never logged.
    const url = /API listening on (http:\/\/\S+) /.exec(stderr)?.[1];
    assert.ok(url, stderr);
    const ready = await fetch(`${url}/health/ready`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: 'ready' });
    const unauthorised = await fetch(`${url}/v1/jobs`);
    assert.equal(unauthorised.status, 401);
    assert.equal(((await unauthorised.json()) as { error: { code: string } }).error.code, 'unauthorized');
    const secret = readFileSync(path.join(dataDir, 'jwt-secret'), 'utf8').trim();
    assert.ok(secret.length >= 32);
    assert.doesNotMatch(stderr, new RegExp(secret), 'JWT secret never logged');
    // Realtime on the same port: logged, and a client with the anon key gets its heartbeat answered.
    const realtimeUrl = /realtime at (ws:\/\/\S+\/realtime\/v1\/websocket)/.exec(stderr)?.[1];
    assert.equal(realtimeUrl, `${url.replace(/^http/, 'ws')}/realtime/v1/websocket`);
    const { anon } = await apiKeys(secret);
    const socket = new WebSocket(`${realtimeUrl}?apikey=${anon}&vsn=2.0.0`);
    const replied = new Promise<unknown>((resolve, reject) => {
      socket.once('message', (data) => resolve(JSON.parse(String(data))));
      socket.once('error', reject);
    });
    socket.once('open', () => socket.send(JSON.stringify([null, '1', 'phoenix', 'heartbeat', {}])));
    assert.deepEqual(await replied, [null, '1', 'phoenix', 'phx_reply', { status: 'ok', response: {} }]);
    socket.close();
    const pidFile = path.join(dataDir, 'pg', 'postmaster.pid');
    const postmaster = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    assert.ok(isAlive(postmaster));

    child.kill(signal);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 0, stderr);
    assert.match(stderr, new RegExp(`${signal} received, shutting down`));
    assert.equal(existsSync(pidFile), false, 'postgres removed its pid file: a clean shutdown');
    assert.equal(isAlive(postmaster), false);
  });
}

test('bbb with a bad setting exits 2 and says what to do', async () => {
  const child = spawn(process.execPath, [path.join(root, 'bin/bbb.js'), 'migrate'], {
    env: { ...process.env, DATABASE_URL: 'mysql://nope' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 2);
  assert.match(stderr, /DATABASE_URL: DATABASE_URL must start with postgres:\/\/ or postgresql:\/\//);
});
