// A job watched live with the official supabase-js and the design document's two snippets, word for word: a
// real worker pool crawls a fixture site of 31 pages while the client receives every task change in commit
// order and the job's row to its last state (completed, 100%). And the same channel on both Phoenix
// serializers supabase-js can speak, 1.0.0 and 2.0.0.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import type { RealtimePostgresChangesPayload } from '@supabase/supabase-js';
import { closeFetchPool } from '../../src/crawler/fetch-pool.ts';
import { connect } from '../../src/db/client.ts';
import { getJob, insertJob, startJob } from '../../src/queue/jobs.ts';
import { enqueueUrls } from '../../src/queue/tasks.ts';
import { startWorkerPool } from '../../src/worker/index.ts';
import { SITE_HOST } from '../support/fixture-routes.ts';
import { type FixtureSite, startFixtureSite } from '../support/fixture-site.ts';
import { waitForJobEnd } from '../support/jobs.ts';
import { testCrawlOptions } from '../worker/helpers.ts';
import { Feed, type Row } from './e2e-client.ts';
import { liveStack } from './e2e-fixture.ts';

const stack = await liveStack();
let site: FixtureSite;

/** The home page links to ten sections, each to two articles: 31 pages. */
const SECTIONS = 10;
const PAGES = 1 + SECTIONS * 3;

before(async () => {
  site = await startFixtureSite((s) => {
    const page = (path: string, links: string[]) =>
      s.page(path, `<html><body>${links.map((l) => `<a href="${l}">${l}</a>`).join('')}</body></html>`);
    const sections = Array.from({ length: SECTIONS }, (_, i) => `/s${i}`);
    page('/', sections);
    for (const section of sections) {
      page(section, [`${section}/a`, `${section}/b`, '/']);
      page(`${section}/a`, [`${section}/b`]);
      page(`${section}/b`, [section]);
    }
  });
});
after(async () => {
  await closeFetchPool();
  await site.stop();
});

type Payload = RealtimePostgresChangesPayload<Row>;
const STATUS_ORDER = ['pending', 'running', 'completed'];

/** Whether `statuses` only ever move forward through STATUS_ORDER. */
const forward = (statuses: string[]) =>
  statuses.every((s, i) => i === 0 || STATUS_ORDER.indexOf(s) >= STATUS_ORDER.indexOf(statuses[i - 1]!));

test('the design document’s snippets watch a crawled job from pending to completed: every task change in commit order, 100% last', async () => {
  const owner = await stack.user();
  const organisationId = await stack.org([[owner, 'owner']]);
  const job = await insertJob(stack.sql, { organisationId, rootUrl: `http://${SITE_HOST}:${site.port}/` });
  const jobId = job.id;
  assert.equal(job.status, 'pending');
  const { supabase } = await stack.client({ token: owner.token });

  const jobEvents = new Feed<Payload>();
  const taskEvents = new Feed<Payload>();
  const system = new Feed<Row>();
  // The design document's snippets, verbatim but for the callbacks.
  const jobChannel = supabase
    .channel('job-updates')
    .on(
      'postgres_changes',
      { event: 'UPDATE', schema: 'public', table: 'jobs', filter: `id=eq.${jobId}` },
      (p) => jobEvents.push(p),
    )
    .subscribe();
  const taskChannel = supabase
    .channel('task-updates')
    .on(
      'postgres_changes',
      { event: '*', schema: 'public', table: 'tasks', filter: `job_id=eq.${jobId}` },
      (p) => taskEvents.push(p),
    )
    .subscribe();
  for (const channel of [jobChannel, taskChannel]) channel.on('system', {}, (p: Row) => system.push(p));
  await system.until('both channels subscribed to PostgreSQL', (items) =>
    ['job-updates', 'task-updates'].every((name) =>
      items.some((s) => s.channel === name && s.message === 'Subscribed to PostgreSQL'),
    ),
  );

  const workerSql = connect(stack.dbUrl, { max: 5 });
  const pool = startWorkerPool({ sql: workerSql, concurrency: 4, crawl: testCrawlOptions() });
  try {
    await stack.sql.begin(async (tx) => {
      await enqueueUrls(tx, jobId, [job.root_url], { source: 'root' });
      await startJob(tx, jobId);
    });
    assert.equal((await waitForJobEnd(stack.sql, jobId, 30_000)).status, 'completed');
  } finally {
    await pool.stop({ deadlineMs: 2_000 });
    await workerSql.end();
  }

  // Nothing changes the job now: its row as it stands is the last state a client must be sent.
  const final = (await getJob(stack.sql, jobId))!;
  const last = await jobEvents.until('the job’s final state', (events) =>
    events.find(
      (e) => (e.new as Row).status === 'completed' && isDeepStrictEqual((e.new as Row).stats, final.stats),
    ),
  );
  assert.equal(last, jobEvents.items.at(-1), 'the final state is the last job event');
  assert.equal(last.eventType, 'UPDATE');
  assert.equal((last.new as Row).status, 'completed');
  assert.equal((last.new as Row).progress, 100);
  assert.equal((last.new as Row).completed_tasks, PAGES);
  assert.ok(final.stats, 'the job’s stats are in its final state');
  const jobChanges = stack.transactions.filter((tx) =>
    tx.changes.some((c) => c.table === 'jobs' && c.record?.id === jobId),
  );
  assert.equal(last.commit_timestamp, jobChanges.at(-1)?.commitTimestamp, 'the last job change committed');
  const first = jobEvents.items[0]!;
  assert.deepEqual([(first.old as Row).status, (first.new as Row).status], ['pending', 'running']);
  assert.ok(forward(jobEvents.items.map((e) => (e.new as Row).status)), 'job statuses only move forward');
  const jobTimes = jobEvents.items.map((e) => e.commit_timestamp);
  assert.deepEqual(jobTimes, [...jobTimes].sort(), 'job events in commit order');

  // Every task change the change source read, as the client received it: the same changes, in the same order.
  // The job's final state was committed after all of them and arrived on the same socket, so they are all in.
  const committed = stack.transactions.flatMap((tx) =>
    tx.changes
      .filter((c) => c.table === 'tasks' && c.record?.job_id === jobId)
      .map((c) => [c.type, c.record!.id, c.record!.status, tx.commitTimestamp]),
  );
  const received = taskEvents.items.map((e) => [
    e.eventType,
    (e.new as Row).id,
    (e.new as Row).status,
    e.commit_timestamp,
  ]);
  assert.deepEqual(received, committed);

  // And against the table: each task inserted once, first, moving forward to its final status.
  const tasks = await stack.sql<{ id: number; status: string }[]>`
    select id, status from tasks where job_id = ${jobId} order by id`;
  assert.equal(tasks.length, PAGES);
  assert.ok(tasks.every((t) => t.status === 'completed'));
  assert.deepEqual(
    [...new Set(taskEvents.items.map((e) => (e.new as Row).id))].sort((a, b) => a - b),
    tasks.map((t) => t.id),
  );
  for (const task of tasks) {
    const seen = taskEvents.items.filter((e) => (e.new as Row).id === task.id);
    assert.equal(seen[0]!.eventType, 'INSERT', `task ${task.id} is inserted first`);
    assert.equal(seen.filter((e) => e.eventType === 'INSERT').length, 1, `task ${task.id} is inserted once`);
    const statuses = seen.map((e) => (e.new as Row).status as string);
    assert.equal(statuses[0], 'pending');
    assert.ok(forward(statuses), `task ${task.id}: ${statuses.join(' → ')}`);
    assert.equal(statuses.at(-1), task.status, `task ${task.id} ends as the table has it`);
    assert.ok(statuses.includes('running'), `task ${task.id}: its claim arrived`);
  }
  const taskTimes = taskEvents.items.map((e) => e.commit_timestamp);
  assert.deepEqual(taskTimes, [...taskTimes].sort(), 'task events in commit order');
  assert.deepEqual(stack.problems, []);
});

