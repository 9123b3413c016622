// Channels: what a join checks and answers (Supabase's messages), the Subscription it registers, the system
// messages about the change source, token refresh and expiry, leaving, and the change frames it delivers.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { decodeJwt, SignJWT } from 'jose';
import { signHs256 } from '../../src/auth/jwt.ts';
import type { Change, Subscription } from '../../src/realtime/types.ts';
import { TEST_JWT_SECRET } from '../support/api.ts';
import { waitFor } from '../support/wait.ts';
import { endpointFixture, type Frame, jobBindings, type RawClient } from './endpoint-fixture.ts';

const fx = await endpointFixture();

/** The one Subscription registered since `before`. */
function newSub(before: Set<Subscription>): Subscription {
  const added = [...fx.subs].filter((s) => !before.has(s));
  assert.equal(added.length, 1, 'one subscription registered');
  return added[0]!;
}

const systemOf = (client: RawClient, status: 'ok' | 'error') =>
  client.next(`system ${status}`, (f) => f.event === 'system' && f.payload.status === status);

test('a join echoes its bindings in order with ids and registers them with the audience of its token', async () => {
  const client = await fx.open({ vsn: '2.0.0' });
  const jobId = randomUUID();
  const userId = randomUUID();
  const before = new Set(fx.subs);
  const { reply } = await client.join('job-updates', {
    config: {
      broadcast: { self: false },
      presence: { enabled: false },
      postgres_changes: jobBindings(jobId),
      private: false,
    },
    access_token: await fx.userToken({ sub: userId }),
  });
  assert.deepEqual(reply.payload, {
    status: 'ok',
    response: { postgres_changes: jobBindings(jobId).map((b, i) => ({ ...b, id: i + 1 })) },
  });
  const sub = newSub(before);
  assert.deepEqual(
    sub.bindings.map((b) => [b.id, b.event, b.schema, b.table, b.filter?.source]),
    [
      [1, 'UPDATE', 'public', 'jobs', `id=eq.${jobId}`],
      [2, '*', 'public', 'tasks', `job_id=eq.${jobId}`],
    ],
  );
  assert.equal(sub.bindings[0]!.filter!.matches({ id: jobId.toUpperCase() }), true);
  assert.equal(sub.bindings[0]!.filter!.matches({ id: randomUUID() }), false);
  const audience = sub.audience();
  assert.equal(audience.role, 'authenticated');
  assert.equal(audience.claims.sub, userId);
  assert.deepEqual(audience.headers, {});
  client.close();
});

test('without access_token the apikey decides; a share link viewer carries its token as x-share-token', async () => {
  const shareToken = 'S'.repeat(43);
  const client = await fx.open({ share_token: shareToken });
  const before = new Set(fx.subs);
  // supabase-js without a session sends the anon key itself as access_token.
  await client.join('shared', {
    config: { postgres_changes: [{ event: '*', schema: 'public', table: 'jobs' }] },
    access_token: fx.anonKey,
  });
  assert.deepEqual(newSub(before).audience(), {
    role: 'anon',
    claims: decodeJwt(fx.anonKey),
    headers: { 'x-share-token': shareToken },
  });
  // A signed-in viewer of a link carries it as well: the shared-job policies apply to authenticated too.
  const signedIn = await fx.open({ share_token: shareToken });
  const before2 = new Set(fx.subs);
  await signedIn.join('shared', {
    config: { postgres_changes: [{ event: '*', schema: 'public', table: 'jobs' }] },
    access_token: await fx.userToken(),
  });
  assert.deepEqual(newSub(before2).audience().headers, { 'x-share-token': shareToken });
  signedIn.close();
  const plain = await fx.open({ apikey: fx.serviceKey });
  const again = new Set(fx.subs);
  await plain.join('all', {
    config: { postgres_changes: [{ event: 'INSERT', schema: 'public', table: 'tasks' }] },
  });
  const sub = newSub(again);
  assert.equal(sub.audience().role, 'service_role');
  assert.deepEqual(sub.audience().headers, {});
  client.close();
  plain.close();
});

