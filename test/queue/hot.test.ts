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
  jobs: { upd: number; hot: number; read: number };
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
      return { tasks: of('tasks'), jobs: of('jobs') };
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
    assert.deepEqual(writes.jobs, { upd: 1, hot: 1, read: writes.jobs.read });
  });

  test("a claim's job row updates are HOT: nothing a claim changes (last_claimed_at, counters) is indexed", async () => {
    const organisationId = await createOrganisation(db.sql, 'Hot claims', 'operator');
    const jobs: string[] = [];
    for (let i = 0; i < 3; i++) {
      const host = `claim-hot${i}.example`;
      jobs.push(await makeJob(db.sql, { host, organisationId, concurrency: 2 }));
      await enqueueUrls(db.sql, jobs[i]!, urls(host, 4));
    }
    // Two claims, so last_claimed_at goes from null to a time and then to another.
    for (let round = 0; round < 2; round++) {
      let claimed = 0;
      const writes = await measured(async (tx) => {
        claimed = (await claimTasks(tx, 'w', 6, 30, jobs)).length;
      });
      assert.equal(claimed, 6, 'two tasks from each of the three jobs');
      assert.deepEqual(
        { upd: writes.jobs.upd, hot: writes.jobs.hot },
        { upd: 3, hot: 3 },
        `round ${round}: each job row updated once, in place`,
      );
      await db.sql`update tasks set status = 'pending', locked_until = null
                   where job_id in ${db.sql(jobs)} and status = 'running'`;
    }
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
        runs.map((t) => ({ id: t.id, attempt: t.attempts, retryable: true, error_code: 'http_5xx' })),
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

  test('what a claim reads of tasks does not grow with the number of running jobs', async () => {
    const organisationId = await createOrganisation(db.sql, 'Many jobs', 'operator');
    /** n running jobs with 5 ready tasks each (a claim of 5 fills from one), in a few statements. */
    const addJobs = async (tag: string, n: number) => {
      const made = await db.sql<{ id: string; root_url: string }[]>`
        insert into jobs (organisation_id, root_url, concurrency, max_pages)
        select ${organisationId}, 'https://' || ${tag} || i || '.example/', 5, 100 from generate_series(1, ${n}) i
        returning id, root_url`;
      await db.sql`update jobs set status = 'running', started_at = now() where id in ${db.sql(made.map((j) => j.id))}`;
      // 100 jobs per call: its NOTIFY payload names each job, and a payload holds at most 8,000 bytes.
      for (let i = 0; i < made.length; i += 100) {
        const chunk = made.slice(i, i + 100);
        const ids = chunk.flatMap((j) => [j.id, j.id, j.id, j.id, j.id]);
        const links = chunk.flatMap((j) => [1, 2, 3, 4, 5].map((k) => `${j.root_url}p${k}`));
        await db.sql`select count(*) from enqueue_tasks(${ids}::uuid[], ${links}::text[], 'link')`;
      }
      await db.sql`analyze jobs`;
      await db.sql`analyze tasks`;
    };
    const claimReads = async () => {
      let claimed = 0;
      const writes = await measured(async (tx) => {
        claimed = (await claimTasks(tx, 'w', 5, 30)).length;
      });
      assert.equal(claimed, 5);
      return writes;
    };
    await addJobs('few', 20);
    const few = await claimReads();
    await addJobs('many', 2000);
    const many = await claimReads();
    // The claimed rows, read through the claimable index and again to update them, and a few besides: the
    // same whatever the number of jobs (it used to probe each running job's tasks). The job rows themselves
    // are still read once each, to put them in last_claimed_at order (docs/queue.md).
    assert.ok(few.tasks.read <= 20, `read ${few.tasks.read} task rows with 20 running jobs`);
    assert.ok(many.tasks.read <= 20, `read ${many.tasks.read} task rows with 2,020 running jobs`);
  });
});
