// poolHealth(): what a pool from connect() has seen, read without a query, for readiness checks.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { connect, poolHealth } from '../../src/db/client.ts';
import { testDatabase } from '../support/db.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';

const db = await testDatabase();

const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (err: { code?: string }) => err.code,
  );

test('a pool counts queries that cannot reach the database, and an answer resets the count', async () => {
  // The proxy plays a database that is going away: every connection is closed as soon as it is made.
  const proxy = await startTcpProxy(db.url, { closeOnAccept: true });
  const sql = connect(proxy.url(db.url), { max: 1 });
  after(() => sql.end({ timeout: 1 }));
  assert.deepEqual(poolHealth(sql), { lastOkAt: null, consecutiveFailures: 0, lastError: undefined });

  assert.ok(await failure(sql`select 1`));
  assert.ok(await failure(sql.begin((tx) => tx`select 1`)));
  const down = poolHealth(sql);
  assert.equal(down.consecutiveFailures, 2);
  assert.equal(down.lastOkAt, null);
  assert.ok((down.lastError as { code?: string }).code);

  proxy.options = {};
  const before = Date.now();
  await sql`select 1`;
  const up = poolHealth(sql);
  assert.equal(up.consecutiveFailures, 0);
  assert.ok((up.lastOkAt ?? 0) >= before);
});

test('an SQL error is an answer; an error thrown by the caller says nothing', async () => {
  const sql = connect(db.url, { max: 1 });
  after(() => sql.end({ timeout: 1 }));
  assert.equal(await failure(sql`select no_such_column`), '42703');
  const afterSqlError = poolHealth(sql);
  assert.notEqual(afterSqlError.lastOkAt, null, 'the server answered');
  assert.equal(afterSqlError.consecutiveFailures, 0);

  const own = new Error('not the database');
  await assert.rejects(
    sql.begin(async () => {
      throw own;
    }),
    own,
  );
  assert.deepEqual(poolHealth(sql), afterSqlError, 'unchanged by the caller’s own error');
  const other = connect(db.url, { max: 1 });
  after(() => other.end());
  assert.equal(poolHealth(other).lastOkAt, null, 'each pool has its own');
});