test('a binding without a table (or table *) covers every published table of its schema, under one id', async () => {
  const client = await fx.open();
  const before = new Set(fx.subs);
  const bindings = [
    { event: 'DELETE', schema: 'public' },
    { event: 'insert', schema: '*', table: '*' },
  ];
  const { reply } = await client.join('everything', { config: { postgres_changes: bindings } });
  assert.deepEqual(reply.payload.response.postgres_changes, [
    { ...bindings[0], id: 1 },
    { ...bindings[1], id: 2 },
  ]);
  const got = newSub(before).bindings.map((b) => `${b.id} ${b.event} ${b.schema}.${b.table}`);
  assert.deepEqual(got.sort(), [
    '1 DELETE public.jobs',
    '1 DELETE public.tasks',
    '2 INSERT public.jobs',
    '2 INSERT public.tasks',
  ]);
  client.close();
});

test('joins refused, with Supabase’s messages for tokens and a reason for bindings; nothing registered', async () => {
  const client = await fx.open({ vsn: '2.0.0' });
  const jobs = { event: 'UPDATE', schema: 'public', table: 'jobs' };
  const expired = await signHs256(
    TEST_JWT_SECRET,
    { sub: randomUUID(), role: 'authenticated', aud: 'authenticated' },
    -5,
  );
  const noExp = await new SignJWT({ role: 'authenticated', sub: randomUUID() })
    .setProtectedHeader({ alg: 'HS256' })
    .sign(new TextEncoder().encode(TEST_JWT_SECRET));
  const ended = await fx.userToken({ session: true });
  await fx.db.sql`delete from auth.sessions where id = ${String(decodeJwt(ended).session_id)}`;
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['', { config: {} }, /^TopicNameRequired: You must provide a topic name$/],
    [
      't',
      { config: { postgres_changes: [{ ...jobs, table: 'nope' }] } },
      /postgres_changes\[0\]: table public\.nope is not published for realtime \(published: .*public\.jobs/,
    ],
    [
      't',
      { config: { postgres_changes: [jobs, { ...jobs, schema: 'auth', table: 'users' }] } },
      /postgres_changes\[1\]: table auth\.users is not published/,
    ],
    [
      't',
      { config: { postgres_changes: [{ ...jobs, schema: 'private', table: undefined }] } },
      /schema private has no table published/,
    ],
    [
      't',
      { config: { postgres_changes: [{ ...jobs, event: 'TRUNCATE' }] } },
      /event must be INSERT, UPDATE, DELETE or \*, not "TRUNCATE"/,
    ],
    ['t', { config: { postgres_changes: [{ ...jobs, event: undefined }] } }, /event must be/],
    ['t', { config: { postgres_changes: [{ ...jobs, schema: 5 }] } }, /schema must be a schema name/],
    [
      't',
      { config: { postgres_changes: [{ ...jobs, filter: 'colour=eq.red' }] } },
      /filter "colour=eq\.red": .*colour/,
    ],
    ['t', { config: { postgres_changes: [{ ...jobs, filter: 'id=like.x' }] } }, /filter "id=like\.x": /],
    [
      't',
      { config: { postgres_changes: [{ ...jobs, filter: 'id=eq.not-a-uuid' }] } },
      /filter "id=eq\.not-a-uuid": /,
    ],
    [
      't',
      { config: { postgres_changes: [{ ...jobs, table: '*', filter: 'id=eq.1' }] } },
      /a filter needs one table/,
    ],
    ['t', { config: { postgres_changes: jobs } }, /postgres_changes must be a list/],
    ['t', { config: { postgres_changes: ['x'] } }, /postgres_changes\[0\] must be an object/],
    ['t', { config: 'x' }, /^InvalidJoinPayload: config: unable to parse, expected a map$/],
    ['t', { config: {}, access_token: 7 }, /^InvalidJoinPayload: access_token/],
    ['t', { config: {}, access_token: expired }, /^InvalidJWTToken: Token has expired [5-9] seconds ago$/],
    [
      't',
      { config: {}, access_token: noExp },
      /^InvalidJWTToken: Fields `role` and `exp` are required in JWT$/,
    ],
    ['t', { config: {}, access_token: 'garbage' }, /^MalformedJWT: The token provided is not a valid JWT$/],
    ['t', { config: {}, access_token: ended }, /^InvalidJWTToken: the token’s session has ended/],
    [
      't',
      { config: {}, access_token: await signHs256('x'.repeat(32), { role: 'anon' }, 60) },
      /^JwtSignatureError: Failed to validate JWT signature$/,
    ],
  ];
  const before = fx.subs.size;
  for (const [name, payload, reason] of cases) {
    const { reply } = await client.join(name, payload);
    assert.equal(reply.payload.status, 'error', JSON.stringify(payload));
    assert.match(reply.payload.response.reason, reason);
  }
  assert.equal(fx.subs.size, before);
  // A refused join leaves no channel behind: its topic is unmatched.
  assert.equal(
    (await client.replyTo(client.push('realtime:t', 'phx_leave', {}))).payload.response.reason,
    'unmatched topic',
  );
  // A live session's token joins.
  const live = await fx.userToken({ session: true });
  assert.equal((await client.join('live', { config: {}, access_token: live })).reply.payload.status, 'ok');
  client.close();
});

