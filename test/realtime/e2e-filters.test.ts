// Filters and events through the official supabase-js: every operator (eq, neq, lt, lte, gt, gte, in) on rows
// the test writes itself, each event type (INSERT, UPDATE, DELETE, *), and what the hub decides for DELETEs:
// a job's reaches its organisation's members cut to its key, its tasks' reach service_role only, and the jobs
// of a deleted organisation reach nobody, their members being gone with it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { insertJob, startJob } from '../../src/queue/jobs.ts';
import { enqueueUrls } from '../../src/queue/tasks.ts';
import { type Binding, type Change, rowOf } from './e2e-client.ts';
import { liveStack } from './e2e-fixture.ts';

const stack = await liveStack();

const newJob = async (organisationId: string, host = 'filters.example') =>
  (await insertJob(stack.sql, { organisationId, rootUrl: `https://${host}/` })).id;

test('every filter operator picks exactly its rows, comparing by the column’s type', async () => {
  const owner = await stack.user();
  const jobId = await newJob(await stack.org([[owner, 'owner']]));
  const on = (condition: string): Binding => ({
    event: 'INSERT',
    table: 'tasks',
    filter: `job_id=eq.${jobId},${condition}`,
  });
  const url = (p: number) => `https://filters.example/p${p}`;
  // priority is an integer: 10 > 9 only as numbers (as text, '10' < '9').
  const priorities = [1, 2, 9, 10, 11];
  const bindings: Array<[Binding, number[]]> = [
    [on('priority=eq.10'), [10]],
    [on('priority=neq.10'), [1, 2, 9, 11]],
    [on('priority=lt.10'), [1, 2, 9]],
    [on('priority=lte.10'), [1, 2, 9, 10]],
    [on('priority=gt.9'), [10, 11]],
    [on('priority=gte.9'), [9, 10, 11]],
    [on('priority=in.(2,11,12)'), [2, 11]],
    [on(`url=in.("${url(1)}","${url(9)}")`), [1, 9]],
    [on('priority=gt.1,priority=lt.11'), [2, 9, 10]],
    [{ event: 'INSERT', table: 'tasks', filter: `job_id=neq.${jobId}` }, []],
  ];
  const client = await stack.client({ token: owner.token });
  const watch = await client.watch(
    'operators',
    bindings.map(([b]) => b),
  );

  await enqueueUrls(stack.sql, jobId, priorities.map(url), { priorities });
  const expected = bindings.flatMap(([, ps]) => ps).length;
  await watch.changes.until(`${expected} matches`, (items) => items.length >= expected);
  // One transaction, so one window: everything it sends this client has been written by now.
  await client.flush();
  bindings.forEach(([binding, wanted], i) => {
    const got = watch.changes.items.filter((c) => c.binding === i).map((c) => c.new.priority as number);
    assert.deepEqual(
      got.sort((a, b) => a - b),
      wanted,
      binding.filter,
    );
  });
  assert.equal(watch.changes.items.length, expected);
  assert.deepEqual(stack.problems, []);
});

test('INSERT, UPDATE, DELETE and * each get their events; a job’s DELETE reaches its members cut to its key', async () => {
  const owner = await stack.user();
  const organisationId = await stack.org([[owner, 'owner']]);
  const byOrg = `organisation_id=eq.${organisationId}`;
  const client = await stack.client({ token: owner.token });
  const jobs = await client.watch('job-events', [
    { event: 'INSERT', table: 'jobs', filter: byOrg },
    { event: 'UPDATE', table: 'jobs', filter: byOrg },
    { event: 'DELETE', table: 'jobs', filter: byOrg },
    { event: '*', table: 'jobs', filter: byOrg },
  ]);
  const kinds = (changes: readonly Change[]) => changes.map((c) => [c.binding, c.eventType]);

  // Each step waits for its event: a row deleted before its window is checked is not delivered.
  const jobId = await newJob(organisationId);
  await jobs.changes.until('the INSERT', (items) => items.length >= 2);
  await startJob(stack.sql, jobId);
  await jobs.changes.until('the UPDATE', (items) => items.length >= 4);
  await stack.sql`delete from jobs where id = ${jobId}`;
  await jobs.changes.until('the DELETE', (items) => items.length >= 6);
  await client.flush();
  assert.deepEqual(kinds(jobs.changes.items), [
    [0, 'INSERT'],
    [3, 'INSERT'],
    [1, 'UPDATE'],
    [3, 'UPDATE'],
    [2, 'DELETE'],
    [3, 'DELETE'],
  ]);
  assert.ok(jobs.changes.items.every((c) => rowOf(c).id === jobId));
  const [insert, , update, , deleted] = jobs.changes.items;
  assert.deepEqual([insert!.new.status, insert!.old], ['pending', {}]);
  // Replica identity full: an UPDATE's old row is whole.
  assert.deepEqual(
    [update!.old.status, update!.new.status, update!.old.root_url],
    ['pending', 'running', 'https://filters.example/'],
  );
  // RLS is on: the old row is cut to the key, as Supabase does.
  assert.deepEqual([deleted!.old, deleted!.new], [{ id: jobId }, {}]);
  assert.deepEqual(stack.problems, []);
});

