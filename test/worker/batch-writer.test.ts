// The result writer against a real database: a batch the database refuses for a value in it is bisected, so
// the one bad entry fails alone, recorded, and every other result lands; a refusal that blames no row (a
// timeout, a lock wait, a read-only server) holds the whole batch back until it passes, and loses nothing.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Sql } from '../../src/db/client.ts';
import { type ClaimedTask, claimTasks, enqueueUrls } from '../../src/queue/tasks.ts';
import { BatchWriter } from '../../src/worker/batch-writer.ts';
import { emptyStats, type WorkerEvent } from '../../src/worker/types.ts';
import { testDatabase } from '../support/db.ts';
import { makeJob, urls } from '../support/jobs.ts';
import { holdLocks } from '../support/locks.ts';
import { waitFor } from '../support/wait.ts';

const db = await testDatabase();

function newWriter(sql: Sql) {
  const events: WorkerEvent[] = [];
  const stats = emptyStats();
  const writer = new BatchWriter(sql, { batchSize: 50, flushMs: 10_000, stats, emit: (e) => events.push(e) });
  return { writer, events, stats };
}

/** Each task's result, with a link into `linkJob` that must land with it. */
function addResults(
  writer: BatchWriter,
  tasks: ClaimedTask[],
  linkJob: string,
  host: string,
  poison?: ClaimedTask,
) {
  for (const task of tasks) {
    writer.add({
      task,
      links: {
        jobId: linkJob,
        urls: [`https://${host}/from-${task.id}`],
        foundOn: task.url,
        depth: 1,
        priority: 0,
      },
      // smallint overflow: what a result could hold that the table refuses.
      result: { id: task.id, attempt: task.attempts, status_code: task === poison ? 99_999 : 200 },
      failure: undefined,
    });
  }
}

async function statuses(tasks: ClaimedTask[]) {
  return db.sql<{ id: number; status: string; error_code: string | null; error_message: string | null }[]>`
    select id, status, error_code, error_message from tasks where id in ${db.sql(tasks.map((t) => t.id))}`;
}

test('one poison result fails alone with the reason recorded; the rest of its batch is written', async () => {
  const job = await makeJob(db.sql, { host: 'poison.example', concurrency: 20 });
  const other = await makeJob(db.sql, { host: 'poison-other.example', concurrency: 20 });
  await enqueueUrls(db.sql, job, urls('poison.example', 9));
  await enqueueUrls(db.sql, other, urls('poison-other.example', 8));
  const claimed = await claimTasks(db.sql, 'w', 50, 30, [job, other]);
  assert.equal(claimed.length, 17);
  const poison = claimed[5]!;
  const { writer, events, stats } = newWriter(db.sql);
  // Links of another job in the same batch: they must land too.
  addResults(writer, claimed, other, 'poison-other.example', poison);
  await writer.flush();
  assert.equal(writer.size, 0);
  const byId = new Map((await statuses(claimed)).map((r) => [r.id, r]));
  assert.equal(byId.get(poison.id)?.status, 'failed');
  assert.equal(byId.get(poison.id)?.error_code, 'result_rejected');
  assert.match(byId.get(poison.id)?.error_message ?? '', /out of range/);
  assert.equal([...byId.values()].filter((r) => r.status === 'completed').length, 16);
  assert.equal(stats.completed, 16);
  const [links] =
    await db.sql`select count(*)::int as n from tasks where job_id = ${other} and url like '%/from-%'`;
  assert.equal(links?.n, 16, "the good entries' links are in; the refused one's are not");
  assert.equal(events.filter((e) => e.type === 'error').length, 0, 'nothing dropped');
});

// Real server errors, raised by PostgreSQL on the writer's own connection while the condition lasts.
interface Condition {
  name: string;
  code: string;
  /** Session settings of the writer's connection. */
  setting: string;
  /** Whether another transaction holds the job row meanwhile, so the write waits on it. */
  holdJob: boolean;
}

const conditions: Condition[] = [
  {
    name: 'a lock wait past lock_timeout',
    code: '55P03',
    setting: "set lock_timeout = '100ms'",
    holdJob: true,
  },
  {
    name: 'a statement past statement_timeout',
    code: '57014',
    setting: "set statement_timeout = '100ms'",
    holdJob: true,
  },
  {
    name: 'a read-only server',
    code: '25006',
    setting: 'set default_transaction_read_only = on',
    holdJob: false,
  },
];

/** Holds the job's row from another transaction, as a long one would; returns the release. */
const holdJobRow = (job: string) =>
  holdLocks(db, (tx) => tx`select 1 from jobs where id = ${job} for no key update`);

describe('a refusal that blames no row', () => {
  for (const [n, condition] of conditions.entries()) {
    test(`${condition.name} (${condition.code}) rejects no result: the batch is written once it passes`, async () => {
      const host = `transient${n}.example`;
      const job = await makeJob(db.sql, { host, concurrency: 20 });
      await enqueueUrls(db.sql, job, urls(host, 8));
      const claimed = await claimTasks(db.sql, 'w', 50, 30, [job]);
      assert.equal(claimed.length, 8);

      const writerSql = db.connect(1);
      await writerSql.unsafe(condition.setting);
      const unhold = condition.holdJob ? await holdJobRow(job) : async () => {};
      const { writer, events, stats } = newWriter(writerSql);
      const refusals = () =>
        events.filter((e) => e.type === 'db_error' && (e.error as { code?: string }).code === condition.code);
      const dropped = () => events.filter((e) => e.type === 'error');
      let flushed: Promise<void>;
      try {
        addResults(writer, claimed, job, host);
        flushed = writer.flush();
        await waitFor(
          `the write to be refused with ${condition.code} and retried`,
          () => refusals().length >= 2 || dropped().length > 0,
        );
        assert.deepEqual(dropped(), [], 'nothing dropped');
        assert.deepEqual(
          (await statuses(claimed)).map((r) => r.status),
          claimed.map(() => 'running'),
          'nothing written or rejected while the condition lasts',
        );
        assert.equal(writer.size, claimed.length, 'the whole batch is still held');
      } finally {
        await unhold();
        await writerSql.unsafe('reset all');
      }
      await flushed;

      const rows = await statuses(claimed);
      assert.deepEqual(
        rows.map((r) => [r.status, r.error_code]),
        claimed.map(() => ['completed', null]),
        'every result written, none rejected',
      );
      assert.equal(stats.completed, claimed.length);
      const [links] =
        await db.sql`select count(*)::int as n from tasks where job_id = ${job} and url like '%/from-%'`;
      assert.equal(links?.n, claimed.length, 'and every link');
      assert.deepEqual(dropped(), [], 'nothing dropped');
    });
  }
});
