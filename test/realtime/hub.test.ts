// The hub against real tenants, jobs and tasks: changes from the real change source reach only the
// subscribers RLS lets read them (DELETEs included), one RLS call per table per window whatever the number of
// subscribers, windows delivered in order, jobs' UPDATEs coalesced, slow subscribers dropped, and
// backpressure when behind.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { enqueueUrls } from '../../src/queue/tasks.ts';
import { type Authorize, authorize } from '../../src/realtime/authorizer.ts';
import { loadCatalog } from '../../src/realtime/catalog.ts';
import { parseFilter } from '../../src/realtime/filters.ts';
import { createHub, type Hub, type HubOptions, MAX_WINDOW_CHANGES } from '../../src/realtime/hub.ts';
import type {
  Audience,
  Binding,
  Change,
  ChangeType,
  Row,
  Subscription,
  TableInfo,
  Transaction,
} from '../../src/realtime/types.ts';
import { testDatabase } from '../support/db.ts';
import { makeJob, urls } from '../support/jobs.ts';
import { createOrg, createUser, type Tenant } from '../support/tenants.ts';
import { waitFor } from '../support/wait.ts';
import { readySource } from './change-events.ts';

const db = await testDatabase();
const catalog = await loadCatalog(db.sql);
const JOBS = catalog.tables().get('public.jobs')!;
const TASKS = catalog.tables().get('public.tasks')!;

const alice = await createUser(db.sql);
const bob = await createUser(db.sql);
const orgA = await createOrg(db.sql, 'Org A', [[alice, 'owner']], 'pro');
const orgB = await createOrg(db.sql, 'Org B', [[bob, 'owner']], 'pro');

async function crawl(organisationId: string, host: string, count = 2): Promise<string> {
  const job = await makeJob(db.sql, { organisationId, host });
  await enqueueUrls(db.sql, job, urls(host, count));
  return job;
}
const jobA = await crawl(orgA, 'a.test');
const jobB = await crawl(orgB, 'b.test');

const as = (t: Tenant): Audience => ({ role: 'authenticated', claims: t.claims, headers: {} });

function binding(id: number, table: TableInfo, event: ChangeType | '*' = '*', filter?: string): Binding {
  return {
    id,
    event,
    schema: table.schema,
    table: table.table,
    filter: filter ? parseFilter(filter, table) : undefined,
  };
}

interface Received {
  type: ChangeType;
  table: string;
  record: Row | null;
  oldRecord: Row | null;
  ids: number[];
}

/** A subscriber that records what it is given; it takes `capacity` changes, then reports itself full. */
class Recorder implements Subscription {
  readonly received: Received[] = [];
  attempts = 0;
  constructor(
    readonly bindings: Binding[],
    public current: Audience,
    private readonly capacity = Number.POSITIVE_INFINITY,
  ) {}
  audience(): Audience {
    return this.current;
  }
  deliver(change: Change, ids: number[]): boolean {
    this.attempts++;
    if (this.received.length >= this.capacity) return false;
    this.received.push({
      type: change.type,
      table: change.table,
      record: change.record,
      oldRecord: change.oldRecord,
      ids,
    });
    return true;
  }
  until(what: string, done: (received: Received[]) => boolean): Promise<true> {
    return waitFor(what, () => done(this.received) || undefined);
  }
}

/** The authoriser, counting its calls and what each was asked. */
function counting(gate?: (call: number) => Promise<void>) {
  const calls: Array<{ table: string; changes: number; audiences: number }> = [];
  /** The calls that have returned, by number. */
  const checked: number[] = [];
  const wrapped: Authorize = async (sql, table, changes, audiences, options) => {
    const call = calls.push({ table: table.table, changes: changes.length, audiences: audiences.length });
    await gate?.(call);
    const visible = await authorize(sql, table, changes, audiences, options);
    checked.push(call);
    return visible;
  };
  return { calls, checked, authorize: wrapped };
}

const hubs: Hub[] = [];
after(() => Promise.all(hubs.map((h) => h.stop())));
function hub(options: Partial<HubOptions> = {}): Hub {
  const logged: string[] = [];
  const made = createHub({
    sql: db.sql,
    tables: catalog.tables,
    windowMs: 5,
    log: { warn: (m) => logged.push(m), error: (m) => logged.push(m) },
    ...options,
  });
  hubs.push(made);
  return made;
}

