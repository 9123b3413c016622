// Pruning is driven by finished jobs, not by the tasks table: with nothing to prune it reads no task, and a
// job whose tasks are gone is never looked at again.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Sql } from '../../src/db/client.ts';
import { cancelJob, getJob } from '../../src/queue/jobs.ts';
import { pruneTasks } from '../../src/queue/maintenance.ts';
import { enqueueUrls } from '../../src/queue/tasks.ts';
import { testDatabase } from '../support/db.ts';
import { makeJob, urls } from '../support/jobs.ts';

const db = await testDatabase();

/**
 * Runs prune_tasks and returns what it read from tasks, from the transaction's own statistics. On a fresh
 * connection: since PostgreSQL 15 those counters hold whatever the backend has not flushed yet, so an older
 * connection's would include its earlier statements.
 */
async function prunedWithReads(limit = 1000) {
  const fresh = db.connect(1);
  try {
    return (await fresh.begin(async (tx) => {
      const [row] = await tx<{ n: number }[]>`select prune_tasks(interval '30 days', ${limit}) as n`;
      const [reads] = await tx<{ seq_scan: number; seq_tup_read: number; idx_tup_fetch: number }[]>`
        select seq_scan::int, seq_tup_read::int, coalesce(idx_tup_fetch, 0)::int as idx_tup_fetch
        from pg_stat_xact_user_tables where relname = 'tasks'`;
      return { pruned: row!.n, ...reads! };
    })) as { pruned: number; seq_scan: number; seq_tup_read: number; idx_tup_fetch: number };
  } finally {
    await fresh.end();
  }
}

async function agedJob(sql: Sql, host: string, count: number): Promise<string> {
  const job = await makeJob(sql, { host, maxPages: 100_000 });
  await enqueueUrls(sql, job, urls(host, count));
  await cancelJob(sql, job);
  await sql`update jobs set completed_at = now() - interval '40 days' where id = ${job}`;
  return job;
}

describe('prune_tasks', () => {
  test('reads no task when nothing is due, however many tasks exist', async () => {
    const busy = await makeJob(db.sql, { host: 'busy.example', maxPages: 100_000 });
    for (let i = 0; i < 4; i++) await enqueueUrls(db.sql, busy, urls('busy.example', 2500, `b${i}-`));
    await db.sql`analyze tasks`;
    const reads = await prunedWithReads();
    assert.deepEqual(reads, { pruned: 0, seq_scan: 0, seq_tup_read: 0, idx_tup_fetch: 0 });
  });

  test('deletes in bounded batches through an index, then forgets the job', async () => {
    const old = await agedJob(db.sql, 'aged.example', 25);
    const first = await prunedWithReads(10);
    assert.equal(first.pruned, 10);
    assert.equal(first.seq_scan, 0, 'no sequential scan of tasks');
    assert.ok(first.idx_tup_fetch <= 20, `read ${first.idx_tup_fetch} task rows for 10 deletions`);
    assert.equal((await prunedWithReads(10)).pruned, 10);
    assert.equal((await prunedWithReads(10)).pruned, 5);
    const done = await prunedWithReads(10);
    assert.deepEqual(done, { pruned: 0, seq_scan: 0, seq_tup_read: 0, idx_tup_fetch: 0 });
    const job = (await getJob(db.sql, old))!;
    assert.equal(job.total_tasks, 25, 'the counters stay as the job record');
    const [mark] = await db.sql`select tasks_pruned_at is not null as pruned from jobs where id = ${old}`;
    assert.equal(mark?.pruned, true);
    assert.equal(await pruneTasks(db.sql, 30 * 86_400_000), 0);
  });

  test('locks the job before its tasks, and skips a job another transaction holds until a later pass', async () => {
    const held = await agedJob(db.sql, 'held-prune.example', 5);
    const holder = db.connect(1);
    const pruner = db.connect(1);
    // A pass must never wait on a job (it would take task locks before the job's, against the lock order).
    await pruner`set lock_timeout = '2s'`;
    await holder.begin(async (tx) => {
      await tx`select 1 from jobs where id = ${held} for no key update`;
      assert.equal(await pruneTasks(pruner, 30 * 86_400_000), 0, 'the held job is skipped');
    });
    const [left] = await db.sql<{ n: number }[]>`select count(*)::int as n from tasks where job_id = ${held}`;
    assert.equal(left?.n, 5, 'none of its tasks deleted while it was held');
    assert.equal(await pruneTasks(pruner, 30 * 86_400_000), 5, 'pruned on the next pass');
  });
});
