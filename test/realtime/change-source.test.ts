import assert from 'node:assert/strict';
import net from 'node:net';
import { after, test } from 'node:test';
import { connect } from '../../src/db/client.ts';
import type { Transaction } from '../../src/realtime/types.ts';
import { testDatabase } from '../support/db.ts';
import { makeJob } from '../support/jobs.ts';
import { startPrivatePostgres } from '../support/private-postgres.ts';
import { waitFor } from '../support/wait.ts';
import { changesTo, nextEvent, nextTransaction, readySource } from './change-events.ts';

const db = await testDatabase();
const MICROSECOND_ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

/** The database clock as the source writes commit times, for comparing with them as text. */
async function clock(): Promise<string> {
  const [row] = await db.sql<{ t: string }[]>`
    select to_char(clock_timestamp() at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as t`;
  return row!.t;
}

async function lsnBefore(a: string, b: string): Promise<boolean> {
  const [row] = await db.sql<{ before: boolean }[]>`select ${a}::pg_lsn < ${b}::pg_lsn as before`;
  return row!.before;
}

async function addTask(jobId: string, url: string): Promise<number> {
  const [row] = await db.sql<{ id: number }[]>`
    insert into tasks (job_id, url, source) values (${jobId}, ${url}, 'root') returning id`;
  return row!.id;
}

async function slotExists(slot: string): Promise<boolean> {
  const rows = await db.sql`select 1 from pg_replication_slots where slot_name = ${slot}`;
  return rows.length > 0;
}

test('inserts, updates and deletes arrive as transactions in commit order, with their commit times', async () => {
  const source = await readySource(db.url);
  const started = await clock();
  const all: Transaction[] = [];
  source.on('transaction', (tx) => {
    all.push(tx);
  });
  const deleted = nextTransaction(source, 'jobs', (c) => c.type === 'DELETE');
  const jobId = await makeJob(db.sql, { start: false });
  await db.sql`update jobs set max_pages = 7 where id = ${jobId}`;
  await db.sql`delete from jobs where id = ${jobId}`;
  await deleted;
  const finished = await clock();
  const seen = all.filter((tx) =>
    tx.changes.some((c) => c.table === 'jobs' && (c.record ?? c.oldRecord)?.id === jobId),
  );

  assert.deepEqual(
    seen.map((tx) => changesTo(tx, 'jobs').map((c) => c.type)),
    [['INSERT'], ['UPDATE'], ['DELETE']],
  );
  const [insert, update, del] = seen.map((tx) => changesTo(tx, 'jobs')[0]!);
  assert.equal(insert!.record?.max_pages, 1000);
  assert.equal(insert!.oldRecord, null);
  assert.equal(update!.record?.max_pages, 7);
  assert.equal(del!.record, null);
  assert.equal(del!.oldRecord?.max_pages, 7, 'jobs keep their full old row (replica identity full)');
  assert.deepEqual(
    insert!.columns.find((c) => c.name === 'id'),
    { name: 'id', type: 'uuid' },
  );

  for (const [i, tx] of seen.entries()) {
    assert.match(tx.commitTimestamp, MICROSECOND_ISO);
    assert.ok(tx.commitTimestamp >= started && tx.commitTimestamp <= finished, tx.commitTimestamp);
    if (i > 0) {
      assert.ok(tx.commitTimestamp >= seen[i - 1]!.commitTimestamp);
      assert.ok(await lsnBefore(seen[i - 1]!.lsn, tx.lsn), `${seen[i - 1]!.lsn} < ${tx.lsn}`);
    }
  }
  const [current] = await db.sql<{ lsn: string }[]>`select pg_current_wal_lsn()::text as lsn`;
  assert.ok(await lsnBefore(seen[2]!.lsn, current!.lsn));
});

test('a multi-statement transaction is one Transaction, its changes in statement order', async () => {
  const source = await readySource(db.url);
  const jobId = await makeJob(db.sql, { start: false });
  const kept = await addTask(jobId, 'https://example.com/kept');
  const gone = await addTask(jobId, 'https://example.com/gone');

  const arrived = nextTransaction(source, 'tasks', (c) => c.type === 'DELETE' && c.oldRecord?.id === gone);
  let added: number | undefined;
  await db.sql.begin(async (tx) => {
    const [row] = await tx<{ id: number }[]>`
      insert into tasks (job_id, url, source) values (${jobId}, 'https://example.com/new', 'root') returning id`;
    added = row!.id;
    await tx`update tasks set priority = 5 where id = ${kept}`;
    await tx`delete from tasks where id = ${gone}`;
  });
  const tx = await arrived;

  assert.deepEqual(
    changesTo(tx, 'tasks').map((c) => [c.type, c.record?.id ?? c.oldRecord?.id]),
    [
      ['INSERT', added],
      ['UPDATE', kept],
      ['DELETE', gone],
    ],
  );
  // The counter triggers' job updates commit with them.
  assert.ok(changesTo(tx, 'jobs').every((c) => c.type === 'UPDATE' && c.record?.id === jobId));
  const update = changesTo(tx, 'tasks')[1]!;
  assert.equal(update.record?.priority, 5);
  assert.equal(update.record?.url, 'https://example.com/kept');
  assert.deepEqual(update.oldRecord, { id: kept }, 'tasks UPDATEs carry only the key');
  assert.deepEqual(changesTo(tx, 'tasks')[2]!.oldRecord, { id: gone });
});