/** Real committed rows, as the change source decodes them (to_jsonb's values). */
async function jobRow(id: string): Promise<Row> {
  const [r] = await db.sql<{ row: Row }[]>`select to_jsonb(j) as row from jobs j where id = ${id}`;
  return r!.row;
}
async function taskRows(jobId: string): Promise<Row[]> {
  const found = await db.sql<
    { row: Row }[]
  >`select to_jsonb(t) as row from tasks t where job_id = ${jobId} order by id`;
  return found.map((r) => r.row);
}
function change(table: TableInfo, type: ChangeType, row: Row, oldRecord: Row | null = null): Change {
  const old = type === 'DELETE' ? row : oldRecord;
  return {
    schema: 'public',
    table: table.table,
    type,
    columns: table.columns,
    record: type === 'DELETE' ? null : row,
    oldRecord: old,
  };
}
let lsn = 0;
const tx = (...changes: Change[]): Transaction => ({
  lsn: `0/${(++lsn).toString(16)}`,
  commitTimestamp: new Date().toISOString(),
  changes,
});
const ids = (received: Received[], table: string) =>
  received.filter((r) => r.table === table).map((r) => (r.record ?? r.oldRecord)!.id);

describe('tenant isolation, from the real change source', () => {
  test("user B, subscribed to A's job id and to all of jobs and tasks, receives nothing of A's, DELETEs included", async () => {
    const source = await readySource(db.url);
    const h = hub();
    source.on('transaction', (t) => h.handle(t));
    const watchA = () => [binding(1, JOBS, 'UPDATE', `id=eq.${jobA}`), binding(2, JOBS), binding(3, TASKS)];
    const bobSub = new Recorder(watchA(), as(bob));
    const aliceSub = new Recorder(watchA(), as(alice));
    const anonSub = new Recorder([binding(2, JOBS), binding(3, TASKS)], {
      role: 'anon',
      claims: { role: 'anon' },
      headers: {},
    });
    for (const sub of [bobSub, aliceSub, anonSub]) h.add(sub);

    const doomedA = await crawl(orgA, 'doomed-a.test');
    const doomedB = await crawl(orgB, 'doomed-b.test');
    await db.sql`update jobs set max_pages = 77 where id in (${jobA}, ${jobB})`;
    await db.sql`update tasks set priority = 5 where job_id in (${jobA}, ${jobB})`;
    await db.sql`delete from jobs where id in (${doomedA}, ${doomedB})`;

    await aliceSub.until("A's job DELETE", (r) =>
      r.some((c) => c.type === 'DELETE' && c.oldRecord?.id === doomedA),
    );
    await bobSub.until("B's job DELETE", (r) =>
      r.some((c) => c.type === 'DELETE' && c.oldRecord?.id === doomedB),
    );

    const tasksA = (await taskRows(jobA)).map((t) => t.id);
    const ofA = new Set<unknown>([jobA, doomedA, ...tasksA]);
    const bobSaw = [...ids(bobSub.received, 'jobs'), ...ids(bobSub.received, 'tasks')];
    assert.deepEqual(
      bobSaw.filter((id) => ofA.has(id)),
      [],
      "B receives nothing of A's",
    );
    assert.ok(
      bobSaw.includes(jobB) && bobSaw.includes(doomedB),
      'B receives its own changes, DELETE included',
    );
    assert.ok(!bobSub.received.some((r) => r.ids.includes(1)), "B's binding on A's job id never fires");
    assert.deepEqual(anonSub.received, [], 'anon receives nothing');

    // A sees its own, the job id binding fires with the table binding, and the DELETE is cut to the key.
    const update = aliceSub.received.find((r) => r.type === 'UPDATE' && r.record?.id === jobA);
    assert.deepEqual(update?.ids, [1, 2]);
    const deleted = aliceSub.received.find((r) => r.type === 'DELETE');
    assert.deepEqual(
      deleted?.oldRecord,
      { id: doomedA },
      'DELETE old_record is cut to the primary key under RLS',
    );
    assert.ok(
      !aliceSub.received.some((r) => r.table === 'tasks' && r.type === 'DELETE'),
      'task DELETEs are not delivered',
    );
    const taskUpdates = aliceSub.received.filter((r) => r.table === 'tasks' && r.type === 'UPDATE');
    assert.deepEqual(
      tasksA.filter((id) => taskUpdates.some((r) => r.record?.id === id)),
      tasksA,
      "A receives every UPDATE of its job's tasks",
    );
    await h.stop();
  });
});

