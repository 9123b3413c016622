// Leader election over a session advisory lock: of two maintenance loops exactly one leads, the other takes
// over when the leader stops or loses its connection, and only the leader's ticks do the work.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { claimTasks, enqueueUrls } from '../../src/queue/tasks.ts';
import { startMaintenance } from '../../src/worker/index.ts';
import { testDatabase } from '../support/db.ts';
import { makeJob } from '../support/jobs.ts';
import { waitFor } from '../support/wait.ts';

test('exactly one leader; the other takes over when it stops', async () => {
  const db = await testDatabase();
  const a = startMaintenance({ sql: db.connect(2), intervalMs: 30 });
  const b = startMaintenance({ sql: db.connect(2), intervalMs: 30 });
  try {
    await waitFor('a leader', () => a.isLeader() || b.isLeader());
    // Both keep ticking; leadership must stay with one.
    await Promise.all([a.tick(), b.tick(), a.tick(), b.tick()]);
    assert.equal([a, b].filter((m) => m.isLeader()).length, 1);
    const [leader, follower] = a.isLeader() ? [a, b] : [b, a];
    await leader.stop();
    await waitFor('the follower to take over', () => follower.isLeader());
    assert.equal(leader.isLeader(), false);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});

test('a leader whose connection is killed loses leadership, and someone leads again', async () => {
  const db = await testDatabase();
  const events: string[] = [];
  const a = startMaintenance({
    sql: db.connect(2),
    intervalMs: 30,
    onEvent: (e) => e.type === 'leader' && events.push(`a:${e.leader}`),
  });
  try {
    await waitFor('a to lead', () => a.isLeader());
    const b = startMaintenance({ sql: db.connect(2), intervalMs: 30 });
    try {
      await b.tick();
      assert.equal(b.isLeader(), false, 'b cannot lead while a holds the lock');
      await db.sql`
        select pg_terminate_backend(l.pid) from pg_locks l
        where l.locktype = 'advisory' and l.objid = ${0x62626201} and l.granted`;
      await waitFor(
        'a to notice and someone to lead again',
        () => events.includes('a:false') && (a.isLeader() || b.isLeader()),
      );
      await Promise.all([a.tick(), b.tick()]);
      assert.equal([a, b].filter((m) => m.isLeader()).length, 1);
    } finally {
      await b.stop();
    }
  } finally {
    await a.stop();
  }
});

test('the leader recovers expired leases and completes idle jobs', async () => {
  const db = await testDatabase();
  const jobId = await makeJob(db.sql);
  await enqueueUrls(db.sql, jobId, ['https://example.com/a']);
  const [task] = await claimTasks(db.sql, 'gone-worker', 1, 30);
  await db.sql`update tasks set locked_until = now() - interval '1 second' where id = ${task!.id}`;
  const idle = await makeJob(db.sql, { host: 'idle.example' });
  await db.sql`update jobs set total_tasks = 1 where id = ${idle}`; // as if its only URL had been pruned
  const ticks: Array<{ recovered: number; completed: number }> = [];
  const m = startMaintenance({
    sql: db.connect(2),
    intervalMs: 30,
    onEvent: (e) => e.type === 'tick' && ticks.push(e),
  });
  try {
    await waitFor('a tick with work', () => ticks.find((t) => t.recovered > 0));
    const [row] = await db.sql<{ status: string }[]>`select status from tasks where id = ${task!.id}`;
    assert.equal(row?.status, 'retrying', 'back in the queue, after a backoff');
    const [job] = await db.sql<{ status: string }[]>`select status from jobs where id = ${idle}`;
    assert.equal(job?.status, 'completed');
  } finally {
    await m.stop();
  }
});
