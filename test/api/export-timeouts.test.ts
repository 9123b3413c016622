// Security finding 3, the waits: an export never waits without end, for the database or for one of the
// exports' connections. A lock the test holds makes a page's statement wait as long as the test likes: with a
// statement_timeout the page is cancelled, and with a bound on the wait for a connection, the exports queued
// behind a stuck page give up. Before its body starts an export answers 503 exports_busy; after, the body
// stops short. Each outcome is checked while the lock is still held, so it can only have come from the bound.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { createApp } from '../../src/api/app.ts';
import type { ExportLimits } from '../../src/api/jobs/export-limits.ts';
import { enqueueUrls } from '../../src/queue/tasks.ts';
import { apiFixture, type TestUser } from '../support/api.ts';
import { makeJob, urls } from '../support/jobs.ts';
import { holdLocks } from '../support/locks.ts';
import { waitFor } from '../support/wait.ts';

const api = await apiFixture();
const { sql } = api.db;

const [ann, bob, cat] = [await api.user(), await api.user(), await api.user()];
const team = await api.team(ann, [
  [bob, 'member'],
  [cat, 'member'],
]);
const jobId = await makeJob(sql, { organisationId: team, host: 'slow.example', start: false });
await enqueueUrls(sql, jobId, urls('slow.example', 3));
const HEADER = /^id,url,status,/;

function app(limits: Partial<ExportLimits>) {
  const pool = api.db.connect(4);
  return createApp({ ...api.deps, sql: pool, exportLimits: limits });
}

function exportOf(a: ReturnType<typeof app>, user: TestUser, method = 'GET') {
  return a.request(`/v1/jobs/${jobId}/export`, {
    method,
    headers: { authorization: `Bearer ${user.token}` },
  });
}

/** Takes `table` in ACCESS EXCLUSIVE mode, in a transaction of its own; the function returned lets it go. */
const holdLock = (table: 'tasks' | 'jobs') =>
  holdLocks(api.db, (tx) => tx.unsafe(`lock table ${table} in access exclusive mode`));

/** Statements of this database waiting for a lock. */
async function lockWaits(): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    select count(*)::int as n from pg_stat_activity
    where datname = current_database() and wait_event_type = 'Lock'`;
  return row!.n;
}

const text = (chunk: { value?: Uint8Array | undefined }) => new TextDecoder().decode(chunk.value);

let unlock: (() => Promise<void>) | undefined;
async function release(): Promise<void> {
  const letGo = unlock;
  unlock = undefined;
  await letGo?.();
}

// Without the bounds a test waits for ever: the timeouts make that a failure.
describe('export waits are bounded', () => {
  // Also after a failed assertion, so the next test does not find the table locked.
  afterEach(release);

  test('a page that outlasts statement_timeout stops the body, and holds nothing after', {
    timeout: 20_000,
  }, async () => {
    const a = app({ statementTimeoutMs: 100, perUser: 1 });
    unlock = await holdLock('tasks');
    // The visibility check reads jobs only, so the export starts; its first page waits for the lock.
    const res = await exportOf(a, ann);
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    assert.match(text(await reader.read()), HEADER);
    await assert.rejects(reader.read(), (err: { code?: string; message?: string }) => {
      assert.equal(err.code, 'exports_busy');
      assert.match(err.message ?? '', /did not answer the export within 0\.1 s/);
      return true;
    });
    // Still locked: the page was cancelled, not let through, and left no statement waiting.
    assert.equal(await lockWaits(), 0);
    // And the slot is free again (ann may run one export): HEAD runs the same admission and check.
    assert.equal((await exportOf(a, ann, 'HEAD')).status, 200);
  });

  test('a statement that outlasts statement_timeout before the body starts is a 503 exports_busy', {
    timeout: 20_000,
  }, async () => {
    const a = app({ statementTimeoutMs: 100 });
    unlock = await holdLock('jobs');
    const res = await exportOf(a, ann);
    assert.equal(res.status, 503);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'exports_busy');
    assert.match(body.error.message, /did not answer the export within 0\.1 s: try again in a minute/);
    assert.equal(res.headers.get('content-disposition'), null);
    assert.equal(await lockWaits(), 0);
  });

  test('waiting for the exports’ connection runs out: 503 before the body, a stopped body after', {
    timeout: 20_000,
  }, async () => {
    // One connection for exports, a short wait for it, and a statement timeout the test never reaches.
    const a = app({ dbConnections: 1, connectionWaitMs: 100, statementTimeoutMs: 120_000 });
    // bob's export starts while all is well: its body waits for bob to read.
    const started = await exportOf(a, bob);
    assert.equal(started.status, 200);
    const bobs = started.body!.getReader();

    // ann's first page takes the one connection and waits for the lock.
    unlock = await holdLock('tasks');
    const stuck = await exportOf(a, ann);
    assert.equal(stuck.status, 200);
    const anns = stuck.body!.getReader();
    assert.match(text(await anns.read()), HEADER);
    await waitFor('ann’s page to wait for the lock', async () => (await lockWaits()) === 1);

    // Nothing sent yet: cat's export answers with the error.
    const refused = await exportOf(a, cat);
    assert.equal(refused.status, 503);
    const body = (await refused.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'exports_busy');
    assert.match(body.error.message, /waited 0\.1 s for the database and got no turn: try again in a minute/);

    // bob's body has started: his next page waits for the connection in vain, and the body stops.
    assert.match(text(await bobs.read()), HEADER);
    await assert.rejects(bobs.read(), { code: 'exports_busy' });

    // All the while ann's page held the connection, waiting for the lock.
    assert.equal(await lockWaits(), 1);
    await release();
    let rest = '';
    for (let chunk = await anns.read(); !chunk.done; chunk = await anns.read()) rest += text(chunk);
    assert.equal(rest.split('\r\n').length, 3 + 1, 'three rows and the final CRLF');
  });
});