test('a job UPDATE carries the whole old row', async () => {
  const source = await readySource(db.url);
  const jobId = await makeJob(db.sql, { start: false });
  const [before] = await db.sql`select organisation_id, status from jobs where id = ${jobId}`;

  const arrived = nextTransaction(source, 'jobs', (c) => c.type === 'UPDATE' && c.record?.id === jobId);
  await db.sql`update jobs set status = 'cancelled', completed_at = now() where id = ${jobId}`;
  const change = changesTo(await arrived, 'jobs')[0]!;

  assert.equal(change.record?.status, 'cancelled');
  assert.equal(change.oldRecord?.status, before!.status);
  assert.equal(change.oldRecord?.organisation_id, before!.organisation_id);
  assert.equal(change.oldRecord?.completed_at, null);
  assert.deepEqual(Object.keys(change.oldRecord!).sort(), Object.keys(change.record!).sort());
});

test('changes to tables outside the publication do not arrive', async () => {
  const source = await readySource(db.url);
  const jobId = await makeJob(db.sql, { start: false });
  const tables = new Set<string>();
  source.on('transaction', (tx) => {
    for (const c of tx.changes) tables.add(c.table);
  });

  const marker = nextTransaction(source, 'jobs', (c) => c.record?.max_pages === 11);
  await db.sql`update organisations set name = 'Renamed' where id = (select organisation_id from jobs where id = ${jobId})`;
  await db.sql`update jobs set max_pages = 11 where id = ${jobId}`;
  await marker;

  assert.deepEqual([...tables], ['jobs']);
});

test('a listener that holds the stream gets transactions one at a time, none lost, confirmed only after', async () => {
  const source = await readySource(db.url, { statusIntervalMs: 50 });
  const jobId = await makeJob(db.sql, { start: false });
  const taskId = await addTask(jobId, 'https://example.com/held');
  const COUNT = 20;

  let holding = 0;
  let mostHeld = 0;
  const priorities: number[] = [];
  const confirmedWhileHeld: boolean[] = [];
  source.on('transaction', async (tx) => {
    const change = changesTo(tx, 'tasks').find((c) => c.type === 'UPDATE' && c.record?.id === taskId);
    if (!change) return;
    holding++;
    mostHeld = Math.max(mostHeld, holding);
    // Slow on purpose: real round trips while the later commits queue up behind this one. Confirmed means past
    // the commit record's start (tx.lsn): a server may confirm up to that start before it sends the transaction.
    const [slot] = await db.sql<{ confirmed: boolean }[]>`
      select confirmed_flush_lsn > ${tx.lsn}::pg_lsn as confirmed
      from pg_replication_slots where slot_name = ${source.slot!}`;
    confirmedWhileHeld.push(slot!.confirmed);
    await db.sql`select count(*) from tasks`;
    priorities.push(change.record!.priority as number);
    holding--;
  });

  const last = nextTransaction(source, 'tasks', (c) => c.record?.priority === COUNT);
  for (let i = 1; i <= COUNT; i++) await db.sql`update tasks set priority = ${i} where id = ${taskId}`;
  const [lastTx] = [await last];

  await waitFor('every held transaction to be handled', () => priorities.length === COUNT);
  assert.deepEqual(
    priorities,
    Array.from({ length: COUNT }, (_, i) => i + 1),
  );
  assert.equal(mostHeld, 1);
  assert.ok(
    confirmedWhileHeld.every((c) => !c),
    'no transaction is confirmed while its listener holds it',
  );
  await waitFor('the last commit to be confirmed', async () => {
    const [slot] = await db.sql<{ confirmed: boolean }[]>`
      select confirmed_flush_lsn > ${lastTx!.lsn}::pg_lsn as confirmed
      from pg_replication_slots where slot_name = ${source.slot!}`;
    return slot?.confirmed;
  });
});

