// The result writer against a real database: a batch the database refuses for what is in it is bisected, so
// the one bad entry fails alone, recorded, and every other result lands.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { claimTasks, enqueueUrls } from '../../src/queue/tasks.ts';
import { BatchWriter } from '../../src/worker/batch-writer.ts';
import { emptyStats, type WorkerEvent } from '../../src/worker/types.ts';
import { testDatabase } from '../support/db.ts';
import { makeJob, urls } from '../support/jobs.ts';

const db = await testDatabase();

test('one poison result fails alone with the reason recorded; the rest of its batch is written', async () => {
  const job = await makeJob(db.sql, { host: 'poison.example', concurrency: 20 });
  const other = await makeJob(db.sql, { host: 'poison-other.example', concurrency: 20 });
  await enqueueUrls(db.sql, job, urls('poison.example', 9));
  await enqueueUrls(db.sql, other, urls('poison-other.example', 8));
  const claimed = await claimTasks(db.sql, 'w', 50, 30, [job, other]);
  assert.equal(claimed.length, 17);
  const poison = claimed[5]!;
  const events: WorkerEvent[] = [];
  const stats = emptyStats();
  const writer = new BatchWriter(db.sql, {
    batchSize: 50,
    flushMs: 10_000,
    stats,
    emit: (e) => events.push(e),
  });
  for (const task of claimed) {
    writer.add({
      task,
      // Links of another job in the same batch: they must land too.
      links: {
        jobId: other,
        urls: [`https://poison-other.example/from-${task.id}`],
        foundOn: task.url,
        depth: 1,
        priority: 0,
      },
      // smallint overflow: what a result could hold that the table refuses.
      result: { id: task.id, attempt: task.attempts, status_code: task === poison ? 99_999 : 200 },
      failure: undefined,
    });
  }
  await writer.flush();
  assert.equal(writer.size, 0);
  const rows = await db.sql<
    { id: number; status: string; error_code: string | null; error_message: string | null }[]
  >`
    select id, status, error_code, error_message from tasks where id in ${db.sql(claimed.map((t) => t.id))}`;
  const byId = new Map(rows.map((r) => [r.id, r]));
  assert.equal(byId.get(poison.id)?.status, 'failed');
  assert.equal(byId.get(poison.id)?.error_code, 'result_rejected');
  assert.match(byId.get(poison.id)?.error_message ?? '', /out of range/);
  assert.equal(rows.filter((r) => r.status === 'completed').length, 16);
  assert.equal(stats.completed, 16);
  const [links] =
    await db.sql`select count(*)::int as n from tasks where job_id = ${other} and url like '%/from-%'`;
  assert.equal(links?.n, 16, "the good entries' links are in; the refused one's are not");
  assert.equal(events.filter((e) => e.type === 'error').length, 0, 'nothing dropped');
});