test('the design document’s channel works on both serializers, 1.0.0 (objects) and 2.0.0 (arrays)', async () => {
  const owner = await stack.user();
  const organisationId = await stack.org([[owner, 'owner']]);
  const jobId = (await insertJob(stack.sql, { organisationId, rootUrl: 'https://vsn.example/' })).id;
  const bindings = [
    { event: 'UPDATE', table: 'jobs', filter: `id=eq.${jobId}` },
    { event: '*', table: 'tasks', filter: `job_id=eq.${jobId}` },
  ] as const;
  const clients = {
    '1.0.0': await stack.client({ token: owner.token, vsn: '1.0.0' }),
    '2.0.0': await stack.client({ token: owner.token }),
  };
  const watches = {
    '1.0.0': await clients['1.0.0'].watch('job-vsn1', bindings),
    '2.0.0': await clients['2.0.0'].watch('job-vsn2', bindings),
  };

  await startJob(stack.sql, jobId);
  const [task] = (await enqueueUrls(stack.sql, jobId, ['https://vsn.example/a'])).inserted;
  await stack.sql`update tasks set status = 'running' where id = ${task!.id}`;

  const seen: Record<string, unknown[]> = {};
  for (const vsn of ['1.0.0', '2.0.0'] as const) {
    const { supabase, frames } = clients[vsn];
    assert.match(supabase.realtime.endpointURL(), new RegExp(`[?&]vsn=${vsn.replaceAll('.', '\\.')}(&|$)`));
    const events = await watches[vsn].changes.until(
      `the task’s claim and its job’s counters on ${vsn}`,
      (items) =>
        items.some((e) => e.table === 'jobs' && e.new.running_tasks === 1) &&
        items.some((e) => e.table === 'tasks' && e.new.status === 'running')
          ? items
          : undefined,
    );
    assert.deepEqual(
      events.filter((e) => e.table === 'tasks').map((e) => [e.binding, e.eventType, e.new.id, e.new.status]),
      [
        [1, 'INSERT', task!.id, 'pending'],
        [1, 'UPDATE', task!.id, 'running'],
      ],
    );
    assert.deepEqual(
      events.filter((e) => e.table === 'jobs').map((e) => [e.binding, e.eventType, e.new.id]),
      events.filter((e) => e.table === 'jobs').map(() => [0, 'UPDATE', jobId]),
    );
    seen[vsn] = events.map((e) => [e.binding, e.eventType, e.table, e.commit_timestamp, e.new, e.old]);
    const shapes = new Set(frames.items.map((f) => (f.array ? 'array' : 'object')));
    assert.deepEqual([...shapes], [vsn === '1.0.0' ? 'object' : 'array'], `every frame in ${vsn}'s shape`);
  }
  assert.deepEqual(seen['1.0.0'], seen['2.0.0'], 'the same changes, whichever the serializer');
  assert.deepEqual(stack.problems, []);
});
