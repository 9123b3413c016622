// What a pool from connect() does when its connection is lost at an awkward moment. Each test is a
// deterministic reproduction of a postgres.js 3.4.9 failure that src/db/postgres-patches.ts fixes; on the
// unpatched driver each one fails (a reconnect that times out, a query failed with a dead backend's error, a
// hang, or an exception thrown from a driver timer).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, test } from 'node:test';
import { connect } from '../../src/db/client.ts';
import { isConnectionError } from '../../src/db/connection-errors.ts';
import { type TestDatabase, testDatabase } from '../support/db.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';
import { waitFor } from '../support/wait.ts';

const db: TestDatabase = await testDatabase();

// Whatever a driver timer throws or rejects with nobody listening, during the whole file.
const escaped: unknown[] = [];
const onEscape = (err: unknown) => escaped.push(err);
process.on('uncaughtException', onEscape);
process.on('unhandledRejection', onEscape);
after(() => {
  process.off('uncaughtException', onEscape);
  process.off('unhandledRejection', onEscape);
  assert.deepEqual(escaped, [], 'no driver error escaped as an uncaught exception or unhandled rejection');
});

/** A pool of one connection, with an application_name that only it uses. */
function onePool(url = db.url) {
  const app = `bbb driver ${randomBytes(4).toString('hex')}`;
  const sql = connect(url, { max: 1, applicationName: app });
  after(() => sql.end({ timeout: 1 }));
  return { sql, app };
}

/** Terminates the backends of `app`, returning once they have exited. */
async function kill(app: string): Promise<number> {
  const [row] = await db.sql<{ n: number }[]>`
    select count(*) filter (where pg_terminate_backend(pid, 5000))::int as n from pg_stat_activity
    where application_name = ${app} and datname = ${db.name}`;
  return row?.n ?? 0;
}

/**
 * The socket of the next TCP connection this process opens, seen by wrapping net.Socket#connect once. Its
 * 'close' listeners added here run after the driver's own (registered before connecting).
 */
function nextSocket(): Promise<net.Socket> {
  const original = net.Socket.prototype.connect;
  return new Promise((resolve) => {
    net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
      net.Socket.prototype.connect = original;
      resolve(this);
      return Reflect.apply(original, this, args) as net.Socket;
    } as typeof original;
  });
}

const settled = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (err: { code?: string }) => err.code ?? String(err),
  );

/** Resolves with `value` after `ms`: the outcome of a race that the code under test failed to finish. */
const stillWaitingAfter = (ms: number) =>
  new Promise<string>((resolve) => setTimeout(resolve, ms, `still waiting after ${ms} ms`).unref());

test('a connection that closes with a query in its write buffer reconnects at once', async () => {
  const { sql, app } = onePool();
  const socket = nextSocket();
  await sql`select 1`;
  const victim = await socket;
  let closed = false;
  victim.once('close', () => {
    closed = true;
  });
  // In the check (setImmediate) phase after the socket is destroyed and before its 'close' is emitted, the
  // pool still lists the connection as open: a query sent then is buffered for the next check phase, and the
  // close arrives first.
  const late = new Promise<string>((resolve) => {
    const look = () => {
      if (closed) resolve('the close came before the query could be sent');
      else if (victim.destroyed) resolve(settled(sql`select 'late'`));
      else setImmediate(look);
    };
    setImmediate(look);
  });
  assert.equal(await kill(app), 1);
  assert.ok(isConnectionError({ code: await late }), 'the late query failed with the connection');
  // Unpatched, the Connection never wrote again: every start-up message stayed in its buffer and each
  // reconnect ended in CONNECT_TIMEOUT (10 s) while the server was fine.
  const started = Date.now();
  const [row] = await sql<{ x: number }[]>`select 2 as x`;
  assert.equal(row?.x, 2);
  assert.ok(Date.now() - started < 5_000, `reconnected in ${Date.now() - started} ms`);
});

/** Starts a query that runs until its backend is killed, runs `meanwhile`, kills it; returns how it failed. */
async function killMidQuery(
  sql: ReturnType<typeof onePool>['sql'],
  app: string,
  meanwhile = () => {},
): Promise<string> {
  const running = settled(sql`select pg_sleep(60)`);
  await waitFor('the query to run', async () => {
    const rows = await db.sql`
      select 1 from pg_stat_activity where application_name = ${app} and state = 'active'`;
    return rows.length > 0;
  });
  meanwhile();
  assert.equal(await kill(app), 1);
  return running;
}

test('the first query after a killed backend is not failed with that backend’s error', async () => {
  const { sql, app } = onePool();
  assert.ok(isConnectionError({ code: await killMidQuery(sql, app) }));
  // Unpatched: 57P01 "terminating connection due to administrator command", on a healthy new connection.
  const [row] = await sql<{ x: number }[]>`select 1 as x`;
  assert.equal(row?.x, 1);
});

