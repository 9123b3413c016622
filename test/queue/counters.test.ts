import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cancelJob, getJob } from '../../src/queue/jobs.ts';
import { promoteDueRetries } from '../../src/queue/maintenance.ts';
import {
  claimTasks,
  completeTasks,
  enqueueUrls,
  failTasks,
  recoverExpiredLeases,
  releaseTasks,
} from '../../src/queue/tasks.ts';
import { testDatabase } from '../support/db.ts';
import { makeJob, urls } from '../support/jobs.ts';
import { mulberry32 } from '../support/random.ts';

const db = await testDatabase();

interface Mismatch {
  job: string;
  counters: Record<string, number>;
  recount: Record<string, number>;
}

async function mismatches(jobIds: string[]): Promise<Mismatch[]> {
  const rows = await db.sql<
    Array<{ id: string; counters: Record<string, number>; recount: Record<string, number> }>
  >`
    select j.id,
      jsonb_build_object('total', j.total_tasks, 'pending', j.pending_tasks, 'running', j.running_tasks,
        'retrying', j.retrying_tasks, 'completed', j.completed_tasks, 'failed', j.failed_tasks,
        'skipped', j.skipped_tasks) as counters,
      jsonb_build_object('total', count(t.id), 'pending', count(*) filter (where t.status = 'pending'),
        'retrying', count(*) filter (where t.status = 'retrying'),
        'running', count(*) filter (where t.status = 'running'),
        'completed', count(*) filter (where t.status = 'completed'),
        'failed', count(*) filter (where t.status = 'failed'),
        'skipped', count(*) filter (where t.status = 'skipped')) as recount
    from jobs j left join tasks t on t.job_id = j.id
    where j.id in ${db.sql(jobIds)}
    group by j.id`;
  return rows
    .filter((r) => JSON.stringify(r.counters) !== JSON.stringify(r.recount))
    .map((r) => ({ job: r.id, counters: r.counters, recount: r.recount }));
}

