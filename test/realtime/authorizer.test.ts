// The realtime RLS check, against real tenants, jobs and tasks: one call answers for every audience exactly
// what the policies let each read (owner, member, outsider, anon, a share link's anon, service_role), DELETEs
// go by the job's organisation, a failure delivers nothing, and only the connection's role may call it.
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { asUser } from '../../src/db/as-user.ts';
import { connect } from '../../src/db/client.ts';
import { enqueueUrls } from '../../src/queue/tasks.ts';
import { authorize } from '../../src/realtime/authorizer.ts';
import { loadCatalog } from '../../src/realtime/catalog.ts';
import type { Audience, Change, ChangeType, Row, TableInfo } from '../../src/realtime/types.ts';
import { testDatabase } from '../support/db.ts';
import { makeJob, urls } from '../support/jobs.ts';
import { addMember, createOrg, createUser, rejectsWithCode, type Tenant } from '../support/tenants.ts';

const db = await testDatabase();
const catalog = await loadCatalog(db.sql);
const JOBS = catalog.tables().get('public.jobs')!;
const TASKS = catalog.tables().get('public.tasks')!;

const alice = await createUser(db.sql);
const carol = await createUser(db.sql);
const bob = await createUser(db.sql);
const dave = await createUser(db.sql);
const orgA = await createOrg(db.sql, 'Org A', [[alice, 'owner']], 'pro');
await addMember(db.sql, orgA, carol, 'member');
const orgB = await createOrg(db.sql, 'Org B', [[bob, 'owner']], 'pro');

async function crawl(organisationId: string, host: string): Promise<string> {
  const job = await makeJob(db.sql, { organisationId, host });
  await enqueueUrls(db.sql, job, urls(host, 2));
  return job;
}
const jobA1 = await crawl(orgA, 'a1.test');
const jobA2 = await crawl(orgA, 'a2.test');
const jobB = await crawl(orgB, 'b.test');
await db.sql`insert into job_share_links (job_id, token_hash, created_by, expires_at)
             values (${jobB}, ${createHash('sha256').update('share-b').digest()}, ${bob.id}, now() + interval '1 day')`;

const user = (t: Tenant): Audience => ({ role: 'authenticated', claims: t.claims, headers: {} });
const ANON: Audience = { role: 'anon', claims: { role: 'anon' }, headers: {} };
const SHARED_B: Audience = {
  role: 'anon',
  claims: { role: 'anon' },
  headers: { 'x-share-token': 'share-b' },
};
const SERVICE: Audience = { role: 'service_role', claims: { role: 'service_role' }, headers: {} };
const EVERYONE = [user(alice), user(carol), user(bob), user(dave), ANON, SHARED_B, SERVICE];

/** Real committed rows as the change source gives them (to_jsonb's values). */
async function rows(table: 'jobs' | 'tasks', where: { jobIds: string[] }): Promise<Row[]> {
  const found =
    table === 'jobs'
      ? await db.sql<
          { row: Row }[]
        >`select to_jsonb(j) as row from jobs j where id = any(${where.jobIds}::uuid[])
                                     order by array_position(${where.jobIds}::uuid[], id)`
      : await db.sql<
          { row: Row }[]
        >`select to_jsonb(t) as row from tasks t where job_id = any(${where.jobIds}::uuid[])
                                     order by array_position(${where.jobIds}::uuid[], job_id), id`;
  return found.map((r) => r.row);
}

function change(table: TableInfo, type: ChangeType, row: Row): Change {
  return {
    schema: table.schema,
    table: table.table,
    type,
    columns: table.columns,
    record: type === 'DELETE' ? null : row,
    oldRecord: type === 'INSERT' ? null : row,
  };
}

/** What each audience may see, as sorted lists of change indexes. */
async function visible(table: TableInfo, changes: Change[], audiences = EVERYONE, sql = db.sql) {
  return (await authorize(sql, table, changes, audiences)).map((set) => [...set].sort());
}

