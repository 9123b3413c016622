// A job that stops (cancelled, failed as stalled) settles: the tasks still running finish or are skipped, no task
// of it goes back to pending, and its stats are computed once nothing of it is left in flight, so they always
// equal a recount of its tasks.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cancelJob, getJob, type JobStats } from '../../src/queue/jobs.ts';
import { failStalledJobs, skipStoppedJobsTasks } from '../../src/queue/maintenance.ts';
import {
  claimTasks,
  completeTasks,
  enqueueUrls,
  recoverExpiredLeases,
  releaseTasks,
} from '../../src/queue/tasks.ts';
import { testDatabase } from '../support/db.ts';
import { makeJob, urls } from '../support/jobs.ts';

const db = await testDatabase();

async function recount(jobId: string) {
  const [row] = await db.sql<{ stats: JobStats | null; fresh: JobStats }[]>`
    select stats, compute_job_stats(id) as fresh from jobs where id = ${jobId}`;
  return row!;
}

describe('a stopped job settles', () => {
  test('tasks of a cancelled job whose leases expire are skipped, not put back to pending', async () => {
    const job = await makeJob(db.sql, { host: 'expire.example', concurrency: 10 });
    await enqueueUrls(db.sql, job, urls('expire.example', 10));
    const claimed = await claimTasks(db.sql, 'w', 2, 30, [job]);
    await completeTasks(
      db.sql,
      (await claimTasks(db.sql, 'w', 8, 30, [job])).map((t) => ({
        id: t.id,
        attempt: t.attempts,
        status_code: 200,
      })),
    );
    assert.equal((await cancelJob(db.sql, job)).status, 'cancelled');
    await db.sql`update tasks set locked_until = now() - interval '1 second'
                 where id in ${db.sql(claimed.map((t) => t.id))}`;
    await recoverExpiredLeases(db.sql);
    const after = (await getJob(db.sql, job))!;
    assert.deepEqual(
      {
        status: after.status,
        pending: after.pending_tasks,
        running: after.running_tasks,
        progress: after.progress,
      },
      { status: 'cancelled', pending: 0, running: 0, progress: '100.00' },
    );
    const { stats, fresh } = await recount(job);
    assert.deepEqual(stats, fresh, 'the stats equal a recount');
  });

  test('tasks a worker hands back after the job was cancelled are skipped, not put back to pending', async () => {
    const job = await makeJob(db.sql, { host: 'release-cancelled.example', concurrency: 10 });
    await enqueueUrls(db.sql, job, urls('release-cancelled.example', 5));
    const running = await claimTasks(db.sql, 'w', 3, 30, [job]);
    assert.equal((await cancelJob(db.sql, job)).status, 'cancelled');
    const released = await releaseTasks(db.sql, running);
    assert.deepEqual(
      new Set(released),
      new Set(running.map((t) => t.id)),
      'each run was still held and handed back',
    );
    const rows = await db.sql<{ status: string; max_attempts: number }[]>`
      select status, max_attempts from tasks where id in ${db.sql(running.map((t) => t.id))}`;
    assert.deepEqual(
      rows.map((r) => r.status),
      running.map(() => 'skipped'),
    );
    const after = (await getJob(db.sql, job))!;
    assert.deepEqual(
      {
        status: after.status,
        pending: after.pending_tasks,
        running: after.running_tasks,
        skipped: after.skipped_tasks,
      },
      { status: 'cancelled', pending: 0, running: 0, skipped: 5 },
    );
    assert.equal((await claimTasks(db.sql, 'w', 10, 30, [job])).length, 0, 'nothing of it is claimable');
    const { stats, fresh } = await recount(job);
    assert.equal(stats?.pages.skipped, 5, 'settled once the last run was handed back');
    assert.deepEqual(stats, fresh);
  });

  test('a job failed as stalled settles with stats equal to a recount once its last running task ends', async () => {
    const job = await makeJob(db.sql, { host: 'stalled-stats.example', concurrency: 10 });
    await enqueueUrls(db.sql, job, urls('stalled-stats.example', 6));
    const running = await claimTasks(db.sql, 'w', 3, 30, [job]);
    await completeTasks(db.sql, [{ id: running[0]!.id, attempt: running[0]!.attempts, status_code: 200 }]);
    await db.sql`update jobs set last_progress_at = now() - interval '2 hours' where id = ${job}`;
    assert.equal(await failStalledJobs(db.sql, 3_600_000), 1);
    let row = (await getJob(db.sql, job))!;
    assert.deepEqual(
      { status: row.status, skipped: row.skipped_tasks, running: row.running_tasks, stats: row.stats },
      { status: 'failed', skipped: 3, running: 2, stats: null },
      'its pending tasks skipped; the stats wait for the two still running',
    );
    // One result lands after the job failed, the other run's lease expires.
    await completeTasks(db.sql, [{ id: running[1]!.id, attempt: running[1]!.attempts, status_code: 200 }]);
    await db.sql`update tasks set locked_until = now() - interval '1 second' where id = ${running[2]!.id}`;
    await recoverExpiredLeases(db.sql);
    row = (await getJob(db.sql, job))!;
    assert.deepEqual(
      {
        status: row.status,
        completed: row.completed_tasks,
        skipped: row.skipped_tasks,
        running: row.running_tasks,
      },
      { status: 'failed', completed: 2, skipped: 4, running: 0 },
    );
    const { stats, fresh } = await recount(job);
    assert.ok(stats, 'computed once the last running task ended');
    assert.deepEqual({ ok: stats.pages.ok, skipped: stats.pages.skipped }, { ok: 2, skipped: 4 });
    assert.deepEqual(stats, fresh);
  });

  test('the stats of a cancelled job count its skipped tasks and the results that landed after the cancel', async () => {
    const job = await makeJob(db.sql, { host: 'cancel-stats.example', concurrency: 2 });
    await enqueueUrls(db.sql, job, urls('cancel-stats.example', 10));
    const running = await claimTasks(db.sql, 'w', 2, 30, [job]);
    const cancelled = await cancelJob(db.sql, job);
    assert.equal(cancelled.skipped_tasks, 8);
    await completeTasks(
      db.sql,
      running.map((t) => ({ id: t.id, attempt: t.attempts, status_code: 200 })),
    );
    const { stats, fresh } = await recount(job);
    assert.ok(stats, 'computed once the last running task ended');
    assert.equal(stats.pages.skipped, 8);
    assert.equal(stats.pages.ok, 2);
    assert.deepEqual(stats, fresh);
  });
});

