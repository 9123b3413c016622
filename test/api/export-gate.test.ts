// The export limits on their own, without a database: admission per user and per process (429s in the API's
// error shape), the connection budget's semaphore, and how the budget is fitted to the pool.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApiError } from '../../src/api/errors.ts';
import { ExportGate, Semaphore, WaitTimeout } from '../../src/api/jobs/export-gate.ts';
import { EXPORT_LIMITS, type ExportLimits, exportLimits } from '../../src/api/jobs/export-limits.ts';
import type { Sql } from '../../src/db/client.ts';

const limits = (overrides: Partial<ExportLimits>): ExportLimits => ({ ...EXPORT_LIMITS, ...overrides });
const pool = (max: number) => ({ options: { max } }) as unknown as Sql;

function refusal(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ApiError);
    return err;
  }
  assert.fail('expected a refusal');
}

/** A promise and the function that settles it, so a test decides when work finishes. */
function deferred() {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('ExportGate.admit', () => {
  test('a user gets perUser slots, then a 429 that says so; a slot given back can be taken again', () => {
    const gate = new ExportGate(limits({ perUser: 2, perProcess: 10 }));
    const first = gate.admit('ann');
    gate.admit('ann');
    const err = refusal(() => gate.admit('ann'));
    assert.equal(err.status, 429);
    assert.equal(err.code, 'too_many_exports');
    assert.equal(
      err.message,
      'a user may run 2 exports at once and you have 2 running: wait for one to finish, then try again',
    );
    gate.admit('bob'); // another user is not held back by ann's exports
    first();
    gate.admit('ann');
  });

  test('the process gets perProcess slots across users, then a 429 naming the server’s limit', () => {
    const gate = new ExportGate(limits({ perUser: 5, perProcess: 3 }));
    const releases = [gate.admit('ann'), gate.admit('bob'), gate.admit('cat')];
    const err = refusal(() => gate.admit('dan'));
    assert.equal(err.status, 429);
    assert.equal(err.code, 'too_many_exports');
    assert.match(err.message, /^the server is running its maximum of 3 exports/);
    releases[1]!();
    gate.admit('dan');
  });

  test('giving a slot back twice frees it once', () => {
    const gate = new ExportGate(limits({ perUser: 1, perProcess: 2 }));
    const release = gate.admit('ann');
    gate.admit('bob');
    release();
    release();
    gate.admit('ann');
    // Had the second call freed bob's or another slot, a third export would fit.
    assert.equal(refusal(() => gate.admit('cat')).status, 429);
    assert.equal(refusal(() => gate.admit('ann')).status, 429);
  });
});

describe('Semaphore', () => {
  test('runs at most `permits` at once; the others start in arrival order as permits free up', async () => {
    const semaphore = new Semaphore(2);
    const started: number[] = [];
    const work = [deferred(), deferred(), deferred(), deferred()];
    const runs = work.map((w, i) =>
      semaphore.run(async () => {
        started.push(i);
        await w.promise;
        return i;
      }),
    );
    await Promise.resolve();
    assert.deepEqual(started, [0, 1]);
    work[1]!.resolve();
    assert.equal(await runs[1], 1);
    assert.deepEqual(started, [0, 1, 2]);
    work[0]!.reject(new Error('page failed'));
    await assert.rejects(runs[0]!, /page failed/);
    assert.deepEqual(started, [0, 1, 2, 3], 'a failure gives its permit back too');
    work[2]!.resolve();
    work[3]!.resolve();
    assert.deepEqual(await Promise.all(runs.slice(2)), [2, 3]);
    // All permits are free again.
    const again = [deferred(), deferred()];
    const both = again.map((w) => semaphore.run(() => w.promise));
    for (const w of again) w.resolve();
    await Promise.all(both);
  });
});

describe('Semaphore waits', () => {
  test('a wait that runs out throws WaitTimeout and leaves the queue; its work never runs', async () => {
    const semaphore = new Semaphore(1);
    const held = deferred();
    const holder = semaphore.run(() => held.promise);
    const later = deferred();
    let ran = 0;
    // Queued ahead of a patient caller, gives up first; the patient one is next when the permit comes back.
    const impatient = semaphore.run(async () => {
      ran++;
    }, 1);
    const patient = semaphore.run(async () => {
      await later.promise;
      return 'patient';
    });
    await assert.rejects(impatient, WaitTimeout);
    held.resolve();
    await holder;
    later.resolve();
    assert.equal(await patient, 'patient');
    assert.equal(ran, 0);
    // One permit, free again: had the lapsed waiter kept its place, it would now hold it.
    assert.equal(await semaphore.run(async () => 'free', 1), 'free');
  });

  test('the gate turns a lapsed wait into a 503 exports_busy naming the wait', async () => {
    const gate = new ExportGate(limits({ dbConnections: 1, connectionWaitMs: 1 }));
    const held = deferred();
    const holder = gate.withConnection(() => held.promise);
    await assert.rejects(
      gate.withConnection(async () => {}),
      (err: unknown) => {
        assert.ok(err instanceof ApiError);
        assert.equal(err.status, 503);
        assert.equal(err.code, 'exports_busy');
        assert.match(err.message, /waited 0\.001 s for the database and got no turn/);
        return true;
      },
    );
    held.resolve();
    await holder;
  });
});

describe('exportLimits', () => {
  test('overrides apply; the exports’ connections always leave one of the pool to API requests', () => {
    assert.deepEqual(exportLimits(pool(10)), EXPORT_LIMITS);
    assert.equal(exportLimits(pool(10), { idleTimeoutMs: 50 }).idleTimeoutMs, 50);
    assert.equal(exportLimits(pool(10), { dbConnections: 9 }).dbConnections, 9);
    assert.equal(exportLimits(pool(10), { dbConnections: 10 }).dbConnections, 9);
    assert.equal(exportLimits(pool(2)).dbConnections, 1);
    // A pool of one cannot keep a connection apart; the exports share it, a page at a time.
    assert.equal(exportLimits(pool(1)).dbConnections, 1);
  });
});