describe('the authoriser returns exactly what RLS allows, in one call for every audience', () => {
  test('job INSERTs and UPDATEs: members of the organisation, a share link to the job, service_role', async () => {
    const [a1, a2, b] = await rows('jobs', { jobIds: [jobA1, jobA2, jobB] });
    const changes = [change(JOBS, 'UPDATE', a1!), change(JOBS, 'INSERT', a2!), change(JOBS, 'UPDATE', b!)];
    assert.deepEqual(await visible(JOBS, changes), [
      [0, 1], // alice, owner of A
      [0, 1], // carol, member of A
      [2], // bob, owner of B
      [], // dave, in no organisation
      [], // anon
      [2], // anon with B's share link
      [0, 1, 2], // service_role
    ]);
  });

  test("task changes: through their job's visibility", async () => {
    const tasks = await rows('tasks', { jobIds: [jobA1, jobB] });
    assert.equal(tasks.length, 4);
    const changes = tasks.map((t, i) => change(TASKS, i % 2 ? 'UPDATE' : 'INSERT', t));
    assert.deepEqual(await visible(TASKS, changes), [[0, 1], [0, 1], [2, 3], [], [], [2, 3], [0, 1, 2, 3]]);
  });

  test("a job DELETE goes to whoever can read the job's organisation; a task DELETE to service_role only", async () => {
    const doomedA = await crawl(orgA, 'doomed-a.test');
    const doomedB = await crawl(orgB, 'doomed-b.test');
    const [oldA, oldB] = await rows('jobs', { jobIds: [doomedA, doomedB] });
    const oldTasks = await rows('tasks', { jobIds: [doomedA, doomedB] });
    await db.sql`delete from jobs where id in (${doomedA}, ${doomedB})`;
    const [a1] = await rows('jobs', { jobIds: [jobA1] });
    const changes = [
      change(JOBS, 'DELETE', oldA!),
      change(JOBS, 'DELETE', oldB!),
      change(JOBS, 'UPDATE', a1!),
    ];
    assert.deepEqual(await visible(JOBS, changes), [[0, 2], [0, 2], [1], [], [], [], [0, 1, 2]]);
    assert.deepEqual(
      await visible(JOBS, changes.slice(0, 1)),
      [[0], [0], [], [], [], [], [0]],
      'DELETEs alone',
    );

    // A task's old row is only its key (default replica identity): nothing says whose it was.
    const taskDeletes = oldTasks.map((t) => change(TASKS, 'DELETE', { id: t.id }));
    assert.deepEqual(await visible(TASKS, taskDeletes), [[], [], [], [], [], [], [0, 1, 2, 3]]);
  });

  test('a row deleted before the check is not delivered as an INSERT or UPDATE', async () => {
    const gone = await crawl(orgA, 'gone.test');
    const [row] = await rows('jobs', { jobIds: [gone] });
    await db.sql`delete from jobs where id = ${gone}`;
    assert.deepEqual(await visible(JOBS, [change(JOBS, 'UPDATE', row!)], [user(alice), SERVICE]), [[], [0]]);
  });

  test('claims switch within one call: the same role with other claims, and between roles', async () => {
    const [a1, b] = await rows('jobs', { jobIds: [jobA1, jobB] });
    const changes = [change(JOBS, 'UPDATE', a1!), change(JOBS, 'UPDATE', b!)];
    const order = [user(bob), user(alice), ANON, SHARED_B, user(alice), user(bob), SHARED_B, ANON];
    assert.deepEqual(await visible(JOBS, changes, order), [[1], [0], [], [1], [0], [1], [1], []]);
  });

  test('an audience that wants some of the changes has only those rows read', async () => {
    const [a1, a2, b] = await rows('jobs', { jobIds: [jobA1, jobA2, jobB] });
    const changes = [change(JOBS, 'UPDATE', a1!), change(JOBS, 'UPDATE', a2!), change(JOBS, 'UPDATE', b!)];
    const result = await authorize(db.sql, JOBS, changes, [user(alice), user(carol), user(bob), SERVICE], {
      wanted: [[1], undefined, [0, 2], [2]],
    });
    // carol wants every change (undefined); alice's A1 and bob's nothing-of-A are never read for them.
    assert.deepEqual(
      result.map((set) => [...set].sort()),
      [[1], [0, 1], [2], [0, 1, 2]],
    );
  });

  test('a token refreshed to another user sees that user’s rows on the next call', async () => {
    const [a1] = await rows('jobs', { jobIds: [jobA1] });
    const refreshed: Audience = {
      role: 'authenticated',
      claims: { ...alice.claims, sub: bob.id },
      headers: {},
    };
    assert.deepEqual(await visible(JOBS, [change(JOBS, 'UPDATE', a1!)], [user(alice)]), [[0]]);
    assert.deepEqual(await visible(JOBS, [change(JOBS, 'UPDATE', a1!)], [refreshed]), [[]]);
  });
});

describe('a failed check delivers nothing to the audiences it was checking', () => {
  test('an unpublished table: the function refuses it, the error is logged, service_role is unaffected', async () => {
    const organisations: TableInfo = { ...JOBS, table: 'organisations' };
    const [a1] = await rows('jobs', { jobIds: [jobA1] });
    const logged: string[] = [];
    const result = await authorize(db.sql, organisations, [change(organisations, 'UPDATE', a1!)], EVERYONE, {
      log: { error: (m) => logged.push(m) },
    });
    assert.deepEqual(
      result.map((s) => [...s]),
      [[], [], [], [], [], [], [0]],
    );
    assert.equal(logged.length, 1);
    assert.match(
      logged[0]!,
      /public\.organisations for 6 audiences; none delivered: .*not in the supabase_realtime/,
    );
  });

  test('a table without a single-column primary key', async () => {
    const logged: string[] = [];
    const composite = { ...JOBS, primaryKey: ['id', 'organisation_id'] };
    const [a1] = await rows('jobs', { jobIds: [jobA1] });
    const result = await authorize(db.sql, composite, [change(JOBS, 'UPDATE', a1!)], [user(alice)], {
      log: { error: (m) => logged.push(m) },
    });
    assert.deepEqual([...result[0]!], []);
    assert.match(logged[0]!, /needs a single-column primary key/);
  });
});