describe('job counters', () => {
  test('after a long randomized sequence of operations the counters equal a COUNT(*) recount', async () => {
    const seed = Number(process.env.BBB_TEST_SEED ?? Date.now() % 1_000_000);
    const rand = mulberry32(seed);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const jobs = [
      await makeJob(db.sql, { host: 'r0.example', concurrency: 3, maxPages: 120, maxAttempts: 3 }),
      await makeJob(db.sql, { host: 'r1.example', concurrency: 5, maxPages: 80, maxAttempts: 2 }),
      await makeJob(db.sql, { host: 'r2.example', concurrency: 8, maxPages: 200, maxAttempts: 4 }),
    ];
    const cancelled = new Set<string>();
    const ops: Record<string, number> = {};
    for (let step = 0; step < 400; step++) {
      const r = rand();
      const job = pick(jobs);
      const host = `r${jobs.indexOf(job)}.example`;
      let op: string;
      if (r < 0.25) {
        op = 'enqueue';
        const n = 1 + Math.floor(rand() * 20);
        await enqueueUrls(db.sql, job, urls(host, n, String(Math.floor(rand() * 15))), { source: 'link' });
      } else if (r < 0.5) {
        op = 'claim';
        await claimTasks(db.sql, pick(['a', 'b', 'c']), 1 + Math.floor(rand() * 10));
      } else if (r < 0.68) {
        op = 'complete';
        const running = await db.sql<{ id: number; attempts: number }[]>`
          select id, attempts from tasks where status = 'running' and random() < 0.6`;
        await completeTasks(
          db.sql,
          running.map((t) => ({ id: t.id, attempt: t.attempts, status_code: 200 })),
        );
      } else if (r < 0.8) {
        op = 'fail';
        const running = await db.sql<{ id: number; attempts: number }[]>`
          select id, attempts from tasks where status = 'running' and random() < 0.5`;
        await failTasks(
          db.sql,
          running.map((t) => ({
            id: t.id,
            attempt: t.attempts,
            retryable: rand() < 0.7,
            error_code: 'http_5xx',
          })),
        );
        await db.sql`update tasks set run_after = now() where status = 'retrying' and random() < 0.5`;
        await promoteDueRetries(db.sql);
      } else if (r < 0.9) {
        op = 'recover';
        await db.sql`update tasks set locked_until = now() - interval '1 second'
                     where status = 'running' and random() < 0.4`;
        await recoverExpiredLeases(db.sql);
      } else if (r < 0.97) {
        op = 'release';
        const running = await db.sql<{ id: number; attempts: number }[]>`
          select id, attempts from tasks where status = 'running' and random() < 0.3`;
        await releaseTasks(db.sql, running);
      } else {
        op = 'cancel';
        if (cancelled.size < 2) {
          // Cancelling a job that already completed is a no-op; only a real cancel must stick.
          if ((await cancelJob(db.sql, job)).status === 'cancelled') cancelled.add(job);
        }
      }
      ops[op] = (ops[op] ?? 0) + 1;
      if (step % 50 === 49) {
        assert.deepEqual(await mismatches(jobs), [], `counters drifted by step ${step} (seed ${seed})`);
      }
    }
    assert.deepEqual(await mismatches(jobs), [], `seed ${seed}`);
    for (const id of jobs) {
      const job = (await getJob(db.sql, id))!;
      if (cancelled.has(id)) assert.equal(job.status, 'cancelled', 'a cancelled job stays cancelled');
      else if (job.status === 'running') {
        assert.ok(
          job.pending_tasks + job.retrying_tasks + job.running_tasks > 0,
          'a running job with nothing left would be completed',
        );
      }
    }
    assert.ok(Object.keys(ops).length >= 6, `every kind of operation ran: ${JSON.stringify(ops)}`);
  });

  test('a batch of 100 completions updates its job row once', async () => {
    const job = await makeJob(db.sql, { host: 'batch.example', concurrency: 100 });
    await enqueueUrls(db.sql, job, urls('batch.example', 101));
    const claimed = (await claimTasks(db.sql, 'w', 100)).filter((t) => t.job_id === job);
    assert.equal(claimed.length, 100);
    const updates = await db.sql.begin(async (tx) => {
      const [before] = await tx`select pg_stat_get_xact_tuples_updated('public.jobs'::regclass)::int as n`;
      await tx`select * from complete_tasks(${tx.json(claimed.map((t) => ({ id: t.id, attempt: t.attempts, status_code: 200 })))})`;
      const [afterRow] = await tx`select pg_stat_get_xact_tuples_updated('public.jobs'::regclass)::int as n`;
      return (afterRow?.n as number) - (before?.n as number);
    });
    assert.equal(updates, 1);
    const row = await getJob(db.sql, job);
    assert.equal(row?.completed_tasks, 100);
    assert.equal(row?.status, 'running', 'one task is still pending');
    assert.equal(row?.progress, '99.01');
  });

  test('a job completes when nothing is pending or running, and a cancelled job is never overwritten', async () => {
    const job = await makeJob(db.sql, { host: 'done.example' });
    await enqueueUrls(db.sql, job, urls('done.example', 2));
    const claimed = (await claimTasks(db.sql, 'w', 10)).filter((t) => t.job_id === job);
    await completeTasks(db.sql, [{ id: claimed[0]!.id, attempt: 1, status_code: 200 }]);
    assert.equal((await getJob(db.sql, job))?.status, 'running');
    await failTasks(db.sql, [{ id: claimed[1]!.id, attempt: 1, retryable: false, error_code: 'http_4xx' }]);
    const done = await getJob(db.sql, job);
    assert.equal(done?.status, 'completed');
    assert.ok(done?.completed_at instanceof Date);

    const other = await makeJob(db.sql, { host: 'cancel.example' });
    await enqueueUrls(db.sql, other, urls('cancel.example', 3));
    const running = (await claimTasks(db.sql, 'w', 10)).filter((t) => t.job_id === other);
    const cancelledJob = await cancelJob(db.sql, other);
    assert.equal(cancelledJob.status, 'cancelled');
    assert.equal(cancelledJob.skipped_tasks, 0, 'all three were running, none pending');
    await completeTasks(
      db.sql,
      running.map((t) => ({ id: t.id, attempt: t.attempts, status_code: 200 })),
    );
    const after = await getJob(db.sql, other);
    assert.equal(after?.status, 'cancelled');
    assert.equal(after?.completed_tasks, 3);
  });
});
