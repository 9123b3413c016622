// Tenant isolation through the official supabase-js: a user who subscribes to another organisation's job, or to
// whole tables, receives none of its rows (before and after refreshing the token, DELETEs included) while the
// same channels deliver the user's own; a token switched to another user switches whose rows arrive; the anon
// key alone receives nothing; and a share link's viewer watches that one job live and nothing else.
//
// "Nothing" is shown on the wire: every frame a client is sent is recorded, and a later change the client does
// receive (or, on another socket, a heartbeat answered after it) shows that nothing came before it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { insertJob, startJob } from '../../src/queue/jobs.ts';
import { enqueueUrls } from '../../src/queue/tasks.ts';
import { type Binding, frameNamesJob, type LiveClient, rowOf } from './e2e-client.ts';
import { expOf, type LiveUser, liveStack, tokenTaken } from './e2e-fixture.ts';
import { jobBindings } from './endpoint-fixture.ts';

const stack = await liveStack();

const WHOLE_TABLES: Binding[] = [
  { event: '*', table: 'jobs' },
  { event: '*', table: 'tasks' },
];

async function tenant(host: string): Promise<{ user: LiveUser; org: string; job: string }> {
  const user = await stack.user();
  const org = await stack.org([[user, 'owner']]);
  const job = (await insertJob(stack.sql, { organisationId: org, rootUrl: `https://${host}/` })).id;
  return { user, org, job };
}

/** A task of the job is added (and the job's counters change with it); returns the task's id. */
async function touch(jobId: string, path: string): Promise<number> {
  const [task] = (await enqueueUrls(stack.sql, jobId, [`https://touch.example/${path}`])).inserted;
  return task!.id;
}

/** Whether any change frame this client was sent names the job. */
const sentAnything = (client: LiveClient, jobId: string) =>
  client.changeFrames().some((f) => frameNamesJob(f, jobId));

test('B, subscribed to A’s job and to whole tables, receives none of A’s rows, before and after refreshing its token', async () => {
  const a = await tenant('a.example');
  const b = await tenant('b.example');
  const aClient = await stack.client({ token: a.user.token });
  const aWatch = await aClient.watch('mine', jobBindings(a.job));
  const bClient = await stack.client({ token: b.user.token });
  const spy = await bClient.watch('spy', jobBindings(a.job));
  const tables = await bClient.watch('tables', WHOLE_TABLES);

  await startJob(stack.sql, a.job);
  let maxPages = 999;
  async function round(label: string) {
    const aTask = await touch(a.job, `${label.replace(' ', '-')}-a`);
    // In one transaction, so in one window: B's changes beside A's, checked together.
    await stack.sql.begin(async (tx) => {
      await tx`update tasks set status = 'running' where id = ${aTask}`;
      await tx`update jobs set max_pages = max_pages - 1 where id = ${b.job}`;
    });
    await aWatch.changes.until(`A’s task claim (${label})`, (items) =>
      items.some((c) => c.new.id === aTask && c.new.status === 'running'),
    );
    // B's own job arrives on B's socket after anything of A's committed before it, had it been sent.
    await tables.changes.until(`B’s own job (${label})`, (items) =>
      items.some((c) => c.table === 'jobs' && c.new.id === b.job && c.new.max_pages === maxPages),
    );
    maxPages--;
    assert.deepEqual(spy.changes.items, [], `${label}: A's job's channel`);
    assert.ok(
      tables.changes.items.every((c) => (c.table === 'jobs' ? rowOf(c).id : rowOf(c).job_id) === b.job),
      `${label}: only B's rows`,
    );
    assert.equal(sentAnything(bClient, a.job), false, `${label}: no frame of A's job reached B`);
  }
  await round('first token');

  const refreshed = await b.user.sign(1800);
  await bClient.supabase.realtime.setAuth(refreshed);
  await tokenTaken(stack, b.user.id, expOf(refreshed));
  await round('refreshed token');
  assert.deepEqual(stack.problems, []);
});