test('"Subscribed to PostgreSQL" waits for the change source; an interruption errors the channel for a rejoin', async () => {
  const own = await endpointFixture({ db: fx.db, ready: false });
  const client = await own.open({ vsn: '2.0.0' });
  const { joinRef } = await client.join('jobs', {
    config: { postgres_changes: [{ event: '*', schema: 'public', table: 'jobs' }] },
  });
  const plain = await client.join('nothing', { config: {} });
  await client.heartbeat(); // frames arrive in order: anything sent at the join is here by now
  assert.equal(client.frames.filter((f) => f.event === 'system').length, 0);

  own.source.becomeReady();
  const subscribed = await systemOf(client, 'ok');
  assert.deepEqual(subscribed, {
    joinRef,
    ref: null,
    topic: 'realtime:jobs',
    event: 'system',
    payload: {
      extension: 'postgres_changes',
      status: 'ok',
      message: 'Subscribed to PostgreSQL',
      channel: 'jobs',
    },
  });
  assert.equal(own.subs.size, 1);

  own.source.interrupt();
  const error = await systemOf(client, 'error');
  assert.match(error.payload.message, /change stream was interrupted/);
  const phxError = await client.next('phx_error', (f) => f.event === 'phx_error');
  // realtime-js drops a phx_error whose ref is not its join ref.
  assert.deepEqual([phxError.topic, phxError.joinRef, phxError.ref], ['realtime:jobs', joinRef, joinRef]);
  assert.equal(own.subs.size, 0);
  assert.equal(
    client.frames.filter((f) => f.topic === 'realtime:nothing' && f.event !== 'phx_reply').length,
    0,
    'a channel without postgres_changes is untouched',
  );
  assert.equal(
    (await client.replyTo(client.push('realtime:nothing', 'phx_leave', {}, plain.joinRef))).payload.status,
    'ok',
  );

  // The client rejoins, as realtime-js does after phx_error, and is told once changes flow again.
  const rejoined = await client.join('jobs', {
    config: { postgres_changes: [{ event: '*', schema: 'public', table: 'jobs' }] },
  });
  assert.equal(rejoined.reply.payload.status, 'ok');
  own.source.becomeReady();
  assert.equal((await systemOf(client, 'ok')).joinRef, rejoined.joinRef);
  client.close();
});

test('access_token: a valid token swaps the audience, an invalid one shuts the channel as Supabase does', async () => {
  const client = await fx.open({ vsn: '2.0.0' });
  const a = randomUUID();
  const b = randomUUID();
  const before = new Set(fx.subs);
  const { joinRef } = await client.join('swap', {
    config: { postgres_changes: jobBindings(randomUUID()) },
    access_token: await fx.userToken({ sub: a }),
  });
  const sub = newSub(before);
  assert.equal(sub.audience().claims.sub, a);
  client.push('realtime:swap', 'access_token', { access_token: await fx.userToken({ sub: b }) }, joinRef);
  await waitFor('the audience to become user B', () => sub.audience().claims.sub === b);
  // The anon key (an sb_ key too) leaves the signed-in audience alone, as on Supabase.
  client.push('realtime:swap', 'access_token', { access_token: 'sb_publishable_x' }, joinRef);
  client.push('realtime:swap', 'access_token', { access_token: null }, joinRef);
  await client.heartbeat();
  assert.equal(sub.audience().claims.sub, b);

  client.push('realtime:swap', 'access_token', { access_token: 'garbage' }, joinRef);
  const system = await systemOf(client, 'error');
  assert.deepEqual(system.payload, {
    extension: 'system',
    status: 'error',
    message: 'The token provided is not a valid JWT',
    channel: 'swap',
  });
  const close = await client.next('phx_close', (f) => f.event === 'phx_close');
  assert.deepEqual([close.joinRef, close.ref], [joinRef, joinRef]);
  assert.equal(fx.subs.has(sub), false);
  assert.equal(sub.deliver(change('INSERT'), [1], TS), false, 'a shut channel takes no more changes');
  client.close();
});

