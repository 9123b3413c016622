// A randomised model test of the queue: many actors on their own connections claim, write multi-job result
// batches (completions with links, retryable and permanent failures), heartbeat, crash (drop their runs and let
// short leases expire), recover leases, promote retries, cancel, skip, complete idle and stalled jobs, all at
// once. After every step the invariants are checked on one snapshot, and at the end every job settles.
// BBB_TEST_SEED replays a run.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Sql } from '../../src/db/client.ts';
import { cancelJob, createOrganisation, type JobStats } from '../../src/queue/jobs.ts';
import {
  completeIdleJobs,
  failStalledJobs,
  promoteDueRetries,
  recoverExpiredLeases,
  skipStoppedJobsTasks,
} from '../../src/queue/maintenance.ts';
import {
  type ClaimedTask,
  claimTasks,
  enqueueUrls,
  extendLeases,
  releaseTasks,
  type TaskFailure,
  type TaskResult,
  writeTaskResults,
} from '../../src/queue/tasks.ts';
import { testDatabase } from '../support/db.ts';
import { makeJob, urls } from '../support/jobs.ts';
import { mulberry32 } from '../support/random.ts';
import { waitFor } from '../support/wait.ts';

const db = await testDatabase({ max: 12 });

const FINAL = ['completed', 'failed', 'cancelled'];

interface Snapshot {
  id: string;
  status: string;
  concurrency: number;
  unfinished: number;
  /** Tasks that wait to run (pending, retrying) and tasks running, by id. */
  waiting_ids: number[];
  running_ids: number[];
  settled: boolean;
  drift: boolean;
  stats_match: boolean | null;
}

/** Every invariant, read in one statement and so from one snapshot. */
async function snapshot(sql: Sql, jobIds: string[]): Promise<Map<string, Snapshot>> {
  const rows = await sql<Snapshot[]>`
    select j.id, j.status, j.concurrency,
      j.pending_tasks + j.retrying_tasks + j.running_tasks as unfinished,
      array(select t.id from tasks t where t.job_id = j.id and t.status in ('pending', 'retrying')) as waiting_ids,
      array(select t.id from tasks t where t.job_id = j.id and t.status = 'running') as running_ids,
      j.stats is not null as settled,
      (j.total_tasks, j.pending_tasks, j.retrying_tasks, j.running_tasks, j.completed_tasks, j.failed_tasks,
        j.skipped_tasks) is distinct from (
        select (count(*)::int, (count(*) filter (where t.status = 'pending'))::int,
          (count(*) filter (where t.status = 'retrying'))::int, (count(*) filter (where t.status = 'running'))::int,
          (count(*) filter (where t.status = 'completed'))::int, (count(*) filter (where t.status = 'failed'))::int,
          (count(*) filter (where t.status = 'skipped'))::int)
        from tasks t where t.job_id = j.id) as drift,
      case when j.stats is not null then j.stats = compute_job_stats(j.id) end as stats_match
    from jobs j where j.id in ${sql(jobIds)}`;
  return new Map(rows.map((r) => [r.id, r]));
}

function checkInvariants(
  now: Map<string, Snapshot>,
  before: Map<string, Snapshot>,
  running: Map<string, number>,
  where: string,
) {
  for (const [id, job] of now) {
    assert.equal(job.drift, false, `${where}: counters of ${id} differ from a recount`);
    if (job.settled) {
      assert.equal(job.unfinished, 0, `${where}: settled job ${id} holds unfinished tasks`);
      assert.equal(job.stats_match, true, `${where}: stats of ${id} differ from a recount`);
    }
    const prev = before.get(id);
    // A stopped job's unfinished tasks only ever go down: nothing of it is enqueued, claimed, released back
    // to pending or retried; a run of it that ends (finished, failed, released, lease expired) is settled.
    if (prev && FINAL.includes(prev.status) && FINAL.includes(job.status)) {
      assert.ok(job.unfinished <= prev.unfinished, `${where}: stopped job ${id} gained unfinished tasks`);
      assert.ok(
        job.waiting_ids.length <= prev.waiting_ids.length,
        `${where}: stopped job ${id} has more tasks pending or retrying (${prev.waiting_ids.length} → ${job.waiting_ids.length})`,
      );
      const wasRunning = new Set(prev.running_ids);
      const backToWaiting = job.waiting_ids.filter((t) => wasRunning.has(t));
      assert.deepEqual(
        backToWaiting,
        [],
        `${where}: running tasks of stopped job ${id} went back to waiting`,
      );
    }
    assert.ok((running.get(id) ?? 0) <= job.concurrency, `${where}: ${id} ran above its concurrency`);
  }
}

