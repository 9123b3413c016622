import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { claimDiscovery } from '../../src/queue/discovery.ts';
import { promoteDueRetries } from '../../src/queue/maintenance.ts';
import { claimTasks, completeTasks, enqueueUrls, failTasks } from '../../src/queue/tasks.ts';
import { testDatabase } from '../support/db.ts';
import { makeJob, urls } from '../support/jobs.ts';
import { holdLocks } from '../support/locks.ts';

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

  test('a task waiting to retry is not claimed until its wait is over and it is promoted', async () => {
    const job = await makeJob(db.sql, { host: 'later.example' });
    await enqueueUrls(db.sql, job, ['https://later.example/a']);
    const [task] = await claimTasks(db.sql, 'w1', 10, 30, [job]);
    const [failed] = await failTasks(db.sql, [
      { id: task!.id, attempt: task!.attempts, retryable: true, error_code: 'http_5xx' },
    ]);
    assert.equal(failed?.status, 'retrying');
    assert.equal((await claimTasks(db.sql, 'w1', 10, 30, [job])).length, 0);
    assert.equal(await promoteDueRetries(db.sql), 0, 'not due yet');
    await db.sql`update tasks set run_after = now() where id = ${task!.id}`;
    assert.equal(await promoteDueRetries(db.sql), 1);
    const [again] = await claimTasks(db.sql, 'w1', 10, 30, [job]);
    assert.deepEqual({ id: again?.id, attempts: again?.attempts }, { id: task!.id, attempts: 2 });
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
          const claimed = await claimTasks(pool, `w${w}`, 7, 30, [...concurrencyOf.keys()]);
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

describe('claim_tasks fills the batch', () => {
  test('a job with more free slots than ready tasks does not crowd out the others', async () => {
    const wide = await makeJob(db.sql, { host: 'wide.example', concurrency: 200 });
    await enqueueUrls(db.sql, wide, ['https://wide.example/only']);
    const a = await makeJob(db.sql, { host: 'fill-a.example', concurrency: 100 });
    const b = await makeJob(db.sql, { host: 'fill-b.example', concurrency: 100 });
    await enqueueUrls(db.sql, a, urls('fill-a.example', 100));
    await enqueueUrls(db.sql, b, urls('fill-b.example', 100));
    // The wide job is the one served longest ago, so it comes first.
    await db.sql`update jobs set last_claimed_at = now() where id in (${a}, ${b})`;
    const claimed = await claimTasks(db.sql, 'w', 50, 30, [wide, a, b]);
    assert.equal(claimed.length, 50);
    assert.equal(claimed.filter((t) => t.job_id === wide).length, 1);
  });

  test('a job locked by another claimer is replaced by the next one', async () => {
    const first = await makeJob(db.sql, { host: 'held.example', concurrency: 20 });
    const second = await makeJob(db.sql, { host: 'next.example', concurrency: 20 });
    await enqueueUrls(db.sql, first, urls('held.example', 20));
    await enqueueUrls(db.sql, second, urls('next.example', 20));
    await db.sql`update jobs set last_claimed_at = now() where id = ${second}`;
    const release = await holdLocks(db, (tx) => tx`select 1 from jobs where id = ${first} for no key update`);
    try {
      const claimed = await claimTasks(db.sql, 'w', 10, 30, [first, second]);
      assert.equal(claimed.length, 10);
      assert.deepEqual(new Set(claimed.map((t) => t.job_id)), new Set([second]));
    } finally {
      await release();
    }
  });

  // `bbb crawl`'s jobs may target the operator's private network, which server workers refuse: a server
  // claiming one would only fail it with ssrf_blocked. Only the CLI's own pool, naming the job, takes it.
  test("a claim that names no job never takes a CLI job's tasks or discovery; one naming it does", async () => {
    const cli = await makeJob(db.sql, {
      host: 'cli-private.example',
      source: 'cli',
      concurrency: 10,
      discoveryStatus: 'pending',
    });
    await enqueueUrls(db.sql, cli, urls('cli-private.example', 3));
    const tenant = await makeJob(db.sql, { host: 'tenant-public.example', discoveryStatus: 'pending' });
    await enqueueUrls(db.sql, tenant, urls('tenant-public.example', 2));

    // A server's workers claim until nothing is left that they may take (other tests' jobs included).
    const byServer: string[] = [];
    for (let round = 0; round < 100; round++) {
      const batch = await claimTasks(db.sql, 'server', 50, 30);
      if (batch.length === 0) break;
      byServer.push(...batch.map((t) => t.job_id));
    }
    assert.ok(byServer.includes(tenant), "the tenant's job was claimable and claimed");
    assert.ok(!byServer.includes(cli), "no task of the CLI's job");
    const discovered = (await claimDiscovery(db.sql, 'server', 1000)).map((j) => j.id);
    assert.ok(discovered.includes(tenant));
    assert.ok(!discovered.includes(cli), "no discovery of the CLI's job");
    const [row] =
      await db.sql`select pending_tasks, running_tasks, discovery_status from jobs where id = ${cli}`;
    assert.deepEqual({ ...row }, { pending_tasks: 3, running_tasks: 0, discovery_status: 'pending' });

    const byCli = await claimTasks(db.sql, 'cli', 10, 30, [cli]);
    assert.deepEqual(
      byCli.map((t) => t.job_id),
      [cli, cli, cli],
    );
    assert.deepEqual(
      (await claimDiscovery(db.sql, 'cli', 10, 30, [cli])).map((j) => j.id),
      [cli],
    );
  });
});