test('tasks’ events by type: their DELETEs reach service_role only, carrying just the key', async () => {
  const owner = await stack.user();
  const jobId = await newJob(await stack.org([[owner, 'owner']]));
  const byJob = `job_id=eq.${jobId}`;
  // A task's DELETE carries only its key (default replica identity), so no job_id filter can match it: the
  // DELETE bindings are unfiltered, as they must be on Supabase too.
  const bindings: Binding[] = [
    { event: 'INSERT', table: 'tasks', filter: byJob },
    { event: 'UPDATE', table: 'tasks', filter: byJob },
    { event: 'DELETE', table: 'tasks' },
    { event: '*', table: 'tasks', filter: byJob },
  ];
  const member = await stack.client({ token: owner.token });
  const service = await stack.client({ key: 'service' });
  const mine = await member.watch('task-events', bindings);
  const all = await service.watch('task-events', bindings);

  const [a, b] = (
    await enqueueUrls(stack.sql, jobId, ['https://filters.example/a', 'https://filters.example/b'])
  ).inserted;
  await mine.changes.until('the INSERTs', (items) => items.length >= 4);
  await stack.sql`update tasks set status = 'running' where id = ${a!.id}`;
  await mine.changes.until('the UPDATE', (items) => items.length >= 6);
  await stack.sql`delete from tasks where id = ${a!.id}`;
  // The key says nothing of whose task it was: the member is not sent the DELETE. A later change the member
  // does see shows that nothing came before it.
  await stack.sql`update tasks set status = 'running' where id = ${b!.id}`;
  await mine.changes.until('the second UPDATE', (items) => items.length >= 8);
  await all.changes.until('everything', (items) => items.length >= 9);
  await Promise.all([member.flush(), service.flush()]);

  const kinds = (items: readonly Change[]) => items.map((c) => [c.binding, c.eventType, rowOf(c).id]);
  const [ia, ib, ua, ub] = [
    [0, 'INSERT', a!.id],
    [0, 'INSERT', b!.id],
    [1, 'UPDATE', a!.id],
    [1, 'UPDATE', b!.id],
  ];
  const star = (k: (string | number)[]) => [3, k[1], k[2]];
  const expected = [ia, star(ia!), ib, star(ib!), ua, star(ua!), ub, star(ub!)];
  assert.deepEqual(kinds(mine.changes.items), expected);
  assert.deepEqual(kinds(all.changes.items), [
    ...expected.slice(0, 6),
    [2, 'DELETE', a!.id],
    ...expected.slice(6),
  ]);
  const deleted = all.changes.items.find((c) => c.eventType === 'DELETE')!;
  assert.deepEqual([deleted.old, deleted.new], [{ id: a!.id }, {}]);
  // Default replica identity: a task UPDATE's old row is its key.
  assert.deepEqual(mine.changes.items.find((c) => c.eventType === 'UPDATE')!.old, { id: a!.id });
  assert.deepEqual(stack.problems, []);
});

test('an organisation deleted through the API: its jobs’ DELETEs reach none of its former members', async () => {
  const owner = await stack.user();
  const kept = await stack.org([[owner, 'owner']]);
  const doomed = (await stack.call(owner, 'POST', '/v1/organisations', { name: 'Doomed' })).body.id as string;
  assert.ok(doomed);
  const member = await stack.client({ token: owner.token });
  const service = await stack.client({ key: 'service' });
  const everything: Binding[] = [{ event: '*', table: 'jobs' }];
  const mine = await member.watch('all-jobs', everything);
  const all = await service.watch('all-jobs', everything);
  const keptJob = await newJob(kept, 'kept.example');
  const doomedJob = await newJob(doomed, 'doomed.example');
  for (const watch of [mine, all]) await watch.changes.until('the two INSERTs', (items) => items.length >= 2);

  assert.equal((await stack.call(owner, 'DELETE', `/v1/organisations/${doomed}`)).status, 204);
  await stack.sql`update jobs set max_pages = 7 where id = ${keptJob}`;
  for (const watch of [mine, all]) {
    await watch.changes.until('the kept job’s UPDATE', (items) =>
      items.some((c) => c.eventType === 'UPDATE'),
    );
  }
  await Promise.all([member.flush(), service.flush()]);

  const kinds = (items: readonly Change[]) => items.map((c) => [c.eventType, rowOf(c).id]);
  const inserts = [
    ['INSERT', keptJob],
    ['INSERT', doomedJob],
  ];
  // The membership went in the DELETE's transaction, so the check (after the commit) finds no reader for it.
  assert.deepEqual(kinds(mine.changes.items), [...inserts, ['UPDATE', keptJob]]);
  assert.deepEqual(kinds(all.changes.items), [...inserts, ['DELETE', doomedJob], ['UPDATE', keptJob]]);
  assert.deepEqual(stack.problems, []);
});