test('after its walsender is terminated the source says so, streams again on a new slot, and changes arrive', async () => {
  const source = await readySource(db.url);
  const jobId = await makeJob(db.sql, { start: false });
  const first = source.slot!;

  const interrupted = nextEvent(source, 'interrupted');
  const readyAgain = nextEvent(source, 'ready');
  await db.sql`select pg_terminate_backend(active_pid) from pg_replication_slots where slot_name = ${first}`;
  const [reason] = await interrupted;
  assert.ok(reason instanceof Error);
  assert.equal(source.ready, false);
  await readyAgain;
  assert.equal(source.ready, true);
  assert.notEqual(source.slot, first);
  assert.ok(source.logged.some((line) => line.startsWith('warn: realtime: change stream lost')));
  await waitFor('the old temporary slot to be dropped', async () => !(await slotExists(first)));

  const arrived = nextTransaction(source, 'jobs', (c) => c.record?.id === jobId && c.record.max_pages === 3);
  await db.sql`update jobs set max_pages = 3 where id = ${jobId}`;
  await arrived;
});

/**
 * A TCP relay to the test database whose open connections can be made to go silent both ways (bytes dropped,
 * sockets left open), as when a network path dies without a reset. Connections made later pass.
 */
async function silencingRelay(): Promise<{ url: string; silenceOpenConnections(): void }> {
  const target = new URL(db.url);
  const open = new Set<{ silent: boolean }>();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    const link = { silent: false };
    open.add(link);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => sockets.delete(socket));
    }
    client.on('data', (chunk) => link.silent || upstream.write(chunk));
    upstream.on('data', (chunk) => link.silent || client.write(chunk));
    // The client giving up ends the server's side too, so its walsender exits and the slot goes.
    client.on('close', () => {
      open.delete(link);
      upstream.destroy();
    });
    upstream.on('close', () => link.silent || client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  const url = new URL(db.url);
  url.host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return {
    url: url.toString(),
    silenceOpenConnections() {
      for (const link of open) link.silent = true;
    },
  };
}

test('a connection that goes silent is given up on, and the source streams again', async () => {
  const relay = await silencingRelay();
  const source = await readySource(relay.url, { statusIntervalMs: 100 });
  const first = source.slot!;
  relay.silenceOpenConnections();
  const interrupted = nextEvent(source, 'interrupted');
  const readyAgain = nextEvent(source, 'ready');
  const [reason] = await interrupted;
  assert.match(reason.message, /sent nothing for 300 ms/);
  await readyAgain;
  assert.notEqual(source.slot, first);
  await waitFor('the silent connection’s slot to be dropped', async () => !(await slotExists(first)));

  const jobId = await makeJob(db.sql, { start: false });
  const arrived = nextTransaction(source, 'jobs', (c) => c.record?.id === jobId && c.record.max_pages === 4);
  await db.sql`update jobs set max_pages = 4 where id = ${jobId}`;
  await arrived;
});

test('after a PostgreSQL restart the source streams again and changes arrive', async () => {
  const pg = await startPrivatePostgres();
  const sql = connect(pg.url, { max: 1 });
  const source = await readySource(pg.url, { statusIntervalMs: 200 });
  try {
    const interrupted = nextEvent(source, 'interrupted');
    const readyAgain = nextEvent(source, 'ready');
    await pg.restart();
    await interrupted;
    await readyAgain;
    const arrived = nextTransaction(source, 'jobs', (c) => c.type === 'INSERT');
    const jobId = await makeJob(sql, { start: false });
    assert.equal(changesTo(await arrived, 'jobs')[0]!.record?.id, jobId);
  } finally {
    await sql.end();
    await source.stop();
  }
});

test('stop() ends the stream and its temporary slot is gone when it resolves', async () => {
  const source = await readySource(db.url);
  const slot = source.slot!;
  assert.ok(await slotExists(slot));
  const [row] = await db.sql`select temporary from pg_replication_slots where slot_name = ${slot}`;
  assert.equal(row!.temporary, true);

  const events: string[] = [];
  source.on('interrupted', () => events.push('interrupted'));
  source.on('ready', () => events.push('ready'));
  await source.stop();
  assert.equal(source.ready, false);
  assert.equal(source.slot, undefined);
  assert.equal(
    await slotExists(slot),
    false,
    'the walsender has exited, and its slot is gone, when stop() resolves',
  );
  await source.stop();
  assert.deepEqual(events, [], 'a stop is no interruption, and nothing streams again');
  assert.deepEqual(
    source.logged.filter((line) => line.startsWith('warn')),
    [],
  );
});
