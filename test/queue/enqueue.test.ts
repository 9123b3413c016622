import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { UnknownJobError } from '../../src/queue/errors.ts';
import { cancelJob, createOrganisation, getJob } from '../../src/queue/jobs.ts';
import { enqueueUrls } from '../../src/queue/tasks.ts';
import { testDatabase } from '../support/db.ts';
import { makeJob, urls } from '../support/jobs.ts';

const db = await testDatabase();

/** The bbb_tasks payloads that `work` sends, in commit order. */
async function wakeUpsDuring(work: () => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  let sentinel: () => void = () => {};
  const gotSentinel = new Promise<void>((resolve) => {
    sentinel = resolve;
  });
  const listener = await db.sql.listen('bbb_tasks', (payload) => {
    if (payload === 'sentinel') sentinel();
    else seen.push(payload);
  });
  await work();
  // Notifications arrive in commit order, so once the sentinel is here every earlier one is too.
  await db.sql`select pg_notify('bbb_tasks', 'sentinel')`;
  await gotSentinel;
  await listener.unlisten();
  return seen;
}

describe('enqueue_urls', () => {
  test('dedupes within a batch and across batches, returning only the rows inserted', async () => {
    const job = await makeJob(db.sql);
    const first = await enqueueUrls(db.sql, job, [
      'https://example.com/a',
      'https://example.com/b',
      'https://example.com/a',
    ]);
    assert.deepEqual(
      first.inserted.map((r) => r.url),
      ['https://example.com/a', 'https://example.com/b'],
    );
    const second = await enqueueUrls(db.sql, job, ['https://example.com/b', 'https://example.com/c']);
    assert.deepEqual(
      second.inserted.map((r) => r.url),
      ['https://example.com/c'],
    );
    const [row] = await db.sql`select count(*)::int as n from tasks where job_id = ${job}`;
    assert.equal(row?.n, 3);
    assert.equal((await getJob(db.sql, job))?.total_tasks, 3);
  });

  test('max_pages holds, even with enqueues racing from several connections', async () => {
    const job = await makeJob(db.sql, { maxPages: 50 });
    const pools = Array.from({ length: 4 }, () => db.connect(2));
    const results = await Promise.all(
      pools.map((pool, i) => enqueueUrls(pool, job, urls('example.com', 40, `w${i}-`))),
    );
    const inserted = results.reduce((sum, r) => sum + r.inserted.length, 0);
    assert.equal(inserted, 50);
    const [row] = await db.sql`select count(*)::int as n from tasks where job_id = ${job}`;
    assert.equal(row?.n, 50);
    const more = await enqueueUrls(db.sql, job, ['https://example.com/one-more']);
    assert.deepEqual(more.inserted, []);
  });

  test('invalid URLs are reported per URL with a reason and the valid ones still go in', async () => {
    const job = await makeJob(db.sql);
    const bad = [
      '',
      'ftp://example.com/file',
      'not a url',
      'https://exa mple.com/',
      'https://example.com/has space',
      'https://example.com/x#frag',
      `https://example.com/${'x'.repeat(2100)}`,
      'https://user@example.com/',
    ];
    const result = await enqueueUrls(db.sql, job, ['https://example.com/ok', ...bad]);
    assert.deepEqual(
      result.inserted.map((r) => r.url),
      ['https://example.com/ok'],
    );
    assert.equal(result.rejected.length, bad.length);
    const reasons = Object.fromEntries(result.rejected.map((r) => [r.url, r.reason]));
    assert.equal(reasons[''], 'empty URL');
    assert.equal(reasons['ftp://example.com/file'], 'not an http or https URL');
    assert.match(reasons['https://example.com/has space']!, /percent-encoded/);
    assert.match(reasons['https://example.com/x#frag']!, /fragment/);
    assert.match(reasons[`https://example.com/${'x'.repeat(2100)}`]!, /longer than 2048/);
    assert.equal(reasons['https://user@example.com/'], 'URL has no valid host');
  });

  test('an unknown job raises a clear error and changes nothing', async () => {
    const missing = '00000000-0000-0000-0000-000000000000';
    await assert.rejects(enqueueUrls(db.sql, missing, ['https://example.com/']), (err: Error) => {
      assert.ok(err instanceof UnknownJobError);
      assert.match(err.message, /Unknown job 00000000-0000-0000-0000-000000000000/);
      return true;
    });
  });

  test('a cancelled job takes no new URLs', async () => {
    const job = await makeJob(db.sql);
    await cancelJob(db.sql, job);
    const result = await enqueueUrls(db.sql, job, ['https://example.com/late']);
    assert.deepEqual(result.inserted, []);
    assert.deepEqual(result.rejected, [{ url: 'https://example.com/late', reason: 'job is cancelled' }]);
  });

  test('pages are shared per domain and tasks point at them', async () => {
    const a = await makeJob(db.sql, { host: 'shared.example' });
    const b = await makeJob(db.sql, { host: 'shared.example' });
    await enqueueUrls(db.sql, a, ['https://shared.example/x?q=1', 'https://shared.example/']);
    await enqueueUrls(db.sql, b, ['https://shared.example/x?q=1']);
    const rows = await db.sql<{ path: string; n: number }[]>`
      select p.path, count(*)::int as n from tasks t join pages p on p.id = t.page_id
      where t.job_id in (${a}, ${b}) group by p.path order by p.path`;
    assert.deepEqual(
      [...rows].map((r) => ({ ...r })),
      [
        { path: '/', n: 1 },
        { path: '/x?q=1', n: 2 },
      ],
    );
  });

  test('NOTIFY fires once per batch, not once per row', async () => {
    const job = await makeJob(db.sql);
    const seen = await wakeUpsDuring(async () => {
      await enqueueUrls(db.sql, job, urls('example.com', 100, 'n1-'));
      await enqueueUrls(db.sql, job, urls('example.com', 100, 'n2-'));
      await enqueueUrls(db.sql, job, urls('example.com', 100, 'n2-')); // all duplicates: no wake-up
    });
    assert.deepEqual(seen, [job, job]);
  });

  test('a batch spanning hundreds of jobs is enqueued, and wakes workers with an empty payload', async () => {
    // The payload named every job, and past about 215 of them went over NOTIFY's 8,000-byte limit, which
    // failed the whole call (and with it a worker's result batch).
    const organisationId = await createOrganisation(db.sql, 'Many jobs');
    const jobs: string[] = [];
    for (let i = 0; i < 250; i++) jobs.push(await makeJob(db.sql, { organisationId, host: `many${i}.test` }));
    let inserted = 0;
    const seen = await wakeUpsDuring(async () => {
      const rows = await db.sql<{ outcome: string }[]>`
        select outcome from enqueue_tasks(${jobs}::uuid[],
          ${jobs.map((_, i) => `https://many${i}.test/page`)}::text[], 'link')`;
      inserted = rows.filter((r) => r.outcome === 'inserted').length;
    });
    assert.equal(inserted, 250);
    assert.deepEqual(seen, ['']);
  });
});
