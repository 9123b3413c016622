// Expiry and restarts through the official supabase-js, on a PostgreSQL of this file's own: a token that expires
// ends the channel as Supabase does ("Token has expired…", then closed) and nothing is sent after; after the
// server restarts (a new HTTP server, endpoint and change source on the same port) and after PostgreSQL
// restarts, the client rejoins by itself and changes flow again.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect } from '../../src/db/client.ts';
import { insertJob, startJob } from '../../src/queue/jobs.ts';
import { type PrivatePostgres, startPrivatePostgres } from '../support/private-postgres.ts';
import type { Watch } from './e2e-client.ts';
import { type LiveUser, liveStack } from './e2e-fixture.ts';
import { jobBindings } from './endpoint-fixture.ts';

/** Rejoining waits for realtime-js's backoff (1 s, 2 s, 5 s…) and, after PostgreSQL restarts, a new slot. */
const REJOIN_MS = 30_000;

let pg: PrivatePostgres | undefined;
const stack = await liveStack({
  async open() {
    pg = await startPrivatePostgres();
    const sql = connect(pg.url, { max: 10 });
    return { sql, url: pg.url, close: () => sql.end({ timeout: 5 }) };
  },
});

async function watchedJob(name: string): Promise<{ user: LiveUser; jobId: string; watch: Watch }> {
  const user = await stack.user();
  const organisationId = await stack.org([[user, 'owner']]);
  const jobId = (await insertJob(stack.sql, { organisationId, rootUrl: `https://${name}.example/` })).id;
  const client = await stack.client({ token: user.token });
  return { user, jobId, watch: await client.watch(name, jobBindings(jobId)) };
}

let pages = 0;
/** A task of the job is added; resolves with its id once `watch` has received it. */
async function flows(watch: Watch, jobId: string, timeoutMs?: number): Promise<number> {
  const [row] = await stack.sql<{ id: number }[]>`
    insert into tasks (job_id, url, source) values (${jobId}, ${`https://flows.example/${++pages}`}, 'link')
    returning id`;
  await watch.changes.until(`task ${row!.id}`, (items) => items.some((c) => c.new.id === row!.id), timeoutMs);
  return row!.id;
}

test('a token that expires ends the channel as Supabase does, and nothing more is sent on it', async () => {
  const user = await stack.user();
  const organisationId = await stack.org([[user, 'owner']]);
  const jobId = (await insertJob(stack.sql, { organisationId, rootUrl: 'https://expiry.example/' })).id;
  const control = await (await stack.client({ token: user.token })).watch('job-updates', jobBindings(jobId));
  // Long enough to join and see a change first, even on a busy machine.
  const shortLived = await stack.client({ token: await user.sign(4) });
  const expiring = await shortLived.watch('job-updates', jobBindings(jobId));
  await flows(expiring, jobId);

  const expired = await expiring.system.until('the expiry', (items) =>
    items.find((s) => s.status === 'error'),
  );
  assert.equal(expired.extension, 'system');
  assert.equal(expired.channel, 'job-updates');
  assert.match(expired.message, /^Token has expired \d+ seconds ago$/);
  await expiring.statuses.until('the channel to close', (items) => items.includes('CLOSED'));
  const before = shortLived.changeFrames().length;

  await startJob(stack.sql, jobId);
  const after = await flows(control, jobId);
  await shortLived.flush();
  assert.equal(shortLived.changeFrames().length, before, 'no change frame after the expiry');
  assert.ok(!expiring.changes.items.some((c) => c.new.id === after || c.new.status === 'running'));
  const close = shortLived.frames.items.find(
    (f) => f.event === 'phx_close' && f.topic === 'realtime:job-updates',
  );
  assert.ok(close, 'the channel was closed by the server');
  assert.deepEqual(stack.problems, []);
});

test('after the server restarts, the client reconnects and rejoins by itself, and changes flow again', async () => {
  const { jobId, watch } = await watchedJob('server-restart');
  await flows(watch, jobId);

  await stack.restart();
  await watch.subscribed(2);
  assert.deepEqual(watch.statuses.items, ['SUBSCRIBED', 'CHANNEL_ERROR', 'SUBSCRIBED']);
  await flows(watch, jobId, REJOIN_MS);
  assert.deepEqual(stack.problems, []);
});

test('after PostgreSQL restarts, the client is told, rejoins, and changes flow again', async () => {
  const { jobId, watch } = await watchedJob('pg-restart');
  const first = await flows(watch, jobId);

  await pg!.restart();
  const lost = await watch.system.until('the interruption', (items) =>
    items.find((s) => s.status === 'error'),
  );
  assert.deepEqual(lost, {
    extension: 'postgres_changes',
    status: 'error',
    message: 'the PostgreSQL change stream was interrupted; rejoin to resume',
    channel: 'pg-restart',
  });
  await watch.subscribed(2);
  assert.deepEqual(watch.statuses.items.slice(0, 2), ['SUBSCRIBED', 'CHANNEL_ERROR']);
  assert.equal(watch.statuses.items.at(-1), 'SUBSCRIBED');
  const second = await flows(watch, jobId, REJOIN_MS);
  assert.deepEqual(
    watch.changes.items.filter((c) => c.table === 'tasks').map((c) => c.new.id),
    [first, second],
  );
  // Only the stream's loss was worth a warning.
  assert.ok(stack.problems.length > 0);
  assert.ok(
    stack.problems.every((p) => /change stream (lost|failed)/.test(p)),
    stack.problems.join('\n'),
  );
});