describe('windows', () => {
  test('one authorisation call per table per window, however many subscribers, one audience each', async () => {
    const { calls, authorize: counted } = counting();
    const h = hub({ authorize: counted });
    const subs = Array.from({ length: 40 }, (_, i) => {
      const who = i % 2 ? alice : bob;
      const sub = new Recorder(
        [binding(1, JOBS), binding(2, TASKS, '*', `job_id=eq.${i % 2 ? jobA : jobB}`)],
        as(who),
      );
      h.add(sub);
      return sub;
    });
    const [taskA] = await taskRows(jobA);
    const [taskB] = await taskRows(jobB);
    const [rowA, rowB] = [await jobRow(jobA), await jobRow(jobB)];
    // Handed over in the same tick: one window.
    h.handle(tx(change(JOBS, 'UPDATE', rowA), change(TASKS, 'UPDATE', taskA!)));
    h.handle(tx(change(JOBS, 'UPDATE', rowB), change(TASKS, 'UPDATE', taskB!)));
    for (const sub of subs) await sub.until('both changes of its organisation', (r) => r.length >= 2);
    assert.deepEqual(
      calls.sort((a, b) => a.table.localeCompare(b.table)),
      [
        { table: 'jobs', changes: 2, audiences: 2 },
        { table: 'tasks', changes: 2, audiences: 2 },
      ],
    );
    for (const [i, sub] of subs.entries()) {
      const mine = i % 2 ? jobA : jobB;
      assert.deepEqual(ids(sub.received, 'jobs'), [mine]);
      assert.deepEqual(sub.received.find((r) => r.table === 'tasks')?.record?.job_id, mine);
    }
  });

  test('one window is checked at a time, in order; the next collects meanwhile and is checked after', async () => {
    let openFirst!: () => void;
    const first = new Promise<void>((resolve) => {
      openFirst = resolve;
    });
    const { calls, authorize: counted } = counting((call) => (call === 1 ? first : Promise.resolve()));
    const h = hub({ authorize: counted, windowMs: 1 });
    const sub = new Recorder([binding(1, TASKS)], as(alice));
    h.add(sub);
    const [t1, t2] = await taskRows(jobA);
    h.handle(tx(change(TASKS, 'UPDATE', t1!)));
    await waitFor('the first window to be checked', () => calls.length === 1);
    h.handle(tx(change(TASKS, 'UPDATE', t2!)));
    // A round trip later the second window is (most likely) due: it still waits for the first.
    await taskRows(jobA);
    h.handle(tx(change(TASKS, 'INSERT', t2!)));
    await taskRows(jobA);
    assert.equal(calls.length, 1);
    assert.equal(sub.received.length, 0);
    openFirst();
    await sub.until('both windows', (r) => r.length >= 3);
    assert.deepEqual(
      sub.received.map((r) => [r.type, r.record?.id]),
      [
        ['UPDATE', t1!.id],
        ['UPDATE', t2!.id],
        ['INSERT', t2!.id],
      ],
    );
    assert.deepEqual(
      calls.map((c) => c.changes),
      [1, 2],
      'what arrived during the first check is one window',
    );
  });

  test("a job's UPDATEs in one window arrive once, as its last state, at its last place; tasks never coalesce", async () => {
    const h = hub();
    const sub = new Recorder([binding(1, JOBS), binding(2, TASKS)], as(alice));
    h.add(sub);
    const versions: Row[] = [];
    for (const pages of [11, 12, 13]) {
      await db.sql`update jobs set max_pages = ${pages} where id = ${jobA}`;
      versions.push(await jobRow(jobA));
    }
    const [t1] = await taskRows(jobA);
    const initial = { ...versions[0]!, max_pages: 10 };
    // Handed over in the same tick: one window.
    h.handle(tx(change(JOBS, 'UPDATE', versions[0]!, initial), change(TASKS, 'UPDATE', t1!)));
    h.handle(
      tx(
        change(JOBS, 'UPDATE', versions[1]!, versions[0]!),
        change(TASKS, 'UPDATE', { ...t1!, priority: 9 }),
      ),
    );
    h.handle(tx(change(JOBS, 'UPDATE', versions[2]!, versions[1]!), change(TASKS, 'INSERT', t1!)));
    await sub.until('the window', (r) => r.length >= 4);
    assert.deepEqual(
      sub.received.map((r) => [
        r.table,
        r.type,
        r.table === 'jobs' ? r.record?.max_pages : r.record?.priority,
      ]),
      [
        ['tasks', 'UPDATE', t1!.priority],
        ['tasks', 'UPDATE', 9],
        ['jobs', 'UPDATE', 13],
        ['tasks', 'INSERT', t1!.priority],
      ],
    );
    assert.equal(sub.received[2]!.oldRecord?.max_pages, 10, 'the old row is the one before the first UPDATE');
  });
});

