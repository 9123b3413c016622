// The queue's one lock order (jobs by id, then tasks by id, then pages and usage rows in key order) holds for
// every function, so no mix of concurrent writers, claimers, cancellations and lease recovery can deadlock.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Sql } from '../../src/db/client.ts';
import { claimTasks, enqueueUrls, recoverExpiredLeases, writeTaskResults } from '../../src/queue/tasks.ts';
import { testDatabase } from '../support/db.ts';
import { makeJob, urls } from '../support/jobs.ts';

const db = await testDatabase();

const isDeadlock = (err: unknown) => (err as { code?: string }).code === '40P01';

describe('lock order', () => {
  test('writers whose batches span several jobs, and lease recovery, never deadlock', async () => {
    const jobs: string[] = [];
    for (let i = 0; i < 4; i++) {
      const id = await makeJob(db.sql, { host: `lock${i}.example`, concurrency: 200, maxPages: 100_000 });
      await enqueueUrls(db.sql, id, urls(`lock${i}.example`, 120));
      jobs.push(id);
    }
    jobs.sort();
    const pools: Sql[] = Array.from({ length: 8 }, () => db.connect(1));
    let deadlocks = 0;
    let writes = 0;
    for (let round = 0; round < 12; round++) {
      const claimed = await claimTasks(db.sql, 'w', 400);
      assert.ok(claimed.length > 0, 'tasks to write');
      // Each writer completes tasks of one job and adds links to another: the links lock one job, the
      // completions the other, in opposite orders for neighbouring writers.
      const byJob = new Map<string, typeof claimed>();
      for (const t of claimed) byJob.set(t.job_id, [...(byJob.get(t.job_id) ?? []), t]);
      await db.sql`update tasks set locked_until = now() - interval '1 second'
                   where status = 'running' and id % 7 = ${round % 7}`;
      const work = pools.map(async (pool, w) => {
        const resultJob = jobs[w % jobs.length]!;
        const linkJob = jobs[(w + 1 + (round % 3)) % jobs.length]!;
        const mine = (byJob.get(resultJob) ?? []).filter((_, i) => i % 2 === Math.floor(w / jobs.length));
        const links = urls(`lock${jobs.indexOf(linkJob)}.example`, 5, `r${round}w${w}-`).map((url) => ({
          jobId: linkJob,
          url,
          foundOn: null,
          depth: 1,
          priority: 0,
        }));
        try {
          await writeTaskResults(
            pool,
            links,
            mine.map((t) => ({ id: t.id, attempt: t.attempts, status_code: 200 })),
            [],
          );
          writes++;
        } catch (err) {
          if (isDeadlock(err)) deadlocks++;
          else throw err;
        }
      });
      // Lease recovery runs alongside, on leases expired just before (by hand, outside the lock order, so
      // not concurrently with the writers).
      const recovery = (async () => {
        try {
          await recoverExpiredLeases(pools[0]!);
        } catch (err) {
          if (isDeadlock(err)) deadlocks++;
          else throw err;
        }
      })();
      await Promise.all([...work, recovery]);
    }
    assert.equal(deadlocks, 0, `${deadlocks} deadlock(s) in ${writes} writes`);
    assert.ok(writes >= 12 * 8 - 1, 'the writers really ran');
  });
});
