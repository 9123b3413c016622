import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_RETRY_AFTER_MS } from '../../src/crawler/fetch-errors.ts';
import { getJob } from '../../src/queue/jobs.ts';
import { promoteDueRetries } from '../../src/queue/maintenance.ts';
import {
  claimTasks,
  completeTasks,
  enqueueUrls,
  extendLeases,
  failTasks,
  recoverExpiredLeases,
  releaseOrphanedTasks,
  releaseTasks,
} from '../../src/queue/tasks.ts';
import { testDatabase } from '../support/db.ts';
import { makeJob } from '../support/jobs.ts';

const db = await testDatabase();

async function claimOne(jobId: string, worker = 'w') {
  const claimed = (await claimTasks(db.sql, worker, 50)).filter((t) => t.job_id === jobId);
  assert.equal(claimed.length, 1, 'exactly one task of this job was claimable');
  return claimed[0]!;
}

/** Stands in for waiting: the retry becomes due now, and maintenance's promotion makes it claimable. */
async function makeDue(jobId: string) {
  await db.sql`update tasks set run_after = now() where job_id = ${jobId} and status = 'retrying'`;
  await promoteDueRetries(db.sql);
}

describe('leases and retries', () => {
  test('an expired lease is retried after a backoff, and fails once attempts are used up', async () => {
    const job = await makeJob(db.sql, { host: 'lease.example', maxAttempts: 2 });
    await enqueueUrls(db.sql, job, ['https://lease.example/']);
    await claimOne(job);
    await db.sql`update tasks set locked_until = now() - interval '1 second' where job_id = ${job}`;
    assert.deepEqual(await recoverExpiredLeases(db.sql), { recovered: 1, failed: 0 });
    let [task] =
      await db.sql`select status, attempts, locked_until, run_after > now() + interval '1 second' as waits
                              from tasks where job_id = ${job}`;
    // A page that kills its worker does not come straight back to kill the next one.
    assert.deepEqual({ ...task }, { status: 'retrying', attempts: 1, locked_until: null, waits: true });

    await makeDue(job);
    await claimOne(job);
    await db.sql`update tasks set locked_until = now() - interval '1 second' where job_id = ${job}`;
    assert.deepEqual(await recoverExpiredLeases(db.sql), { recovered: 0, failed: 1 });
    [task] = await db.sql`select status, error_code from tasks where job_id = ${job}`;
    assert.deepEqual({ ...task }, { status: 'failed', error_code: 'lease_expired' });
    assert.equal((await getJob(db.sql, job))?.status, 'completed');
  });

  test('a live lease is not recovered, and a heartbeat extends it', async () => {
    const job = await makeJob(db.sql, { host: 'heartbeat.example' });
    await enqueueUrls(db.sql, job, ['https://heartbeat.example/']);
    const task = await claimOne(job, 'hb');
    assert.deepEqual(await recoverExpiredLeases(db.sql), { recovered: 0, failed: 0 });
    assert.deepEqual(await extendLeases(db.sql, [{ id: task.id, attempts: task.attempts + 1 }], 300), []);
    assert.deepEqual(await extendLeases(db.sql, [task], 300), [task.id]);
    const [row] =
      await db.sql`select extract(epoch from locked_until - now())::int as secs from tasks where id = ${task.id}`;
    assert.ok((row?.secs as number) > 200);
  });

  test('retry backoff grows with each attempt and honours Retry-After as a floor', async () => {
    const job = await makeJob(db.sql, { host: 'backoff.example', maxAttempts: 5 });
    await enqueueUrls(db.sql, job, ['https://backoff.example/']);
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      const task = await claimOne(job);
      const [r] = await failTasks(db.sql, [
        { id: task.id, attempt: task.attempts, retryable: true, error_code: 'http_5xx', status_code: 503 },
      ]);
      assert.equal(r?.status, 'retrying');
      delays.push(r!.run_after.getTime() - Date.now());
      await makeDue(job);
    }
    for (let i = 1; i < delays.length; i++) {
      assert.ok(delays[i]! > delays[i - 1]!, `backoff grows: ${delays.join(', ')} ms`);
    }
    const task = await claimOne(job);
    const [r] = await failTasks(db.sql, [
      {
        id: task.id,
        attempt: task.attempts,
        retryable: true,
        error_code: 'http_429',
        retry_after_ms: 600_000,
      },
    ]);
    // Attempt 5 of 5 was used: no retry left, whatever Retry-After says.
    assert.equal(r?.status, 'failed');

    const job2 = await makeJob(db.sql, { host: 'retry-after.example' });
    await enqueueUrls(db.sql, job2, ['https://retry-after.example/']);
    const t2 = await claimOne(job2);
    const [r2] = await failTasks(db.sql, [
      { id: t2.id, attempt: t2.attempts, retryable: true, error_code: 'http_429', retry_after_ms: 120_000 },
    ]);
    assert.ok(r2!.run_after.getTime() - Date.now() > 100_000, 'Retry-After of 120 s is respected');
  });

  test('a permanent failure fails at once with its error stored', async () => {
    const job = await makeJob(db.sql, { host: 'perm.example' });
    await enqueueUrls(db.sql, job, ['https://perm.example/missing']);
    const task = await claimOne(job);
    const [r] = await failTasks(db.sql, [
      {
        id: task.id,
        attempt: 1,
        retryable: false,
        error_code: 'http_4xx',
        error_message: 'HTTP 404',
        status_code: 404,
      },
    ]);
    assert.equal(r?.status, 'failed');
    const [row] =
      await db.sql`select status, status_code, error_code, error_message, attempts from tasks where id = ${task.id}`;
    assert.deepEqual(
      { ...row },
      { status: 'failed', status_code: 404, error_code: 'http_4xx', error_message: 'HTTP 404', attempts: 1 },
    );
  });

  test('a stale attempt cannot overwrite the newer run of a task', async () => {
    const job = await makeJob(db.sql, { host: 'fence.example' });
    await enqueueUrls(db.sql, job, ['https://fence.example/']);
    const first = await claimOne(job, 'slow');
    await db.sql`update tasks set locked_until = now() - interval '1 second' where id = ${first.id}`;
    await recoverExpiredLeases(db.sql);
    await makeDue(job);
    const second = await claimOne(job, 'fast');
    assert.deepEqual(
      await completeTasks(db.sql, [{ id: first.id, attempt: first.attempts, status_code: 500 }]),
      [],
    );
    assert.deepEqual(
      await completeTasks(db.sql, [{ id: second.id, attempt: second.attempts, status_code: 200 }]),
      [second.id],
    );
    const [row] = await db.sql`select status, status_code from tasks where id = ${first.id}`;
    assert.deepEqual({ ...row }, { status: 'completed', status_code: 200 });
  });

  test('release hands a task back without counting the attempt, and attempts never go back', async () => {
    const job = await makeJob(db.sql, { host: 'release.example' });
    await enqueueUrls(db.sql, job, ['https://release.example/']);
    const task = await claimOne(job, 'leaving');
    assert.deepEqual(
      await releaseTasks(db.sql, [{ id: task.id, attempts: task.attempts + 1 }]),
      [],
      'fenced',
    );
    assert.deepEqual(await releaseTasks(db.sql, [task]), [task.id]);
    const [row] =
      await db.sql`select status, attempts, max_attempts, locked_by from tasks where id = ${task.id}`;
    // The attempt is the fencing token, so it stays; the task is allowed one more instead.
    assert.deepEqual({ ...row }, { status: 'pending', attempts: 1, max_attempts: 4, locked_by: null });
    const again = await claimOne(job);
    assert.equal(again.attempts, 2);
  });
});