describe('stopping', () => {
  test('stop() drops the open window and takes no more changes', async () => {
    const h = hub({ windowMs: 60_000 });
    const sub = new Recorder([binding(1, TASKS)], as(alice));
    h.add(sub);
    const [t1] = await taskRows(jobA);
    h.handle(tx(change(TASKS, 'UPDATE', t1!)));
    await h.stop();
    assert.equal(h.handle(tx(change(TASKS, 'UPDATE', t1!))), undefined);
    assert.equal(sub.attempts, 0);
  });
});

describe('subscribers', () => {
  test('a token refreshed to another user gets that user’s rows from the next window', async () => {
    const h = hub();
    const sub = new Recorder([binding(1, JOBS)], as(alice));
    h.add(sub);
    const window = async () =>
      h.handle(tx(change(JOBS, 'UPDATE', await jobRow(jobA)), change(JOBS, 'UPDATE', await jobRow(jobB))));
    await window();
    await sub.until('the first window', (r) => r.length >= 1);
    sub.current = as(bob);
    await window();
    await sub.until('the second window', (r) => r.length >= 2);
    assert.deepEqual(ids(sub.received, 'jobs'), [jobA, jobB]);
  });

  test('a subscriber whose deliver returns false is dropped from the hub', async () => {
    const h = hub();
    const full = new Recorder([binding(1, TASKS)], as(alice), 1);
    const other = new Recorder([binding(1, TASKS)], as(alice));
    h.add(full);
    h.add(other);
    const [t1, t2] = await taskRows(jobA);
    h.handle(tx(change(TASKS, 'UPDATE', t1!), change(TASKS, 'UPDATE', t2!)));
    await other.until('the first window', (r) => r.length >= 2);
    h.handle(tx(change(TASKS, 'UPDATE', t1!)));
    await other.until('the second window', (r) => r.length >= 3);
    assert.equal(full.received.length, 1);
    assert.equal(full.attempts, 2, 'offered the second change once, refused it, and was never offered more');
  });

  test('a removed subscriber receives nothing more', async () => {
    const h = hub();
    const gone = new Recorder([binding(1, TASKS)], as(alice));
    const stays = new Recorder([binding(1, TASKS)], as(alice));
    h.add(gone);
    h.add(stays);
    h.remove(gone);
    const [t1] = await taskRows(jobA);
    h.handle(tx(change(TASKS, 'UPDATE', t1!)));
    await stays.until('the change', (r) => r.length >= 1);
    assert.equal(gone.attempts, 0);
  });
});

describe('backpressure', () => {
  test('while a window is checked and the next is full, handle() holds the source until it has room', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const { calls, authorize: counted } = counting((call) => (call === 1 ? gate : Promise.resolve()));
    const h = hub({ authorize: counted });
    const sub = new Recorder([binding(1, TASKS)], as(alice));
    h.add(sub);
    const [t1] = await taskRows(jobA);
    assert.equal(h.handle(tx(change(TASKS, 'UPDATE', t1!))), undefined);
    await waitFor('the first window to be checked', () => calls.length === 1);
    const half = Array.from({ length: MAX_WINDOW_CHANGES / 2 }, () => change(TASKS, 'UPDATE', t1!));
    assert.equal(h.handle(tx(...half)), undefined, 'the next window has room');
    const held = h.handle(tx(...half));
    assert.ok(held instanceof Promise, 'the next window is full: the source must wait');
    let settled = false;
    void held.then(() => {
      settled = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(settled, false);
    open();
    await held;
    await sub.until('both windows', (r) => r.length >= 1 + MAX_WINDOW_CHANGES);
    assert.deepEqual(
      calls.map((c) => c.changes),
      [1, MAX_WINDOW_CHANGES],
    );
  });
});
