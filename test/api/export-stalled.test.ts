// Security finding 3: exports whose clients never read must not take the database from everyone else. Over a
// real socket, as many stalled exports as the pool has connections are held open by TCP backpressure (the
// job's export is far larger than the socket buffers); meanwhile another tenant's requests and /health/ready
// answer, no transaction is left open, further exports get a 429, and after the idle deadline the stalled
// ones are cut off mid-body and leave nothing behind in pg_stat_activity.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, test } from 'node:test';
import { createApp } from '../../src/api/app.ts';
import { startApiServer } from '../../src/api/server.ts';
import { enqueueUrls } from '../../src/queue/tasks.ts';
import { apiFixture, type TestUser } from '../support/api.ts';
import { makeJob, urls } from '../support/jobs.ts';
import { waitFor } from '../support/wait.ts';

// As many stalled exports as connections: one transaction per export for the whole body would take them all.
const STALLED = 4;
// Short, so the test does not wait long; long enough that the checks meant to run while the stalled exports are
// open (about a second's work here) finish well before it cuts them off.
const IDLE_MS = 5_000;
// About 1.1 kB a row: ~35 MB per export, many times what loopback socket buffers take in.
const TOTAL = 30_000;

const api = await apiFixture();
const { sql } = api.db;

const owner = await api.user();
const members = await Promise.all(Array.from({ length: STALLED }, () => api.user()));
const team = await api.team(
  owner,
  members.map((m) => [m, 'member'] as [TestUser, 'member']),
);
await sql`update organisations set plan_id = 'business' where id = ${team}`;
const bigJob = await makeJob(sql, {
  organisationId: team,
  host: 'big.example',
  maxPages: TOTAL,
  start: false,
});
for (let i = 0; i < TOTAL; i += 10_000) {
  await enqueueUrls(sql, bigJob, urls('big.example', 10_000, `p${i / 10_000}-`));
}
await sql`update tasks set error_message = repeat('x', 1000) where job_id = ${bigJob}`;
const tinyJob = await makeJob(sql, { organisationId: team, host: 'tiny.example', start: false });
await enqueueUrls(sql, tinyJob, urls('tiny.example', 3));

// Another tenant, with a job of its own.
const outsider = await api.user();
const theirs = await outsider.call('POST', '/v1/jobs', {
  url: 'https://theirs.example/',
  use_sitemap: false,
});
assert.equal(theirs.status, 201, JSON.stringify(theirs.body));

// The pool has exactly STALLED connections; the exports may use one of them at a time.
const server = await startApiServer(
  {
    ...api.deps,
    sql: api.db.connect(STALLED),
    exportLimits: { idleTimeoutMs: IDLE_MS, perUser: 1, perProcess: STALLED, dbConnections: 1 },
  },
  { host: '127.0.0.1', port: 0 },
);
after(() => server.close());

const get = (user: TestUser | undefined, path: string, init: RequestInit = {}) =>
  fetch(`${server.url}${path}`, {
    ...init,
    headers: {
      ...(user ? { authorization: `Bearer ${user.token}` } : {}),
      'content-type': 'application/json',
    },
  });

/** Backends of this test database, other than this query's, that are running something or hold a transaction. */
async function busyBackends(): Promise<Array<{ state: string; query: string }>> {
  const rows = await sql<{ state: string; query: string }[]>`
    select state, query from pg_stat_activity
    where datname = current_database() and backend_type = 'client backend' and pid <> pg_backend_pid()
      and (state <> 'idle' or xact_start is not null)`;
  return [...rows];
}

interface Stalled {
  req: http.ClientRequest;
  res: http.IncomingMessage;
}

/** Starts an export and never reads its body: the response stays paused, so the socket stops reading. */
function stall(user: TestUser, format: 'csv' | 'json'): Promise<Stalled> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      `${server.url}/v1/jobs/${bigJob}/export?format=${format}`,
      { headers: { authorization: `Bearer ${user.token}` }, agent: false },
      (res) => resolve({ req, res }),
    );
    req.on('error', reject);
  });
}

/** Reads what the server sent before it hung up; `complete` is whether the HTTP body ended properly. */
function drain({ res }: Stalled): Promise<{ text: string; complete: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    res.on('error', () => {}); // "aborted": the expected end of a cut-off body, seen in `complete`
    res.on('close', () => resolve({ text: Buffer.concat(chunks).toString('utf8'), complete: res.complete }));
    res.resume();
  });
}