describe('fencing and caps', () => {
  test('with the same task at two attempts in one batch, only the current attempt is written', async () => {
    const job = await makeJob(db.sql, { host: 'twice.example' });
    await enqueueUrls(db.sql, job, ['https://twice.example/']);
    const first = await claimOne(job, 'slow');
    await db.sql`update tasks set locked_until = now() - interval '1 second' where id = ${first.id}`;
    await recoverExpiredLeases(db.sql);
    await makeDue(job);
    const second = await claimOne(job, 'fast');
    assert.equal(second.attempts, first.attempts + 1);
    const applied = await completeTasks(db.sql, [
      { id: first.id, attempt: first.attempts, status_code: 500 },
      { id: second.id, attempt: second.attempts, status_code: 200 },
    ]);
    assert.deepEqual(applied, [second.id]);
    const [row] = await db.sql`select status, status_code from tasks where id = ${first.id}`;
    assert.deepEqual({ ...row }, { status: 'completed', status_code: 200 });
  });

  test('a Retry-After far in the future is capped, and never fails the batch it is in', async () => {
    const job = await makeJob(db.sql, { host: 'far.example', concurrency: 10 });
    await enqueueUrls(db.sql, job, [
      'https://far.example/a',
      'https://far.example/b',
      'https://far.example/c',
    ]);
    const [a, b, c] = await claimTasks(db.sql, 'w', 3, 30, [job]);
    const failed = await failTasks(db.sql, [
      // An HTTP-date years ahead (beyond a 32-bit integer of ms), and a day.
      { id: a!.id, attempt: a!.attempts, retryable: true, error_code: 'http_429', retry_after_ms: 3e11 },
      {
        id: b!.id,
        attempt: b!.attempts,
        retryable: true,
        error_code: 'http_5xx',
        retry_after_ms: 86_400_000,
      },
      { id: c!.id, attempt: c!.attempts, retryable: true, error_code: 'http_5xx', retry_after_ms: 30_000 },
    ]);
    assert.equal(failed.length, 3);
    const waits = Object.fromEntries(failed.map((f) => [f.id, f.run_after.getTime() - Date.now()]));
    assert.ok(
      waits[a!.id]! <= 121_000 && waits[b!.id]! <= 121_000,
      `capped at 120 s: ${JSON.stringify(waits)}`,
    );
    assert.ok(waits[c!.id]! >= 29_000, 'a Retry-After below the cap is honoured');
  });

  test("the SQL cap on Retry-After is the crawler's", async () => {
    const [row] = await db.sql<{ ms: number }[]>`select max_retry_after_ms() as ms`;
    assert.equal(row?.ms, MAX_RETRY_AFTER_MS);
  });

  test('the retry curve is e^n seconds with jitter, capped at 5 minutes', async () => {
    const rows = await db.sql<{ n: number; secs: number }[]>`
      select n, extract(epoch from retry_delay(n))::float8 as secs from generate_series(1, 12) n, generate_series(1, 20)`;
    for (const { n, secs } of rows) {
      const mean = Math.min(300, Math.exp(Math.min(n, 10)));
      assert.ok(secs >= mean * 0.75 - 0.001 && secs <= mean * 1.25 + 0.001, `retry ${n}: ${secs} s`);
    }
  });
});

