import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readMigrations } from '../../src/db/migrate.ts';
import { loadCatalog } from '../../src/realtime/catalog.ts';
import { testDatabase } from '../support/db.ts';
import { makeJob } from '../support/jobs.ts';
import { changesTo, nextEvent, nextTransaction, readySource } from './change-events.ts';

const db = await testDatabase();

test('the published tables: jobs and tasks, with their columns, keys and RLS', async () => {
  const tables = (await loadCatalog(db.sql)).tables();
  assert.deepEqual([...tables.keys()], ['public.jobs', 'public.tasks']);

  const jobs = tables.get('public.jobs')!;
  assert.equal(jobs.schema, 'public');
  assert.equal(jobs.table, 'jobs');
  assert.deepEqual(jobs.primaryKey, ['id']);
  assert.equal(jobs.rls, true);
  const type = (name: string) => jobs.columns.find((c) => c.name === name)?.type;
  assert.equal(type('id'), 'uuid');
  assert.equal(type('organisation_id'), 'uuid');
  assert.equal(type('include_patterns'), '_text');
  assert.equal(type('created_at'), 'timestamptz');
  assert.equal(type('stats'), 'jsonb');
  assert.equal(type('max_attempts'), 'int2');
  // A plain column kept by a trigger, not a generated one, so that changes carry it.
  assert.equal(type('progress'), 'numeric');

  const tasks = tables.get('public.tasks')!;
  assert.deepEqual(tasks.primaryKey, ['id']);
  assert.equal(tasks.columns[0]?.name, 'id');
  assert.equal(tasks.columns[0]?.type, 'int8');
});

test('its columns are the ones the changes carry', async () => {
  const catalog = await loadCatalog(db.sql);
  const source = await readySource(db.url);
  const jobArrived = nextTransaction(source, 'jobs');
  const jobId = await makeJob(db.sql, { start: false });
  const job = changesTo(await jobArrived, 'jobs')[0]!;
  const taskArrived = nextTransaction(source, 'tasks');
  await db.sql`insert into tasks (job_id, url, source) values (${jobId}, 'https://example.com/', 'root')`;
  const task = changesTo(await taskArrived, 'tasks')[0]!;

  assert.deepEqual(job.columns, catalog.tables().get('public.jobs')!.columns);
  assert.deepEqual(
    Object.keys(job.record!),
    job.columns.map((c) => c.name),
  );
  assert.deepEqual(task.columns, catalog.tables().get('public.tasks')!.columns);
});

test('refresh() sees new tables, changed columns, composite keys and column lists', async () => {
  const catalog = await loadCatalog(db.sql);
  await db.sql.unsafe(`
    create table public.rt_pairs (a int4, b text, note text, hidden text, primary key (b, a));
    alter publication supabase_realtime add table public.rt_pairs (a, b, note);`);
  assert.equal(catalog.tables().has('public.rt_pairs'), false);
  await catalog.refresh();
  const pairs = catalog.tables().get('public.rt_pairs')!;
  assert.deepEqual(pairs.primaryKey, ['b', 'a']);
  assert.equal(pairs.rls, false);
  assert.deepEqual(pairs.columns, [
    { name: 'a', type: 'int4' },
    { name: 'b', type: 'text' },
    { name: 'note', type: 'text' },
  ]);

  await db.sql.unsafe(`
    alter table public.rt_pairs enable row level security;
    alter publication supabase_realtime drop table public.rt_pairs;
    alter publication supabase_realtime add table public.rt_pairs (a, b);`);
  await Promise.all([catalog.refresh(), catalog.refresh()]);
  assert.equal(catalog.tables().get('public.rt_pairs')!.rls, true);
  assert.deepEqual(
    catalog
      .tables()
      .get('public.rt_pairs')!
      .columns.map((c) => c.name),
    ['a', 'b'],
  );
});

test("the source reports a published table's changed columns, so the catalog can be refreshed", async () => {
  await db.sql.unsafe(`
    create table public.rt_grows (id int4 primary key, n int4);
    alter publication supabase_realtime add table public.rt_grows;`);
  const catalog = await loadCatalog(db.sql);
  const source = await readySource(db.url);
  source.on('relation', () => void catalog.refresh());
  const relations: string[] = [];
  source.on('relation', (t) => relations.push(t.table));

  const first = nextTransaction(source, 'rt_grows');
  await db.sql`insert into public.rt_grows values (1, 1)`;
  await first;
  assert.deepEqual(relations, [], 'a table first seen is no change');

  const changed = nextEvent(source, 'relation', (t) => t.table === 'rt_grows');
  const second = nextTransaction(source, 'rt_grows');
  await db.sql.unsafe('alter table public.rt_grows add column label text');
  await db.sql`insert into public.rt_grows values (2, 2, 'two')`;
  const [table] = await changed;
  assert.deepEqual(table.columns.at(-1), { name: 'label', type: 'text' });
  assert.deepEqual(changesTo(await second, 'rt_grows')[0]!.record, { id: 2, n: 2, label: 'two' });
  await catalog.refresh();
  assert.deepEqual(catalog.tables().get('public.rt_grows')!.columns, table.columns);
});

test('the realtime migration runs again without harm, also where the publication lists other tables', async () => {
  const migration = (await readMigrations()).find((m) => m.name === 'realtime')!;
  await db.sql.unsafe(`
    create table public.rt_theirs (id int4 primary key);
    alter publication supabase_realtime add table public.rt_theirs;`);
  for (const statement of migration.statements) await db.sql.unsafe(statement.text);

  const published = await db.sql<{ tablename: string }[]>`
    select tablename::text from pg_publication_tables where pubname = 'supabase_realtime' order by 1`;
  assert.deepEqual(
    published.map((r) => r.tablename).filter((t) => ['jobs', 'tasks', 'rt_theirs'].includes(t)),
    ['jobs', 'rt_theirs', 'tasks'],
  );
  const identities = await db.sql<{ relname: string; relreplident: string }[]>`
    select relname::text, relreplident::text from pg_class
    where relnamespace = 'public'::regnamespace and relname in ('jobs', 'tasks') order by 1`;
  assert.deepEqual(
    identities.map((r) => [r.relname, r.relreplident]),
    [
      ['jobs', 'f'],
      ['tasks', 'd'],
    ],
  );
});
