// What the hot paths write and read: a heartbeat is a HOT update (no index entry), a claim reads no task that
// waits to retry, and the counters of a claim or result batch update their job row in place.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Queryable } from '../../src/db/client.ts';
import { createOrganisation } from '../../src/queue/jobs.ts';
import { claimTasks, completeTasks, enqueueUrls, extendLeases, failTasks } from '../../src/queue/tasks.ts';
import { testDatabase } from '../support/db.ts';
import { makeJob, urls } from '../support/jobs.ts';

const db = await testDatabase();

interface Writes {
  tasks: { upd: number; hot: number; read: number };
  jobs: { upd: number; hot: number };
}

/** Runs `fn` in a transaction on a fresh connection and returns its own table statistics (see prune.test.ts). */
async function measured(fn: (tx: Queryable) => Promise<unknown>): Promise<Writes> {
  const fresh = db.connect(1);
  try {
    return (await fresh.begin(async (tx) => {
      await fn(tx);
      const rows = await tx<{ relname: string; upd: number; hot: number; read: number }[]>`
        select relname, n_tup_upd::int as upd, n_tup_hot_upd::int as hot,
          (coalesce(idx_tup_fetch, 0) + seq_tup_read)::int as read
        from pg_stat_xact_user_tables where relname in ('tasks', 'jobs')`;
      const of = (name: string) => {
        const { upd = 0, hot = 0, read = 0 } = rows.find((r) => r.relname === name) ?? {};
        return { upd, hot, read };
      };
      return { tasks: of('tasks'), jobs: { upd: of('jobs').upd, hot: of('jobs').hot } };
    })) as Writes;
  } finally {
    await fresh.end();
  }
}

describe('hot paths', () => {
  test('a heartbeat is a HOT update and touches no job row', async () => {
    const job = await makeJob(db.sql, { host: 'beat.example', concurrency: 20 });
    await enqueueUrls(db.sql, job, urls('beat.example', 20));
    const runs = await claimTasks(db.sql, 'w', 20, 30, [job]);
    // HOT needs room on the page: vacuum returns the space of the versions the claim left behind, as
    // autovacuum and page pruning do between beats in a running system.
    await db.sql`vacuum tasks`;
    const writes = await measured((tx) => extendLeases(tx, runs, 60));
    assert.deepEqual(writes.tasks, { upd: 20, hot: 20, read: writes.tasks.read });
    assert.equal(writes.jobs.upd, 0);
  });

  test('the counters of a result batch update the job row once, in place', async () => {
    const job = await makeJob(db.sql, { host: 'counters-hot.example', concurrency: 20 });
    await enqueueUrls(db.sql, job, urls('counters-hot.example', 21));
    const runs = await claimTasks(db.sql, 'w', 20, 30, [job]);
    const writes = await measured((tx) =>
      completeTasks(
        tx,
        runs.map((t) => ({ id: t.id, attempt: t.attempts, status_code: 200 })),
      ),
    );
    assert.deepEqual(writes.jobs, { upd: 1, hot: 1 });
  });

  test('a claim reads no task that waits to retry', async () => {
    // On the operator plan: no daily quota stops the 2,000 claims.
    const organisationId = await createOrganisation(db.sql, 'No quota', 'operator');
    const job = await makeJob(db.sql, {
      host: 'backoff-read.example',
      organisationId,
      concurrency: 200,
      maxPages: 100_000,
    });
    await enqueueUrls(db.sql, job, urls('backoff-read.example', 2000));
    for (let i = 0; i < 10; i++) {
      const runs = await claimTasks(db.sql, 'w', 200, 30, [job]);
      await failTasks(
        db.sql,
        runs.map((t) => ({ id: t.id, attempt: t.attempts, retryable: true, error_code: 'http_503' })),
      );
    }
    await enqueueUrls(db.sql, job, urls('backoff-read.example', 5, 'ready-'));
    await db.sql`analyze tasks`;
    let claimed = 0;
    const writes = await measured(async (tx) => {
      claimed = (await claimTasks(tx, 'w', 5, 30, [job])).length;
    });
    assert.equal(claimed, 5);
    // The 5 claimed rows, read through the claimable index and again to update them, and a few besides:
    // nothing like the 2,000 waiting.
    assert.ok(writes.tasks.read <= 20, `read ${writes.tasks.read} task rows`);
  });
});
