import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createJob } from '../../src/jobs/job-service.ts';
import { createOrganisation, getJob, type JobStats } from '../../src/queue/jobs.ts';
import { claimTasks, completeTasks, enqueueUrls, failTasks } from '../../src/queue/tasks.ts';
import { testDatabase } from '../support/db.ts';

const db = await testDatabase();
const org = await createOrganisation(db.sql, 'Lifecycle org');

async function claimAll(jobId: string) {
  return (await claimTasks(db.sql, 'w', 100)).filter((t) => t.job_id === jobId);
}

describe('job lifecycle in SQL', () => {
  test('a job does not complete while discovery is pending, and finish_discovery completes it', async () => {
    const { job } = await createJob(db.sql, { url: 'https://disc.example/', organisationId: org });
    const [root] = await claimAll(job.id);
    await completeTasks(db.sql, [{ id: root!.id, attempt: 1, status_code: 200 }]);
    assert.equal((await getJob(db.sql, job.id))?.status, 'running', 'discovery still pending');

    const claimed = await db.sql`select id from claim_discovery('d1', 10)`;
    assert.deepEqual(
      [...claimed].map((r) => r.id),
      [job.id],
    );
    assert.equal((await db.sql`select id from claim_discovery('d2', 10)`).length, 0, 'held by d1');
    const [wrong] = await db.sql`select * from finish_discovery(${job.id}, 'd2', 1)`;
    assert.equal(wrong?.id, null, 'only the holder finishes it');
    const [stale] = await db.sql`select * from finish_discovery(${job.id}, 'd1', 2)`;
    assert.equal(stale?.id, null, 'and only with its own attempt');
    const [done] = await db.sql`select status, discovery_status from finish_discovery(${job.id}, 'd1', 1)`;
    assert.deepEqual({ ...done }, { status: 'completed', discovery_status: 'done' });
  });

  test('an expired discovery lease is handed out again, and given up after the last attempt', async () => {
    const { job } = await createJob(db.sql, { url: 'https://lease-disc.example/', organisationId: org });
    const expire = () =>
      db.sql`update jobs set discovery_locked_until = now() - interval '1 second' where id = ${job.id}`;
    for (let attempt = 1; attempt <= 3; attempt++) {
      const [claimed] =
        await db.sql`select id, discovery_attempts from claim_discovery(${`w${attempt}`}, 10)`;
      assert.deepEqual({ ...claimed }, { id: job.id, discovery_attempts: attempt });
      assert.equal((await db.sql`select id from claim_discovery('other', 10)`).length, 0, 'held');
      await expire();
      const [recovered] = await db.sql`select * from recover_expired_discovery()`;
      assert.deepEqual(
        { ...recovered },
        attempt < 3 ? { recovered: 1, abandoned: 0 } : { recovered: 0, abandoned: 1 },
      );
    }
    const [row] = await db.sql`select discovery_status, error_message from jobs where id = ${job.id}`;
    assert.equal(row?.discovery_status, 'failed');
    assert.match(String(row?.error_message), /given up after 3 attempts/);
    assert.equal((await db.sql`select id from claim_discovery('late', 10)`).length, 0);
  });

  test('a discovery lease is renewed only by its holder, at its attempt', async () => {
    const { job } = await createJob(db.sql, { url: 'https://renew-disc.example/', organisationId: org });
    await db.sql`select * from claim_discovery('holder', 10, interval '1 second')`;
    const renew = (worker: string, attempt: number) =>
      db.sql`select extend_discovery_lease(${job.id}, ${worker}, ${attempt}, interval '5 minutes') as ok`;
    assert.equal((await renew('intruder', 1))[0]?.ok, false);
    assert.equal((await renew('holder', 2))[0]?.ok, false);
    assert.equal((await renew('holder', 1))[0]?.ok, true);
    const [row] = await db.sql`select discovery_locked_until > now() + interval '4 minutes' as renewed
                               from jobs where id = ${job.id}`;
    assert.equal(row?.renewed, true);
  });

  test('stats are computed once when the job completes', async () => {
    const { job } = await createJob(db.sql, {
      url: 'https://stats.example/',
      organisationId: org,
      useSitemap: false,
      concurrency: 50,
    });
    await enqueueUrls(
      db.sql,
      job.id,
      ['https://stats.example/a', 'https://stats.example/b', 'https://stats.example/gone'],
      {
        foundOn: 'https://stats.example/',
      },
    );
    const tasks = await claimAll(job.id);
    const byUrl = Object.fromEntries(tasks.map((t) => [t.url, t]));
    await completeTasks(db.sql, [
      {
        id: byUrl['https://stats.example/']!.id,
        attempt: 1,
        status_code: 200,
        response_time_ms: 400,
        cache_status: 'MISS',
        warm_cache_status: 'HIT',
        warm_response_time_ms: 40,
      },
      {
        id: byUrl['https://stats.example/a']!.id,
        attempt: 1,
        status_code: 200,
        response_time_ms: 100,
        cache_status: 'HIT',
      },
      {
        id: byUrl['https://stats.example/b']!.id,
        attempt: 1,
        status_code: 200,
        response_time_ms: 300,
        cache_status: 'MISS',
        warm_cache_status: 'MISS',
        warm_response_time_ms: 280,
        redirect_url: 'https://stats.example/b/',
      },
    ]);
    assert.equal((await getJob(db.sql, job.id))?.stats, null, 'not computed before the end');
    await failTasks(db.sql, [
      {
        id: byUrl['https://stats.example/gone']!.id,
        attempt: 1,
        retryable: false,
        error_code: 'http_4xx',
        status_code: 404,
        response_time_ms: 50,
        cache_status: 'DYNAMIC',
      },
    ]);
    const done = await getJob(db.sql, job.id);
    assert.equal(done?.status, 'completed');
    const stats = done?.stats as JobStats;
    assert.deepEqual(stats.pages, {
      ok: 3,
      broken: 1,
      redirected: 1,
      skipped: 0,
      errored: 0,
      blocked_by_robots: 0,
    });
    assert.deepEqual(stats.cache_hit_ratio, { before: 0.25, after: 0.5 });
    assert.equal(stats.response_time_ms.before.p50, 200);
    assert.equal(stats.response_time_ms.after.p50, 75); // 40, 50, 100, 280 interpolated
    assert.equal(stats.time_saved_ms, 360 + 20);
    assert.deepEqual(stats.slowest.map((s) => s.url).slice(0, 2), [
      'https://stats.example/',
      'https://stats.example/b',
    ]);
  });

  test('maintenance: idle running jobs complete, stalled ones fail, old finished tasks are pruned', async () => {
    const idle = await createJob(db.sql, {
      url: 'https://idle.example/',
      organisationId: org,
      include: ['/x/**'],
    });
    await db.sql`select * from finish_discovery(${idle.job.id}, 'nobody', 1)`; // not held: no effect
    await db.sql`update jobs set discovery_status = 'done' where id = ${idle.job.id}`;
    const [c] = await db.sql`select complete_idle_jobs() as n`;
    assert.ok((c?.n as number) >= 1);
    assert.equal((await getJob(db.sql, idle.job.id))?.status, 'completed');

    const stalled = await createJob(db.sql, {
      url: 'https://stalled.example/',
      organisationId: org,
      useSitemap: false,
    });
    await enqueueUrls(db.sql, stalled.job.id, ['https://stalled.example/more']);
    await db.sql`update jobs set last_progress_at = now() - interval '2 hours', started_at = now() - interval '2 hours'
                 where id = ${stalled.job.id}`;
    const [f] = await db.sql`select fail_stalled_jobs(interval '1 hour') as n`;
    assert.equal(f?.n, 1);
    const failed = await getJob(db.sql, stalled.job.id);
    assert.equal(failed?.status, 'failed');
    assert.equal(failed?.skipped_tasks, 2);
    assert.match(
      String((await db.sql`select error_message from jobs where id = ${stalled.job.id}`)[0]?.error_message),
      /No task finished/,
    );

    await db.sql`update jobs set completed_at = now() - interval '40 days' where id = ${stalled.job.id}`;
    const [p] = await db.sql`select prune_tasks(interval '30 days') as n`;
    assert.equal(p?.n, 2);
    const kept = await getJob(db.sql, stalled.job.id);
    assert.equal(kept?.skipped_tasks, 2, 'counters stay as the job final record');
  });
});