describe('cancelling is cheap', () => {
  test('a cancel skips a bounded first batch; maintenance skips the rest, then the stats come', async () => {
    const job = await makeJob(db.sql, { host: 'big-cancel.example', maxPages: 100_000 });
    for (let i = 0; i < 3; i++) await enqueueUrls(db.sql, job, urls('big-cancel.example', 1000, `c${i}-`));
    const [limit] = await db.sql<{ n: number }[]>`select inline_skip_limit() as n`;
    const fresh = db.connect(1);
    const updated = (await fresh.begin(async (tx) => {
      await tx`select cancel_job(${job})`;
      const [row] = await tx<{ n: number }[]>`
        select n_tup_upd::int as n from pg_stat_xact_user_tables where relname = 'tasks'`;
      return row!.n;
    })) as number;
    await fresh.end();
    assert.equal(updated, limit!.n, 'the cancel itself touched only the first batch');
    let row = (await getJob(db.sql, job))!;
    assert.deepEqual(
      { status: row.status, skipped: row.skipped_tasks, pending: row.pending_tasks, stats: row.stats },
      { status: 'cancelled', skipped: limit!.n, pending: 3000 - limit!.n, stats: null },
    );
    assert.equal((await claimTasks(db.sql, 'w', 10, 30, [job])).length, 0, 'nothing of it is claimed');
    while ((await skipStoppedJobsTasks(db.sql, 700)) > 0) {}
    row = (await getJob(db.sql, job))!;
    assert.equal(row.skipped_tasks, 3000);
    const { stats, fresh: recounted } = await recount(job);
    assert.equal(stats?.pages.skipped, 3000);
    assert.deepEqual(stats, recounted);
  });
});
