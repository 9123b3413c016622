import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { claimTasks, completeTasks, enqueueUrls } from '../../src/queue/tasks.ts';
import { testDatabase } from '../support/db.ts';
import { makeJob, urls } from '../support/jobs.ts';

const db = await testDatabase();

describe('claim_tasks', () => {
  test('claims only from running jobs, highest priority first, and sets the lease and attempts', async () => {
    const paused = await makeJob(db.sql, { start: false, host: 'paused.example' });
    await enqueueUrls(db.sql, paused, urls('paused.example', 5));
    const job = await makeJob(db.sql, { host: 'prio.example', concurrency: 10 });
    await enqueueUrls(
      db.sql,
      job,
      ['https://prio.example/low', 'https://prio.example/high', 'https://prio.example/mid'],
      {
        priorities: [1, 100, 50],
      },
    );
    const claimed = await claimTasks(db.sql, 'w1', 2, 30);
    assert.deepEqual(
      claimed.map((t) => t.url),
      ['https://prio.example/high', 'https://prio.example/mid'],
    );
    for (const task of claimed) {
      assert.equal(task.job_id, job);
      assert.equal(task.attempts, 1);
      const leaseMs = task.locked_until.getTime() - Date.now();
      assert.ok(leaseMs > 20_000 && leaseMs <= 31_000, `lease of about 30 s, got ${leaseMs} ms`);
    }
    const [paused_running] =
      await db.sql`select count(*)::int as n from tasks where job_id = ${paused} and status <> 'pending'`;
    assert.equal(paused_running?.n, 0);
  });

  test('tasks waiting for run_after are not claimed early', async () => {
    const job = await makeJob(db.sql, { host: 'later.example' });
    await enqueueUrls(db.sql, job, ['https://later.example/a']);
    await db.sql`update tasks set run_after = now() + interval '1 hour' where job_id = ${job}`;
    const claimed = await claimTasks(db.sql, 'w1', 10);
    assert.equal(claimed.filter((t) => t.job_id === job).length, 0);
  });

  test('8 concurrent claimers never get the same task, and per-job concurrency holds', async () => {
    const jobs: Array<{ id: string; concurrency: number }> = [];
    for (let i = 0; i < 6; i++) {
      const concurrency = 2 + i;
      const id = await makeJob(db.sql, { host: `load${i}.example`, concurrency, maxPages: 10_000 });
      await enqueueUrls(db.sql, id, urls(`load${i}.example`, 150));
      jobs.push({ id, concurrency });
    }
    const concurrencyOf = new Map(jobs.map((j) => [j.id, j.concurrency]));
    const pools = Array.from({ length: 8 }, () => db.connect(1));
    const seen = new Set<number>();
    let duplicates = 0;
    let violations = 0;
    let maxRunning = 0;

    // Each claimer claims, checks the running count of every job it touched, then completes what it got.
    await Promise.all(
      pools.map(async (pool, w) => {
        for (;;) {
          const claimed = await claimTasks(pool, `w${w}`, 7);
          if (claimed.length === 0) {
            const [left] = await pool`select count(*)::int as n from tasks t join jobs j on j.id = t.job_id
              where j.id in ${pool(jobs.map((j) => j.id))} and t.status <> 'completed'`;
            if (left?.n === 0) return;
            continue;
          }
          for (const t of claimed) {
            if (seen.has(t.id)) duplicates++;
            seen.add(t.id);
          }
          const running = await pool<{ job_id: string; n: number }[]>`
            select job_id, count(*)::int as n from tasks
            where status = 'running' and job_id in ${pool([...new Set(claimed.map((t) => t.job_id))])}
            group by job_id`;
          for (const r of running) {
            maxRunning = Math.max(maxRunning, r.n);
            if (r.n > concurrencyOf.get(r.job_id)!) violations++;
          }
          await completeTasks(
            pool,
            claimed.map((t) => ({ id: t.id, attempt: t.attempts, status_code: 200 })),
          );
        }
      }),
    );
    assert.equal(duplicates, 0, 'no task was handed to two claimers');
    assert.equal(seen.size, 6 * 150, 'every task was claimed');
    assert.equal(violations, 0, 'running tasks never exceeded a job concurrency');
    assert.ok(maxRunning >= 2, 'claimers really overlapped');
    const done = await db.sql<
      { status: string }[]
    >`select status from jobs where id in ${db.sql(jobs.map((j) => j.id))}`;
    assert.deepEqual(new Set(done.map((r) => r.status)), new Set(['completed']));
  });

  test('a job at its concurrency gets no more claims until a task finishes', async () => {
    const job = await makeJob(db.sql, { host: 'tight.example', concurrency: 3 });
    await enqueueUrls(db.sql, job, urls('tight.example', 10));
    const first = await claimTasks(db.sql, 'a', 10);
    const mine = first.filter((t) => t.job_id === job);
    assert.equal(mine.length, 3);
    assert.equal((await claimTasks(db.sql, 'b', 10)).filter((t) => t.job_id === job).length, 0);
    await completeTasks(db.sql, [{ id: mine[0]!.id, attempt: 1, status_code: 200 }]);
    assert.equal((await claimTasks(db.sql, 'b', 10)).filter((t) => t.job_id === job).length, 1);
  });
});