test('a database refusing connections fails the query, instead of hanging it, after a killed backend', async () => {
  const { sql, app } = onePool();
  await killMidQuery(sql, app);
  const admin = connect(process.env.BBB_TEST_ADMIN_URL!, { max: 1 });
  after(() => admin.end());
  await admin.unsafe(`alter database ${db.name} allow_connections false`);
  try {
    // Unpatched, the refusal was taken for the killed query's error and the driver reconnected in a tight
    // loop until the database accepted connections again.
    const outcome = await Promise.race([settled(sql`select 1`), stillWaitingAfter(5_000)]);
    assert.equal(outcome, '55000', 'database is not currently accepting connections');
  } finally {
    await admin.unsafe(`alter database ${db.name} allow_connections true`);
  }
  const [row] = await sql<{ x: number }[]>`select 2 as x`;
  assert.equal(row?.x, 2);
});

test('a transaction whose connection is killed fails its later queries, and the pool carries on', async () => {
  const { sql, app } = onePool();
  const socket = nextSocket();
  await sql`select 1`;
  const closed = new Promise((resolve) => void socket.then((s) => s.once('close', resolve)));
  let issueLate!: (late: Promise<string>) => void;
  const late = new Promise<string>((resolve) => {
    issueLate = resolve;
  });
  const outcome = await settled(
    sql.begin(async (tx) => {
      await tx`select 1`;
      await kill(app);
      await closed;
      // Unpatched: this (and the automatic ROLLBACK) went to a connection without a socket, and a TypeError
      // thrown from setImmediate took the process down.
      const query = settled(tx`select 2`);
      issueLate(query);
      await query;
    }),
  );
  assert.ok(isConnectionError({ code: outcome }), `the transaction failed with the connection (${outcome})`);
  assert.ok(isConnectionError({ code: await late }), 'so did the query issued after the close');
  const [row] = await sql<{ x: number }[]>`select 3 as x`;
  assert.equal(row?.x, 3);
});

test('a reserved connection that is killed fails its later queries, and release keeps the pool working', async () => {
  const { sql, app } = onePool();
  const socket = nextSocket();
  const reserved = await sql.reserve();
  const closed = new Promise((resolve) => void socket.then((s) => s.once('close', resolve)));
  await reserved`select 1`;
  await kill(app);
  await closed;
  // Unpatched: the same TypeError from setImmediate.
  assert.ok(isConnectionError({ code: await settled(reserved`select 2`) }));
  reserved.release();
  const [row] = await sql<{ x: number }[]>`select 3 as x`;
  assert.equal(row?.x, 3);
});

test('losing the connection during its array-types query fails the waiting query, nothing else', async () => {
  let onHold!: () => void;
  const held = new Promise<void>((resolve) => {
    onHold = resolve;
  });
  // The proxy keeps the types query (sent once per connection, before the first query) from the server.
  const proxy = await startTcpProxy(db.url, { holdWhen: (bytes) => bytes.includes('typarray'), onHold });
  const { sql, app } = onePool(proxy.url(db.url));
  const first = settled(sql`select 1`);
  await held;
  proxy.options = {};
  assert.equal(await kill(app), 1);
  // Unpatched, the pending types query was rejected on the next connection with nobody listening: an
  // unhandled rejection (the file's after() hook checks), a crash under Node's default.
  assert.ok(
    isConnectionError({ code: await first }),
    `the query failed with the connection (${await first})`,
  );
  const [row] = await sql<{ x: number }[]>`select 2 as x`;
  assert.equal(row?.x, 2);
});

test('a server that closes every connection during start-up fails the query, with backoff', async () => {
  const proxy = await startTcpProxy(db.url, { closeOnAccept: true });
  const { sql } = onePool(proxy.url(db.url));
  // Unpatched: reconnecting at once, forever (thousands of attempts a second), the query never settled.
  const outcome = await Promise.race([settled(sql`select 1`), stillWaitingAfter(5_000)]);
  assert.ok(isConnectionError({ code: outcome }), `the query failed with the connection (${outcome})`);
  assert.ok(proxy.accepted < 10, `${proxy.accepted} connection attempts`);
  const reserving = await Promise.race([settled(sql.reserve()), stillWaitingAfter(5_000)]);
  assert.ok(isConnectionError({ code: reserving }), `so did reserve() (${reserving})`);
  proxy.options = {};
  const [row] = await sql<{ x: number }[]>`select 2 as x`;
  assert.equal(row?.x, 2);
});

// Last: unpatched, the pool it ends never finishes ending, so the file's clean-up waits on it.
test('ending a pool while a query runs finishes when the connection is lost', async () => {
  const { sql, app } = onePool();
  let ending: Promise<string> | undefined;
  const failed = await killMidQuery(sql, app, () => {
    ending = sql.end().then(() => 'ended');
  });
  assert.ok(isConnectionError({ code: failed }));
  // Unpatched: end() (without a timeout) waited forever for a connection that was already gone.
  assert.equal(await Promise.race([ending, stillWaitingAfter(5_000)]), 'ended');
});