test('a token expiring while joined ends the channel with "Token has expired"', async () => {
  const client = await fx.open({ vsn: '2.0.0' });
  const before = new Set(fx.subs);
  const { joinRef } = await client.join('short', {
    config: { postgres_changes: jobBindings(randomUUID()) },
    access_token: await fx.userToken({ expiresIn: 2 }),
  });
  const sub = newSub(before);
  const system = await systemOf(client, 'error');
  assert.match(system.payload.message, /^Token has expired \d+ seconds ago$/);
  assert.equal(system.joinRef, joinRef);
  await client.next('phx_close', (f) => f.event === 'phx_close' && f.ref === joinRef);
  assert.equal(fx.subs.has(sub), false);
  client.close();
});

test('phx_leave replies ok, closes and unregisters; a second join of a topic replaces the first', async () => {
  const client = await fx.open({ vsn: '2.0.0' });
  const payload = { config: { postgres_changes: [{ event: '*', schema: 'public', table: 'tasks' }] } };
  const before = new Set(fx.subs);
  const first = await client.join('room', payload);
  const firstSub = newSub(before);
  const second = await client.join('room', payload);
  const closed = await client.next('phx_close', (f) => f.event === 'phx_close');
  assert.equal(closed.joinRef, first.joinRef);
  assert.equal(second.reply.payload.status, 'ok');
  assert.equal(fx.subs.has(firstSub), false);
  const secondSub = newSub(new Set([...before, firstSub]));

  const ref = client.push('realtime:room', 'phx_leave', {}, second.joinRef);
  assert.deepEqual((await client.replyTo(ref)).payload, { status: 'ok', response: {} });
  const leaveClose = await client.next('phx_close', (f) => f.event === 'phx_close');
  assert.deepEqual([leaveClose.joinRef, leaveClose.ref], [second.joinRef, second.joinRef]);
  assert.equal(fx.subs.has(secondSub), false);
  client.close();
});

const TS = '2026-12-07T01:02:03.123456Z';
const columns = [
  { name: 'id', type: 'uuid' },
  { name: 'status', type: 'text' },
];
const change = (type: Change['type']): Change => ({
  schema: 'public',
  table: 'jobs',
  type,
  columns,
  record: type === 'DELETE' ? null : { id: 'j1', status: 'running' },
  oldRecord: type === 'INSERT' ? null : { id: 'j1', status: 'pending' },
});

for (const vsn of ['1.0.0', '2.0.0'] as const) {
  test(`vsn ${vsn}: deliver() sends postgres_changes frames shaped as Supabase’s`, async () => {
    const clients = [await fx.open({ vsn }), await fx.open({ vsn })];
    const before = new Set(fx.subs);
    const joins: string[] = [];
    for (const client of clients) {
      joins.push(
        (
          await client.join('frames', {
            config: { postgres_changes: [{ event: '*', schema: 'public', table: 'jobs' }] },
          })
        ).joinRef,
      );
    }
    const subs = [...fx.subs].filter((s) => !before.has(s));
    const changes = [change('INSERT'), change('UPDATE'), change('DELETE')];
    for (const c of changes) for (const sub of subs) assert.equal(sub.deliver(c, [1], TS), true);
    for (const [i, client] of clients.entries()) {
      const got: Frame[] = [];
      for (const _ of changes) got.push(await client.next('a change', (f) => f.event === 'postgres_changes'));
      for (const frame of got) {
        assert.equal(frame.joinRef, joins[i]);
        assert.equal(frame.ref, null);
        assert.equal(frame.topic, 'realtime:frames');
      }
      const base = { schema: 'public', table: 'jobs', commit_timestamp: TS, columns, errors: null };
      assert.deepEqual(got[0]!.payload, {
        ids: [1],
        data: { ...base, type: 'INSERT', record: changes[0]!.record },
      });
      assert.deepEqual(got[1]!.payload, {
        ids: [1],
        data: { ...base, type: 'UPDATE', record: changes[1]!.record, old_record: changes[1]!.oldRecord },
      });
      assert.deepEqual(got[2]!.payload, {
        ids: [1],
        data: { ...base, type: 'DELETE', old_record: changes[2]!.oldRecord },
      });
    }
    for (const client of clients) client.close();
  });
}