test('a job’s DELETE reaches its own members only', async () => {
  const a = await tenant('a-delete.example');
  const b = await tenant('b-delete.example');
  const aClient = await stack.client({ token: a.user.token });
  const bClient = await stack.client({ token: b.user.token });
  const aWatch = await aClient.watch('deletes', [{ event: 'DELETE', table: 'jobs' }]);
  const bWatch = await bClient.watch('deletes', [
    { event: 'DELETE', table: 'jobs' },
    { event: 'DELETE', table: 'jobs', filter: `id=eq.${a.job}` },
    { event: 'DELETE', table: 'jobs', filter: `organisation_id=eq.${a.org}` },
  ]);

  await stack.sql`delete from jobs where id = ${a.job}`;
  await stack.sql`delete from jobs where id = ${b.job}`;
  const mine = await bWatch.changes.until('B’s own DELETE', (items) => items.find((c) => c.old.id === b.job));
  assert.deepEqual(mine.old, { id: b.job });
  assert.deepEqual(
    bWatch.changes.items.map((c) => [c.binding, c.old.id]),
    [[0, b.job]],
  );
  assert.equal(sentAnything(bClient, a.job), false);
  const theirs = await aWatch.changes.until('A’s DELETE', (items) => items[0]);
  assert.deepEqual(theirs.old, { id: a.job });
  await aClient.flush();
  assert.deepEqual(
    aWatch.changes.items.map((c) => c.old.id),
    [a.job],
  );
  assert.deepEqual(stack.problems, []);
});

test('a token switched to another user stops the first user’s rows and starts the second’s', async () => {
  const a = await tenant('a-switch.example');
  const c = await tenant('c-switch.example');
  const client = await stack.client({ token: a.user.token });
  const watch = await client.watch('tables', WHOLE_TABLES);
  const seen = (jobId: string) =>
    watch.changes.items.filter((e) => rowOf(e).job_id === jobId && e.table === 'tasks');

  await touch(c.job, 'c1');
  const aTask1 = await touch(a.job, 'a1');
  await watch.changes.until('A’s task', (items) => items.some((e) => e.new.id === aTask1));
  assert.deepEqual(seen(c.job), [], 'as A: none of C’s');

  await client.supabase.realtime.setAuth(c.user.token);
  await tokenTaken(stack, c.user.id, expOf(c.user.token));
  const switched = client.changeFrames().length;
  await touch(a.job, 'a2');
  const cTask2 = await touch(c.job, 'c2');
  await watch.changes.until('C’s task', (items) => items.some((e) => e.new.id === cTask2));
  assert.deepEqual(
    seen(a.job).map((e) => e.new.id),
    [aTask1],
    'as C: nothing more of A’s',
  );
  const since = client.changeFrames().slice(switched);
  assert.ok(
    since.some((f) => f.payload.data.table === 'jobs'),
    'C’s job row too',
  );
  assert.ok(
    since.every((f) => frameNamesJob(f, c.job)),
    'since the switch, C’s rows only',
  );
  assert.deepEqual(stack.problems, []);
});

test('the anon key alone receives nothing of anyone’s', async () => {
  const a = await tenant('a-anon.example');
  const b = await tenant('b-anon.example');
  const anon = await stack.client();
  await anon.watch('a-job', jobBindings(a.job));
  await anon.watch('tables', WHOLE_TABLES);
  const aClient = await stack.client({ token: a.user.token });
  const control = await aClient.watch('tables', WHOLE_TABLES);

  await touch(b.job, 'b');
  await startJob(stack.sql, a.job);
  const last = await touch(a.job, 'a');
  await control.changes.until('A’s last task', (items) => items.some((e) => e.new.id === last));
  // A received it, so the hub has sent that window to every socket; anon's heartbeat is answered after it.
  await anon.flush();
  assert.deepEqual(anon.changeFrames(), []);
  assert.deepEqual(stack.problems, []);
});

test('a share link’s viewer watches its one job live, and nothing of the organisation’s other jobs', async () => {
  const a = await tenant('shared.example');
  const other = (await insertJob(stack.sql, { organisationId: a.org, rootUrl: 'https://other.example/' })).id;
  const link = await stack.call(a.user, 'POST', `/v1/jobs/${a.job}/share-links`, {});
  assert.equal(link.status, 201);
  const viewer = await stack.client({ shareToken: link.body.token });
  assert.match(viewer.supabase.realtime.endpointURL(), /[?&]share_token=/);
  const shared = await viewer.watch('job-updates', jobBindings(a.job));
  const sibling = await viewer.watch('other-job', jobBindings(other));
  const tables = await viewer.watch('tables', WHOLE_TABLES);

  await startJob(stack.sql, other);
  await touch(other, 'other');
  await startJob(stack.sql, a.job);
  const task = await touch(a.job, 'shared');
  await shared.changes.until('the shared job’s task', (items) => items.some((e) => e.new.id === task));
  await tables.changes.until('the shared job’s task on the whole table', (items) =>
    items.some((e) => e.new.id === task),
  );
  assert.ok(shared.changes.items.some((e) => e.table === 'jobs' && e.new.status === 'running'));
  assert.ok(tables.changes.items.every((e) => (e.table === 'jobs' ? e.new.id : e.new.job_id) === a.job));
  assert.deepEqual(sibling.changes.items, []);
  assert.equal(sentAnything(viewer, other), false);
  assert.deepEqual(stack.problems, []);
});
