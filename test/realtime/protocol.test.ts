// The websocket endpoint at the protocol level: both Phoenix serializers, heartbeats, the upgrade's checks, and
// malformed, misdirected and oversize frames answered with error replies while the server stays up.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { signHs256 } from '../../src/auth/jwt.ts';
import { LIMITS } from '../../src/realtime/limits.ts';
import { TEST_JWT_SECRET } from '../support/api.ts';
import { waitFor } from '../support/wait.ts';
import { endpointFixture, type RawClient } from './endpoint-fixture.ts';

const fx = await endpointFixture();
const binding = { event: 'INSERT', schema: 'public', table: 'jobs' };

test('vsn 2.0.0: array frames for heartbeats, joins and pushes', async () => {
  const client = await fx.open({ vsn: '2.0.0' });
  const seen: unknown[] = [];
  client.ws.on('message', (data) => seen.push(JSON.parse(data.toString())));
  const beat = await client.heartbeat();
  assert.deepEqual(beat.payload, { status: 'ok', response: {} });
  assert.deepEqual(seen[0], [null, beat.ref, 'phoenix', 'phx_reply', { status: 'ok', response: {} }]);

  const { reply, joinRef } = await client.join('room', { config: { postgres_changes: [binding] } });
  assert.deepEqual(reply.payload, { status: 'ok', response: { postgres_changes: [{ ...binding, id: 1 }] } });
  assert.equal(reply.joinRef, joinRef);
  const system = await client.next('system', (f) => f.event === 'system');
  assert.deepEqual(seen.at(-1), [
    joinRef,
    null,
    'realtime:room',
    'system',
    { extension: 'postgres_changes', status: 'ok', message: 'Subscribed to PostgreSQL', channel: 'room' },
  ]);
  assert.equal(system.topic, 'realtime:room');
  client.close();
});

for (const query of [{ vsn: '1.0.0' }, {}] as Record<string, string>[]) {
  test(`vsn 1.0.0 (${query.vsn ? 'asked for' : 'the default'}): object frames`, async () => {
    const client = await fx.open(query);
    const seen: unknown[] = [];
    client.ws.on('message', (data) => seen.push(JSON.parse(data.toString())));
    const beat = await client.heartbeat();
    assert.deepEqual(seen[0], {
      topic: 'phoenix',
      event: 'phx_reply',
      payload: { status: 'ok', response: {} },
      ref: beat.ref,
      join_ref: null,
    });
    const { reply, joinRef } = await client.join('room', { config: { postgres_changes: [binding] } });
    assert.equal(reply.payload.status, 'ok');
    assert.deepEqual(seen[1], {
      topic: 'realtime:room',
      event: 'phx_reply',
      payload: { status: 'ok', response: { postgres_changes: [{ ...binding, id: 1 }] } },
      ref: joinRef,
      join_ref: joinRef,
    });
    client.close();
  });
}

test('the upgrade: path, vsn and apikey are checked, with a reason', async () => {
  const anon = fx.anonKey;
  const cases: Array<[Record<string, string>, string | undefined, number, RegExp]> = [
    [{ apikey: anon }, '/realtime/v1/websocket/', 404, /realtime is at \/realtime\/v1\/websocket/],
    [{ apikey: anon }, '/other', 404, /no websocket endpoint/],
    [{ apikey: anon, vsn: '3.0.0' }, undefined, 400, /vsn must be 1\.0\.0 or 2\.0\.0/],
    [{}, undefined, 401, /API key is missing/],
    [{ apikey: 'not-a-jwt' }, undefined, 401, /The token provided is not a valid JWT/],
    [
      { apikey: await signHs256('another-secret-0123456789abcdef0123', { role: 'anon' }, 60) },
      undefined,
      401,
      /signature/,
    ],
    [
      { apikey: await signHs256(TEST_JWT_SECRET, { role: 'anon' }, -30) },
      undefined,
      401,
      /Token has expired 3\d seconds ago/,
    ],
    [
      { apikey: await signHs256(TEST_JWT_SECRET, { sub: 'x' }, 60) },
      undefined,
      401,
      /Fields `role` and `exp` are required in JWT/,
    ],
    [
      { apikey: await signHs256(TEST_JWT_SECRET, { role: 'postgres' }, 60) },
      undefined,
      401,
      /role must be anon, authenticated or service_role/,
    ],
    [{ apikey: anon, share_token: 'x'.repeat(201) }, undefined, 400, /share_token/],
  ];
  for (const [query, path, status, body] of cases) {
    const answer = await fx.refused(query, path);
    assert.equal(answer.status, status, JSON.stringify(query));
    assert.match(JSON.parse(answer.body).error, body);
  }
  // Each key the API accepts is accepted here: anon, service role, and a signed-in user's token.
  for (const apikey of [fx.serviceKey, await fx.userToken()]) {
    const client = await fx.open({ apikey });
    assert.equal((await client.heartbeat()).payload.status, 'ok');
    client.close();
  }
});