describe('orphaned runs', () => {
  test('a claim whose answer was lost is handed back, the runs the worker holds are not', async () => {
    const job = await makeJob(db.sql, { host: 'orphans.example', concurrency: 10 });
    await enqueueUrls(db.sql, job, [
      'https://orphans.example/a',
      'https://orphans.example/b',
      'https://orphans.example/c',
    ]);
    const [held, ...lost] = await claimTasks(db.sql, 'lossy', 3, 30, [job]);
    const other = await makeJob(db.sql, { host: 'orphans-other.example' });
    await enqueueUrls(db.sql, other, ['https://orphans-other.example/']);
    const [someoneElses] = await claimTasks(db.sql, 'neighbour', 1, 30, [other]);
    const released = await releaseOrphanedTasks(db.sql, 'lossy', [held!.id]);
    assert.deepEqual(released.sort(), lost.map((t) => t.id).sort());
    const rows = await db.sql<{ id: number; status: string; spare: number }[]>`
      select id, status, max_attempts - attempts as spare from tasks
      where id in ${db.sql([held!.id, someoneElses!.id, ...lost.map((t) => t.id)])} order by id`;
    const byId = new Map(rows.map((r) => [r.id, r]));
    assert.equal(byId.get(held!.id)?.status, 'running');
    assert.equal(byId.get(someoneElses!.id)?.status, 'running', "another worker's run is not touched");
    for (const t of lost) assert.deepEqual({ ...byId.get(t.id) }, { id: t.id, status: 'pending', spare: 3 });
  });
});
