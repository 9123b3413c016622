// The limits of limits.ts, enforced: channels per connection, bindings per channel, connections per user, and
// the outbound bound that disconnects a client too slow to read instead of buffering for it.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { LIMITS } from '../../src/realtime/limits.ts';
import type { Change, Subscription } from '../../src/realtime/types.ts';
import { waitFor } from '../support/wait.ts';
import { endpointFixture } from './endpoint-fixture.ts';

const fx = await endpointFixture();
const tasks = { event: '*', schema: 'public', table: 'tasks' };

test(`a connection holds at most ${LIMITS.channelsPerConnection} channels`, async () => {
  const client = await fx.open({ vsn: '2.0.0' });
  const joins = await Promise.all(
    Array.from({ length: LIMITS.channelsPerConnection }, (_, i) => client.join(`c${i}`, { config: {} })),
  );
  assert.ok(joins.every((j) => j.reply.payload.status === 'ok'));
  const over = await client.join('one-more', { config: {} });
  assert.deepEqual(over.reply.payload, {
    status: 'error',
    response: { reason: 'ChannelRateLimitReached: Too many channels' },
  });
  // Leaving one frees its place.
  await client.replyTo(client.push('realtime:c0', 'phx_leave', {}, joins[0]!.joinRef));
  assert.equal((await client.join('one-more', { config: {} })).reply.payload.status, 'ok');
  client.close();
});

test(`a channel has at most ${LIMITS.bindingsPerChannel} postgres_changes bindings`, async () => {
  const client = await fx.open();
  const most = Array.from({ length: LIMITS.bindingsPerChannel }, () => tasks);
  const ok = await client.join('most', { config: { postgres_changes: most } });
  assert.equal(ok.reply.payload.response.postgres_changes.length, LIMITS.bindingsPerChannel);
  const over = await client.join('over', { config: { postgres_changes: [...most, tasks] } });
  assert.match(
    over.reply.payload.response.reason,
    /21 postgres_changes bindings; a channel may have at most 20/,
  );
  client.close();
});

test('connections per user: counted per signed-in user, per share link, and freed on close', async () => {
  const own = await endpointFixture({ db: fx.db, limits: { connectionsPerUser: 2 } });
  const token = await own.userToken();
  const [a, b, c] = [await own.open(), await own.open(), await own.open()];
  for (const client of [a, b]) {
    assert.equal((await client.join('x', { config: {}, access_token: token })).reply.payload.status, 'ok');
  }
  const refused = await c.join('x', { config: {}, access_token: token });
  assert.equal(refused.reply.payload.response.reason, 'ConnectionRateLimitReached: Too many connected users');
  // Another user, and more channels of a connection already counted, are not limited by it.
  assert.equal(
    (await c.join('y', { config: {}, access_token: await own.userToken() })).reply.payload.status,
    'ok',
  );
  assert.equal((await a.join('z', { config: {}, access_token: token })).reply.payload.status, 'ok');
  a.close();
  await waitFor('the closed connection to be released', () => own.realtime.connections === 2);
  const d = await own.open();
  assert.equal((await d.join('x', { config: {}, access_token: token })).reply.payload.status, 'ok');

  // Anon viewers count per share link.
  const viewers = await Promise.all(['A', 'A', 'A', 'B'].map((t) => own.open({ share_token: t.repeat(43) })));
  const replies = await Promise.all(viewers.map((v) => v.join('shared', { config: {} })));
  assert.deepEqual(
    replies.map((r) => r.reply.payload.status),
    ['ok', 'ok', 'error', 'ok'],
  );
  for (const client of [b, c, d, ...viewers]) client.close();
});

test(`messages waiting behind a slow one: at most ${LIMITS.queuedMessages}, the rest refused; heartbeats unaffected`, async () => {
  const client = await fx.open({ vsn: '2.0.0' });
  const token = await fx.userToken({ session: true });
  // The join's session lookup waits on this lock, so everything after it on the topic queues.
  const released = signal();
  const locked = signal();
  const holder = fx.db.sql.begin(async (tx) => {
    await tx`lock table auth.sessions in access exclusive mode`;
    locked.resolve();
    await released.promise;
  });
  await locked.promise;
  const joinRef = client.nextRef();
  client.push('realtime:slow', 'phx_join', { config: {}, access_token: token }, joinRef, joinRef);
  await waitFor('the join to wait on the lock', async () => {
    const [row] = await fx.db.sql<{ n: number }[]>`
      select count(*)::int as n from pg_locks where relation = 'auth.sessions'::regclass and not granted`;
    return row!.n > 0;
  });
  const refs = Array.from({ length: LIMITS.queuedMessages + 1 }, () =>
    client.push('realtime:slow', 'access_token', { access_token: null }, joinRef),
  );
  const refused = await client.replyTo(refs.at(-1)!);
  assert.match(refused.payload.response.reason, /100 messages are waiting to be handled/);
  assert.equal((await client.heartbeat()).payload.status, 'ok');
  released.resolve();
  await holder;
  assert.equal((await client.replyTo(joinRef)).payload.status, 'ok');
  // Those queued are handled in order after the join (an access_token of null needs no answer).
  assert.equal((await client.heartbeat()).payload.status, 'ok');
  assert.equal(
    client.frames.filter((f) => f.event === 'phx_reply' && f.payload.status === 'error').length,
    1,
  );
  client.close();
});

function signal() {
  let resolve = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

test('a client that stops reading is sent a system error and disconnected, not buffered for', async () => {
  const bound = 256 * 1024;
  const registry = new Set<Subscription>();
  const own = await endpointFixture({
    db: fx.db,
    limits: { outboundBufferBytes: bound },
    hub: { add: (s) => registry.add(s), remove: (s) => registry.delete(s) },
  });
  const client = await own.open({ vsn: '2.0.0' });
  await client.join('firehose', { config: { postgres_changes: [tasks] } });
  const sub = [...registry][0]!;
  const socket = (client.ws as unknown as { _socket: Socket })._socket;
  socket.pause();

  const change: Change = {
    schema: 'public',
    table: 'tasks',
    type: 'UPDATE',
    columns: [{ name: 'id', type: 'uuid' }],
    record: { id: randomUUID(), pad: 'x'.repeat(1000) },
    oldRecord: null,
  };
  let delivered = 0;
  while (sub.deliver({ ...change }, [1], '2026-12-07T00:00:00Z')) {
    delivered++;
    assert.ok(delivered < 1_000_000, 'deliver() never reported the client as too slow');
    // Let the socket flush what the kernel takes, so only what it does not take counts against the bound.
    if (delivered % 200 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  assert.ok(delivered * 1000 > bound, `accepted ${delivered} changes before giving up`);
  assert.equal(registry.has(sub), false, 'the hub no longer delivers to it');
  assert.equal(sub.deliver(change, [1], '2026-12-07T00:00:00Z'), false);

  socket.resume();
  const system = await client.next(
    'the system error',
    (f) => f.event === 'system' && f.payload.status === 'error',
  );
  assert.deepEqual(system.payload, {
    extension: 'system',
    status: 'error',
    message: `too slow: more than ${bound} bytes of messages were waiting to be read`,
    channel: 'firehose',
  });
  const closed = await client.closed;
  assert.equal(closed.code, 1013);
  assert.equal(client.frames.filter((f) => f.event === 'postgres_changes').length, delivered);
  await waitFor('the connection to be gone', () => own.realtime.connections === 0);
});
