// The official client against the endpoint: @supabase/supabase-js (its realtime transport the `ws` WebSocket,
// as Node 20 has none) subscribes with the design document's two snippets and is told SUBSCRIBED and
// "Subscribed to PostgreSQL". Everything behind it is real: the change source on this file's database, the hub
// checking RLS, and a signed-in member's token; the first changes of the job then arrive through it.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { createClient, type RealtimePostgresChangesPayload } from '@supabase/supabase-js';
import WebSocket from 'ws';
import { apiKeys, createTokenVerifier, signHs256 } from '../../src/auth/jwt.ts';
import { startJob } from '../../src/queue/jobs.ts';
import { enqueueUrls } from '../../src/queue/tasks.ts';
import { loadCatalog } from '../../src/realtime/catalog.ts';
import { startChangeSource } from '../../src/realtime/change-source.ts';
import { createHub } from '../../src/realtime/hub.ts';
import { attachRealtime } from '../../src/realtime/server.ts';
import { TEST_JWT_SECRET } from '../support/api.ts';
import { testDatabase } from '../support/db.ts';
import { makeJob } from '../support/jobs.ts';
import { createOrg, createUser } from '../support/tenants.ts';
import { waitFor } from '../support/wait.ts';

const DEADLINE_MS = 15_000;

const db = await testDatabase();

test('supabase-js subscribes with the design document’s snippets and receives the job’s changes', async () => {
  // Undone last first: the client, then the endpoint, the source and the hub.
  const cleanups: Array<() => unknown> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  const problems: string[] = [];
  const quiet = {
    debug() {},
    info() {},
    warn: (m: string) => problems.push(m),
    error: (m: string) => problems.push(m),
  };
  const catalog = await loadCatalog(db.sql);
  const hub = createHub({ sql: db.sql, tables: catalog.tables, log: quiet });
  const source = startChangeSource({ url: db.url, log: quiet });
  source.on('transaction', hub.handle);
  cleanups.push(
    () => hub.stop(),
    () => source.stop(),
  );
  const server = createServer((_req, res) => res.writeHead(404).end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const realtime = attachRealtime(server, {
    sql: db.sql,
    verifyToken: createTokenVerifier({ secret: TEST_JWT_SECRET }),
    jwtSecret: TEST_JWT_SECRET,
    tables: catalog.tables,
    hub,
    source,
  });
  cleanups.push(
    () => new Promise<void>((resolve) => server.close(() => resolve())),
    () => realtime.stop(),
  );

  const owner = await createUser(db.sql);
  const organisationId = await createOrg(db.sql, 'Live org', [[owner, 'owner']]);
  const jobId = await makeJob(db.sql, { organisationId, start: false });
  const token = await signHs256(
    TEST_JWT_SECRET,
    { sub: owner.id, role: 'authenticated', aud: 'authenticated', email: owner.email },
    3600,
  );
  const { anon } = await apiKeys(TEST_JWT_SECRET);
  const supabase = createClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, anon, {
    accessToken: async () => token,
    realtime: { transport: WebSocket as never },
  });
  cleanups.push(() => disconnect(supabase.realtime));
  // supabase-js hands the realtime client its token asynchronously; a channel subscribed before that joins with
  // the anon key (realtime-js captures the join payload at subscribe()), on Supabase as here. Apps subscribe
  // after sign-in; so does this test.
  await waitFor(
    'supabase-js to pass its token to realtime',
    () => supabase.realtime.accessTokenValue === token,
  );

  const jobEvents: RealtimePostgresChangesPayload<Record<string, unknown>>[] = [];
  const taskEvents: RealtimePostgresChangesPayload<Record<string, unknown>>[] = [];
  // The design document's snippets, verbatim but for the callbacks.
  const jobChannel = supabase
    .channel('job-updates')
    .on(
      'postgres_changes',
      { event: 'UPDATE', schema: 'public', table: 'jobs', filter: `id=eq.${jobId}` },
      (p) => jobEvents.push(p),
    );
  const taskChannel = supabase
    .channel('task-updates')
    .on(
      'postgres_changes',
      { event: '*', schema: 'public', table: 'tasks', filter: `job_id=eq.${jobId}` },
      (p) => taskEvents.push(p),
    );
  for (const channel of [jobChannel, taskChannel]) {
    const status = deferred<string>();
    const system = deferred<Record<string, unknown>>();
    channel
      .on('system', {}, (payload: Record<string, unknown>) => system.resolve(payload))
      .subscribe((state, err) =>
        state === 'SUBSCRIBED' ? status.resolve(state) : status.reject(err ?? new Error(state)),
      );
    assert.equal(await within(status.promise, 'SUBSCRIBED'), 'SUBSCRIBED');
    const message = await within(system.promise, 'the system message');
    assert.deepEqual(message, {
      extension: 'postgres_changes',
      status: 'ok',
      message: 'Subscribed to PostgreSQL',
      channel: channel.topic.replace(/^realtime:/, ''),
    });
  }

  await startJob(db.sql, jobId);
  await enqueueUrls(db.sql, jobId, ['https://example.com/a']);
  const started = await waitFor('the job UPDATE', () =>
    jobEvents.find((e) => (e.new as { status?: string }).status === 'running'),
  );
  assert.equal(started.eventType, 'UPDATE');
  assert.equal(started.table, 'jobs');
  const inserted = await waitFor('the task INSERT', () => taskEvents.find((e) => e.eventType === 'INSERT'));
  assert.equal((inserted.new as { url?: string }).url, 'https://example.com/a');
  assert.deepEqual(problems, []);
});

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** `promise`, or a failure naming what did not happen within the deadline. */
function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${DEADLINE_MS} ms`)), DEADLINE_MS);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/**
 * realtime-js's disconnect() leaves its own 10 s timeout running after the socket has closed, which would keep
 * this file's process alive that long: the timer it starts (synchronously, inside the call) is unref'd.
 */
function disconnect(client: { disconnect(): Promise<unknown> }): Promise<unknown> {
  const original = globalThis.setTimeout;
  globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) =>
    original(...args).unref()) as typeof setTimeout;
  try {
    return client.disconnect();
  } finally {
    globalThis.setTimeout = original;
  }
}