/** Sends `data` and expects an error reply whose reason matches, on the given topic and ref. */
async function expectError(
  client: RawClient,
  data: string | Buffer,
  reason: RegExp,
  at = { topic: 'phoenix', ref: null as string | null },
  binary = false,
) {
  const before = client.frames.length;
  client.send(data, binary);
  const answer = await client.next(
    'error reply',
    (f) => f.event === 'phx_reply' && f.payload.status === 'error',
  );
  assert.equal(client.frames.indexOf(answer), before, 'the error reply is the next frame');
  assert.match(answer.payload.response.reason, reason);
  assert.equal(answer.topic, at.topic);
  assert.equal(answer.ref, at.ref);
  assert.equal((await client.heartbeat()).payload.status, 'ok', 'the connection still answers');
}

for (const vsn of ['1.0.0', '2.0.0'] as const) {
  test(`vsn ${vsn}: malformed frames get error replies and the connection stays`, async () => {
    const client = await fx.open({ vsn });
    const frame = (topic: unknown, event: unknown, payload: unknown, ref: unknown = '9') =>
      JSON.stringify(
        vsn === '2.0.0' ? [null, ref, topic, event, payload] : { topic, event, payload, ref, join_ref: null },
      );
    await expectError(client, '{not json', /malformed message: the frame is not JSON/);
    await expectError(
      client,
      vsn === '2.0.0' ? '[null,"1","phoenix","heartbeat"]' : '[null,"1","phoenix","heartbeat",{}]',
      /malformed message: a vsn/,
    );
    await expectError(client, '"a string"', /malformed message/);
    await expectError(client, frame('phoenix', 'heartbeat', []), /payload must be an object/, {
      topic: 'phoenix',
      ref: '9',
    });
    await expectError(client, frame('phoenix', 'heartbeat', null), /payload must be an object/, {
      topic: 'phoenix',
      ref: '9',
    });
    await expectError(client, frame(42, 'heartbeat', {}), /topic must be a string/, {
      topic: 'phoenix',
      ref: '9',
    });
    await expectError(client, frame('phoenix', 7, {}), /event must be a string/, {
      topic: 'phoenix',
      ref: '9',
    });
    await expectError(client, frame('phoenix', 'heartbeat', {}, 5), /ref must be a string or null/);
    await expectError(client, Buffer.from([1, 2, 3]), /binary frames are not accepted/, undefined, true);
    client.close();
  });
}

test('unknown topics, unknown phoenix events and channels not joined: "unmatched topic"', async () => {
  const client = await fx.open({ vsn: '2.0.0' });
  for (const [topic, event] of [
    ['room:lobby', 'phx_join'],
    ['phoenix', 'phx_join'],
    ['realtime:never-joined', 'access_token'],
    ['realtime:never-joined', 'phx_leave'],
  ]) {
    const ref = client.push(topic!, event!, {}, '1');
    const answer = await client.replyTo(ref);
    assert.deepEqual(
      answer.payload,
      { status: 'error', response: { reason: 'unmatched topic' } },
      `${topic} ${event}`,
    );
    assert.equal(answer.topic, topic);
    assert.equal(answer.joinRef, null);
  }
  // A joined channel answers events it does not serve (broadcast, presence) with an error, not silence.
  const { joinRef } = await client.join('room', { config: {} });
  const ref = client.push(
    'realtime:room',
    'broadcast',
    { type: 'broadcast', event: 'x', payload: {} },
    joinRef,
  );
  assert.match((await client.replyTo(ref)).payload.response.reason, /postgres_changes only; "broadcast"/);
  assert.equal((await client.heartbeat()).payload.status, 'ok');
  client.close();
});

test('frames over the soft cap get an error reply on their topic and ref; over the hard cap, the socket closes', async () => {
  const client = await fx.open({ vsn: '2.0.0' });
  const big = 'x'.repeat(LIMITS.softFrameBytes);
  await expectError(
    client,
    JSON.stringify([null, '5', 'realtime:room', 'phx_join', { pad: big }]),
    /the frame is \d+ bytes; at most 65536/,
    {
      topic: 'realtime:room',
      ref: '5',
    },
  );
  await expectError(
    client,
    `[null,"6","realtime:room","phx_join",${big}`,
    /malformed message: the frame is \d+ bytes/,
  );
  // Beyond maxPayload ws closes the connection (1009) without reading the frame; the server stays up.
  client.send('x'.repeat(LIMITS.maxFrameBytes + 1));
  assert.equal((await client.closed).code, 1009);
  const another = await fx.open();
  assert.equal((await another.heartbeat()).payload.status, 'ok');
  another.close();
});

test('a connection silent for the idle timeout is closed', async () => {
  const idle = await endpointFixture({ db: fx.db, limits: { idleTimeoutMs: 200 } });
  const client = await idle.open();
  assert.equal((await client.heartbeat()).payload.status, 'ok');
  const closed = await client.closed;
  assert.equal(closed.code, 4408);
  assert.match(closed.reason, /no message for 200 ms/);
  await waitFor('the connection to be forgotten', () => idle.realtime.connections === 0);
});

test('stop() closes every connection with 1001 and refuses new ones', async () => {
  const own = await endpointFixture({ db: fx.db });
  const clients = [await own.open(), await own.open({ vsn: '2.0.0' })];
  await clients[1]!.join('room', { config: { postgres_changes: [binding] } });
  assert.equal(own.subs.size, 1);
  await own.realtime.stop();
  for (const client of clients) assert.equal((await client.closed).code, 1001);
  assert.equal(own.subs.size, 0, 'the channels left the hub');
  assert.equal(own.realtime.connections, 0);
  await assert.rejects(own.open(), 'no upgrade after stop()');
});
