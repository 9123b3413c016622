// The queue's one lock order (jobs by id, then tasks by id, then pages and usage rows in key order) holds for
// every function, so no mix of concurrent writers, claimers, cancellations and lease recovery can deadlock.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Sql } from '../../src/db/client.ts';
import { createOrganisation } from '../../src/queue/jobs.ts';
import {
  claimTasks,
  completeTasks,
  enqueueUrls,
  recoverExpiredLeases,
  writeTaskResults,
} from '../../src/queue/tasks.ts';
import { testDatabase } from '../support/db.ts';
import { makeJob, urls } from '../support/jobs.ts';
import { createUser } from '../support/tenants.ts';

const db = await testDatabase({ max: 16 });

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

  test('claims that span several organisations and creators, in different orders, never deadlock', async () => {
    // Four organisations of two creators, three jobs each. Concurrency 2 and batches of 8 make each claim take
    // from about four jobs, and the jobs served longest ago come first, so each claimer meets the
    // organisations in its own order. Every claim counts first claims into the usage rows of the
    // organisations and creators it took from: two claims waiting on those rows in opposite orders deadlock.
    const creators = [await createUser(db.sql), await createUser(db.sql)];
    const jobs: string[] = [];
    const orgs: string[] = [];
    const orgOf = new Map<string, string>();
    for (let o = 0; o < 4; o++) {
      const org = await createOrganisation(db.sql, `Usage ${o}`, 'operator');
      await db.sql`update organisations set created_by = ${creators[o % 2]!.id} where id = ${org}`;
      orgs.push(org);
      for (let j = 0; j < 3; j++) {
        const host = `usage${o}-${j}.example`;
        const id = await makeJob(db.sql, { host, organisationId: org, concurrency: 2, maxPages: 1000 });
        await enqueueUrls(db.sql, id, urls(host, 40));
        jobs.push(id);
        orgOf.set(id, org);
      }
    }
    // Each usage row write takes a couple of milliseconds, as under load: on an idle test server the gap
    // between two upserts of one claim is microseconds, too short for claims in opposite orders to meet.
    await db.sql.unsafe(`
      create function test_slow_usage() returns trigger language plpgsql as $$
      begin perform pg_sleep(0.002); return new; end $$;
      create trigger test_slow_usage before insert or update on organisation_page_usage
        for each row execute function test_slow_usage();
      create trigger test_slow_usage before insert or update on owner_page_usage
        for each row execute function test_slow_usage();`);
    const pools: Sql[] = Array.from({ length: 12 }, () => db.connect(1));
    let deadlocks = 0;
    let claims = 0;
    const spans: number[] = [];
    await Promise.all(
      pools.map(async (pool, w) => {
        for (;;) {
          let claimed: Awaited<ReturnType<typeof claimTasks>>;
          try {
            claimed = await claimTasks(pool, `c${w}`, 8, 30, jobs);
          } catch (err) {
            if (!isDeadlock(err)) throw err;
            deadlocks++;
            continue;
          }
          if (claimed.length === 0) {
            const [left] = await pool<{ n: number }[]>`
              select count(*)::int as n from tasks where job_id in ${pool(jobs)} and status <> 'completed'`;
            if (left!.n === 0) return;
            continue;
          }
          claims++;
          spans.push(new Set(claimed.map((t) => orgOf.get(t.job_id))).size);
          await completeTasks(
            pool,
            claimed.map((t) => ({ id: t.id, attempt: t.attempts, status_code: 200 })),
          );
        }
      }),
    );
    assert.equal(deadlocks, 0, `${deadlocks} deadlock(s) in ${claims} claims`);
    const multi = spans.filter((n) => n >= 2).length;
    assert.ok(multi >= 10, `${multi} of ${claims} claims took from several organisations`);
    // Every first claim counted once, into its organisation's row and its creator's.
    const usage = await db.sql<{ organisation_id: string; pages: number }[]>`
      select organisation_id, pages from organisation_page_usage where organisation_id in ${db.sql(orgs)}`;
    assert.deepEqual(
      orgs.map((o) => usage.find((u) => u.organisation_id === o)?.pages),
      orgs.map(() => 3 * 40),
    );
    const owners = await db.sql<{ pages: number }[]>`
      select pages from owner_page_usage where owner_id in ${db.sql(creators.map((c) => c.id))}`;
    assert.deepEqual(
      owners.map((r) => r.pages),
      [2 * 3 * 40, 2 * 3 * 40],
    );
  });
});