test('concurrent claims, writes, crashes, recoveries and cancels keep every invariant, with no deadlock', async () => {
  const seed = Number(process.env.BBB_TEST_SEED ?? Date.now() % 1_000_000);
  const org = await createOrganisation(db.sql, 'Model', 'operator');
  const jobs: string[] = [];
  for (let i = 0; i < 6; i++) {
    const id = await makeJob(db.sql, {
      organisationId: org,
      host: `m${i}.example`,
      concurrency: 2 + i * 3,
      maxPages: 400,
      maxAttempts: 1 + (i % 3),
    });
    await enqueueUrls(db.sql, id, urls(`m${i}.example`, 40));
    jobs.push(id);
  }
  const hostOf = (job: string) => `m${jobs.indexOf(job)}.example`;
  let last = await snapshot(db.sql, jobs);
  // Snapshots are taken one after another, so "before" is always older than "now".
  let checking: Promise<void> = Promise.resolve();
  const check = (sql: Sql, where: string) => {
    checking = checking.then(async () => {
      const runningNow = await sql<{ job_id: string; n: number }[]>`
        select job_id, count(*)::int as n from tasks where status = 'running' group by job_id`;
      const now = await snapshot(sql, jobs);
      checkInvariants(now, last, new Map(runningNow.map((x) => [x.job_id, x.n])), where);
      last = now;
    });
    return checking;
  };
  const deadlocks: string[] = [];
  const ops: Record<string, number> = {};
  const effects = { recovered: 0, promoted: 0, retried: 0, lost: 0 };

  const actor = async (n: number) => {
    const sql = db.connect(1);
    const rand = mulberry32(seed * 31 + n);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
    let held: ClaimedTask[] = [];
    const take = (count: number) => {
      const out = held.slice(0, count);
      held = held.slice(count);
      return out;
    };
    // At least 120 steps, and on until every transition has happened somewhere (a retry's wait is seconds).
    const exercised = () => Object.values(effects).every((v) => v > 0);
    for (let step = 0; step < 120 || (!exercised() && step < 5_000); step++) {
      const r = rand();
      let op = '';
      try {
        if (r < 0.3) {
          op = 'claim';
          // Leases short enough to expire while the test runs: a fifth almost at once, the rest unless renewed.
          const lease = rand() < 0.2 ? 0.05 : 1;
          held.push(...(await claimTasks(sql, `a${n}`, 1 + Math.floor(rand() * 8), lease)));
        } else if (r < 0.55) {
          op = 'write';
          const batch = take(1 + Math.floor(rand() * 6));
          const results: TaskResult[] = [];
          const failures: TaskFailure[] = [];
          for (const t of batch) {
            if (rand() < 0.7)
              results.push({ id: t.id, attempt: t.attempts, status_code: 200, response_time_ms: 10 });
            else
              failures.push({
                id: t.id,
                attempt: t.attempts,
                retryable: rand() < 0.7,
                error_code: 'http_5xx',
                status_code: 503,
                retry_after_ms: rand() < 0.2 ? 3e12 : null,
              });
          }
          const linkJob = pick(jobs);
          const links = urls(hostOf(linkJob), 1 + Math.floor(rand() * 4), `l${n}-${step}-`).map((url) => ({
            jobId: linkJob,
            url,
            foundOn: null,
            depth: 1,
            priority: 0,
          }));
          const written = await writeTaskResults(sql, links, results, failures);
          effects.retried += written.retried;
          effects.lost += written.lost;
        } else if (r < 0.62) {
          op = 'heartbeat';
          await extendLeases(sql, held, 1);
        } else if (r < 0.67) {
          op = 'crash';
          held = []; // never written: the leases expire (or already have)
        } else if (r < 0.72) {
          op = 'release';
          await releaseTasks(sql, take(held.length));
        } else if (r < 0.8) {
          op = 'recover';
          const got = await recoverExpiredLeases(sql);
          effects.recovered += got.recovered + got.failed;
        } else if (r < 0.86) {
          op = 'promote';
          effects.promoted += await promoteDueRetries(sql);
        } else if (r < 0.9) {
          op = 'skip';
          await skipStoppedJobsTasks(sql, 5);
        } else if (r < 0.93) {
          op = 'idle';
          await completeIdleJobs(sql);
        } else if (r < 0.95) {
          op = 'stalled';
          await failStalledJobs(sql, 30_000);
        } else if (r < 0.97) {
          op = 'cancel';
          // Two of the six jobs may be cancelled; the others live on, so retries come due while they run.
          await cancelJob(sql, pick(jobs.slice(0, 2)));
        } else {
          op = 'enqueue';
          const job = pick(jobs);
          await enqueueUrls(sql, job, urls(hostOf(job), 5, `e${n}-${step}-`));
        }
      } catch (err) {
        if ((err as { code?: string }).code === '40P01') deadlocks.push(`${op} (actor ${n}, step ${step})`);
        else throw err;
      }
      ops[op] = (ops[op] ?? 0) + 1;
      await check(sql, `seed ${seed}, ${op}`);
    }
    // Runs still held when the jobs stop: handed back, or left to expire, after the cancel below.
    held.push(...(await claimTasks(sql, `a${n}`, 4, 1)));
    return { sql, held };
  };

  const ended = await Promise.all(Array.from({ length: 6 }, (_, n) => actor(n)));
  assert.deepEqual(deadlocks, [], `seed ${seed}`);
  assert.ok(Object.keys(ops).length >= 12, `every kind of step ran: ${JSON.stringify(ops)}`);
  assert.ok(
    Object.values(effects).every((v) => v > 0),
    `leases recovered, retries promoted, stale results fenced: ${JSON.stringify(effects)}`,
  );

  // Quiesce: stop every job while runs are held, hand back half of them, let the other half's leases expire,
  // and let maintenance settle the jobs. Checked after each step: none of those runs may go back to waiting.
  for (const id of jobs) await cancelJob(db.sql, id);
  await check(db.sql, `seed ${seed}, cancelled`);
  for (const { sql, held } of ended) {
    await releaseTasks(
      sql,
      held.filter((_, i) => i % 2 === 0),
    );
    await check(sql, `seed ${seed}, released after the cancel`);
  }
  await waitFor(
    'every job to settle',
    async () => {
      await recoverExpiredLeases(db.sql);
      await check(db.sql, `seed ${seed}, recovered after the cancel`);
      await skipStoppedJobsTasks(db.sql);
      await check(db.sql, `seed ${seed}, settling`);
      return [...last.values()].every((j) => j.settled);
    },
    { timeoutMs: 20_000 },
  );
  const stats = await db.sql<{ stats: JobStats }[]>`select stats from jobs where id in ${db.sql(jobs)}`;
  assert.equal(stats.length, jobs.length);
});