describe('public.realtime_authorize', () => {
  const call = (table: string, pk: string, roles: string[]) =>
    db.sql`select * from public.realtime_authorize(${table}::regclass, ${pk}, ${roles}::text[],
             ${roles.map(() => '{}')}::text[], ${roles.map(() => '{}')}::text[], ${[jobA1]}::text[],
             array_fill(null::text, array[${roles.length}::int]), '{}')`;

  test('refuses unpublished tables, a column that is not the primary key, and roles other than the API roles', async () => {
    await rejectsWithCode(
      call('public.organisations', 'id', ['anon']),
      '42501',
      /not in the supabase_realtime/,
    );
    await rejectsWithCode(
      call('public.jobs', 'organisation_id', ['anon']),
      '22023',
      /not the single-column primary key/,
    );
    await rejectsWithCode(
      call('public.jobs', 'id', ['postgres']),
      '22023',
      /role must be anon, authenticated or/,
    );
  });

  test('API roles may not execute it: the caller chooses whose claims it reads with', async () => {
    for (const claims of [{ role: 'anon' as const }, alice.claims, { role: 'service_role' as const }]) {
      await rejectsWithCode(
        asUser(
          db.sql,
          claims,
          (tx) =>
            tx`select * from public.realtime_authorize('public.jobs', 'id', '{authenticated}',
               ${[JSON.stringify(bob.claims)]}::text[], '{"{}"}', ${[jobB]}::text[], '{NULL}', '{}')`,
        ),
        '42501',
        /permission denied for function realtime_authorize/,
      );
    }
  });

  test('the caller’s role and settings are back after the call, within its transaction', async () => {
    const after = await db.sql.begin(async (tx) => {
      await tx`select set_config('request.jwt.claims', '{"before":true}', true)`;
      await tx`select * from public.realtime_authorize('public.jobs', 'id', '{anon,authenticated}',
                 ${['{}', JSON.stringify(alice.claims)]}::text[], '{"{}","{\\"x-share-token\\":\\"t\\"}"}',
                 ${[jobA1]}::text[], '{NULL,NULL}', '{}')`;
      return tx<{ user: string; claims: string; headers: string }[]>`
        select current_user as user, current_setting('request.jwt.claims', true) as claims,
               coalesce(current_setting('request.headers', true), '') as headers`;
    });
    const [session] = await db.sql<{ user: string }[]>`select session_user as user`;
    assert.deepEqual({ ...after[0]! }, { user: session!.user, claims: '{"before":true}', headers: '' });
  });

  test('a login role that is not a superuser switches roles through its own memberships', async (t) => {
    // Membership is checked against the session user: the connection's role, as in production on Supabase.
    const role = `bbb_realtime_${randomUUID().slice(0, 8)}`;
    await db.sql.unsafe(`create role ${role} login password 'realtime' nosuperuser noinherit`);
    await db.sql.unsafe(`grant anon, authenticated, service_role to ${role}`);
    await db.sql.unsafe(
      `grant execute on function public.realtime_authorize(regclass, text, text[], text[], text[], text[], text[], uuid[]) to ${role}`,
    );
    const url = new URL(db.url);
    url.username = role;
    url.password = 'realtime';
    const limited = connect(url.toString(), { max: 1 });
    t.after(async () => {
      await limited.end();
      await db.sql.unsafe(`drop owned by ${role}`);
      await db.sql.unsafe(`drop role ${role}`);
    });
    const [a1, b] = await rows('jobs', { jobIds: [jobA1, jobB] });
    const changes = [change(JOBS, 'UPDATE', a1!), change(JOBS, 'UPDATE', b!)];
    const [who] = await limited<{ superuser: string }[]>`select current_setting('is_superuser') as superuser`;
    assert.equal(who!.superuser, 'off');
    assert.deepEqual(await visible(JOBS, changes, EVERYONE, limited), [[0], [0], [1], [], [], [1], [0, 1]]);
  });

  test('a published table other than jobs and tasks is checked through its own policies too', async () => {
    // jobs and tasks have plan-cached queries; any other published table goes through the dynamic one.
    await db.sql.unsafe(`
      create table public.realtime_notes (id bigint primary key, owner uuid not null);
      alter table public.realtime_notes enable row level security;
      create policy notes_own on public.realtime_notes for select to authenticated
        using (owner = (select auth.uid()));
      alter publication supabase_realtime add table public.realtime_notes`);
    await db.sql`insert into public.realtime_notes values (1, ${alice.id}), (2, ${bob.id})`;
    await catalog.refresh();
    const notes = catalog.tables().get('public.realtime_notes')!;
    assert.ok(notes, 'the catalog lists the newly published table');
    const changes = [1, 2].map((id) => change(notes, 'INSERT', { id, owner: id === 1 ? alice.id : bob.id }));
    assert.deepEqual(await visible(notes, changes, [user(alice), user(bob), ANON, SERVICE]), [
      [0],
      [1],
      [],
      [0, 1],
    ]);
  });
});