test('stalled exports hold no connection, leave other tenants and readiness answering, and are cut off', {
  timeout: 120_000,
}, async () => {
  const stalled: Stalled[] = [];
  try {
    for (const [i, m] of members.entries()) stalled.push(await stall(m, i % 2 ? 'json' : 'csv'));
    for (const s of stalled) assert.equal(s.res.statusCode, 200);

    // With a transaction per export for the whole body, this is where the pool is gone.
    await waitFor(
      'the stalled exports to hold no transaction',
      async () => (await busyBackends()).length === 0,
    );

    // Another tenant reads and writes, more requests at once than the pool has connections.
    const reads = await Promise.all(
      ['/v1/jobs', `/v1/jobs/${theirs.body.id}`, `/v1/jobs/${theirs.body.id}/tasks`, '/v1/usage'].flatMap(
        (path) => [get(outsider, path), get(outsider, path)],
      ),
    );
    for (const res of reads) assert.equal(res.status, 200, `${res.url}: ${await res.text()}`);
    const write = await get(outsider, '/v1/jobs', {
      method: 'POST',
      body: JSON.stringify({ url: 'https://theirs.example/again', use_sitemap: false }),
    });
    assert.equal(write.status, 201, await write.text());
    const ready = await get(undefined, '/health/ready');
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: 'ready' });

    // The stalled exports are still open: they fill the process's and their users' export slots.
    const full = await get(outsider, `/v1/jobs/${theirs.body.id}/export`);
    assert.equal(full.status, 429);
    const fullBody = (await full.json()) as { error: { code: string; message: string } };
    assert.deepEqual(Object.keys(fullBody.error), ['code', 'message']);
    assert.equal(fullBody.error.code, 'too_many_exports');
    assert.match(fullBody.error.message, new RegExp(`maximum of ${STALLED} exports`));
    const second = await get(members[0], `/v1/jobs/${tinyJob}/export`);
    assert.equal(second.status, 429);
    const secondBody = (await second.json()) as { error: { code: string; message: string } };
    assert.equal(secondBody.error.code, 'too_many_exports');
    assert.match(secondBody.error.message, /a user may run 1 export at once and you have 1 running/);

    // Each member's stalled export is gone once that member may start another (the limit is one each).
    for (const m of members) {
      await waitFor(
        'the stalled export to be cut off',
        async () => {
          const res = await get(m, `/v1/jobs/${tinyJob}/export`);
          const body = await res.text();
          if (res.status === 429) return false;
          assert.equal(res.status, 200, body);
          assert.equal(body.split('\r\n').length, 1 + 3 + 1, 'the header, three rows and the final CRLF');
          return true;
        },
        { intervalMs: 100 },
      );
    }
    // Cut off mid-body, not finished: each got a start of its export and no proper end.
    for (const [i, s] of stalled.entries()) {
      const got = await drain(s);
      assert.equal(got.complete, false);
      assert.ok(got.text.startsWith(i % 2 ? '[{"id":' : 'id,url,status,'), got.text.slice(0, 40));
      assert.ok(got.text.length < TOTAL * 1000, `${got.text.length} bytes is most of the export`);
    }
    assert.deepEqual(await busyBackends(), []);

    // A client that reads still gets every row, through the same small budget.
    const whole = await get(members[1], `/v1/jobs/${bigJob}/export?format=json`);
    assert.equal(whole.status, 200);
    const tasks = (await whole.json()) as Array<{ id: number; error_message: string }>;
    assert.equal(tasks.length, TOTAL);
    assert.ok(tasks.every((t, k) => k === 0 || t.id > tasks[k - 1]!.id));
    assert.deepEqual(await busyBackends(), []);
  } finally {
    // On failure, stalled sockets would keep server.close() waiting.
    for (const s of stalled) s.req.destroy();
  }
});

test('in process too, a reader that stops taking chunks is cut off after the deadline and its slot freed; HEAD holds none', async () => {
  const app = createApp({ ...api.deps, exportLimits: { idleTimeoutMs: 100, perUser: 1 } });
  const call = () =>
    app.request(`/v1/jobs/${tinyJob}/export`, { headers: { authorization: `Bearer ${owner.token}` } });
  const res = await call();
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  assert.match(new TextDecoder().decode((await reader.read()).value), /^id,url,status,/);
  // Reads nothing more. The slot is the owner's only one, so the next export is refused until the cut-off.
  assert.equal((await call()).status, 429);
  const next = await waitFor('the stopped export to be cut off', async () => {
    const again = await call();
    return again.status === 429 ? undefined : again;
  });
  assert.equal(next.status, 200);
  assert.equal((await next.text()).split('\r\n').length, 1 + 3 + 1);
  await assert.rejects(reader.read(), { name: 'IdleTimeout' });

  // HEAD runs this route with its body dropped unread: it must not hold the slot until the deadline.
  const head = await app.request(`/v1/jobs/${tinyJob}/export`, {
    method: 'HEAD',
    headers: { authorization: `Bearer ${owner.token}` },
  });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-disposition'), `attachment; filename="job-${tinyJob}-tasks.csv"`);
  const after = await call();
  assert.equal(after.status, 200);
  await after.text();
});
