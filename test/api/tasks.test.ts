import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { enqueueUrls } from '../../src/queue/tasks.ts';
import { type ApiResult, apiFixture, type TestUser } from '../support/api.ts';
import { urls } from '../support/jobs.ts';

const api = await apiFixture();
const { sql } = api.db;

interface Seeded {
  id: number;
  url: string;
  status: string;
  status_code: number | null;
  response_time_ms: number | null;
  final: string | null;
}

/** A job with its root plus these URLs, their results written as a worker would leave them. */
async function seededJob(
  user: TestUser,
  host: string,
  more: string[],
): Promise<{ jobId: string; tasks: Seeded[] }> {
  const res = await user.call('POST', '/v1/jobs', {
    url: `https://${host}/`,
    use_sitemap: false,
    max_pages: 500,
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const jobId: string = res.body.id;
  assert.equal((await enqueueUrls(sql, jobId, more)).inserted.length, more.length);
  const rows = await sql<
    { id: number; url: string }[]
  >`select id, url from tasks where job_id = ${jobId} order by id`;
  const tasks: Seeded[] = [];
  for (const [i, row] of rows.entries()) {
    // Few distinct values, so sorts have long runs of ties; pending tasks have no response yet (nulls).
    const status = i % 7 === 3 ? 'pending' : i % 5 === 4 ? 'failed' : 'completed';
    const done = status !== 'pending';
    const status_code = !done ? null : status === 'failed' ? (i % 2 ? 503 : null) : i % 4 === 0 ? 404 : 200;
    const response_time_ms = status_code === null ? null : ((i * 37) % 5) * 100;
    const cache = done ? (i % 3 === 0 ? 'HIT' : 'MISS') : null;
    const warm = cache === 'MISS' && i % 2 === 0 ? 'HIT' : null;
    await sql`
      update tasks set status = ${status}, status_code = ${status_code}, response_time_ms = ${response_time_ms},
        cache_status = ${cache}, warm_cache_status = ${warm},
        completed_at = case when ${done} then now() end, attempts = case when ${done} then 1 else 0 end
      where id = ${row.id}`;
    tasks.push({ ...row, status, status_code, response_time_ms, final: warm ?? cache });
  }
  return { jobId, tasks };
}

interface Page {
  data: Array<{ id: number; url: string }>;
  next_cursor: string | null;
}

/** Every page of a listing, following next_cursor; fails on a page that is too long or a loop. */
async function allPages(user: TestUser, path: string, limit: number): Promise<Page['data']> {
  const out: Page['data'] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 100; pages++) {
    const sep = path.includes('?') ? '&' : '?';
    const res: ApiResult<Page> = await user.call(
      'GET',
      `${path}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`,
    );
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.ok(res.body.data.length <= limit);
    out.push(...res.body.data);
    cursor = res.body.next_cursor;
    if (!cursor) return out;
    assert.equal(res.body.data.length, limit, 'only the last page is short');
  }
  assert.fail('more than 100 pages');
}

const owner = await api.user();
const seeded = await seededJob(owner, 'tasks.example', urls('tasks.example', 60));
const base = `/v1/jobs/${seeded.jobId}/tasks`;

/** Expected order: nulls last in both directions, ties by id in the same direction. */
function expectedOrder(key: 'status_code' | 'response_time_ms' | 'id', order: 'asc' | 'desc'): number[] {
  const sign = order === 'asc' ? 1 : -1;
  return [...seeded.tasks]
    .sort((a, b) => {
      const x = a[key];
      const y = b[key];
      if (x === null && y !== null) return 1;
      if (y === null && x !== null) return -1;
      if (x !== null && y !== null && x !== y) return sign * (x - y);
      return sign * (a.id - b.id);
    })
    .map((t) => t.id);
}

describe('GET /v1/jobs/:id/tasks', () => {
  test('lists tasks with their results, in id order by default', async () => {
    const res = await owner.call('GET', base);
    assert.equal(res.status, 200);
    assert.equal(res.body.data.length, 50);
    assert.ok(res.body.next_cursor);
    const first = res.body.data[0];
    assert.equal(first.id, seeded.tasks[0]!.id);
    assert.equal(first.url, 'https://tasks.example/');
    assert.equal(first.source, 'root');
    assert.equal(first.final_cache_status, seeded.tasks[0]!.final);
    assert.equal(typeof first.created_at, 'string');
  });

  for (const sort of ['id', 'url', 'response_time_ms', 'status_code'] as const) {
    for (const order of ['asc', 'desc'] as const) {
      test(`sort=${sort}&order=${order} pages through every task once, nulls last`, async () => {
        const got = (await allPages(owner, `${base}?sort=${sort}&order=${order}`, 7)).map((t) => t.id);
        const expected =
          sort === 'url'
            ? (
                await sql<{ id: number }[]>`
                  select id from tasks where job_id = ${seeded.jobId}
                  order by url ${order === 'asc' ? sql`asc` : sql`desc`}, id`
              ).map((r) => r.id)
            : expectedOrder(sort, order);
        assert.equal(new Set(got).size, got.length, 'no duplicates');
        assert.deepEqual(got, expected);
      });
    }
  }

  test('filters: status, final cache status, min_response_time_ms, together and paged', async () => {
    const ids = async (query: string) =>
      (await allPages(owner, `${base}?${query}`, 4)).map((t) => t.id).sort((a, b) => a - b);
    const pick = (f: (t: Seeded) => boolean) => seeded.tasks.filter(f).map((t) => t.id);

    assert.deepEqual(
      await ids('status=pending'),
      pick((t) => t.status === 'pending'),
    );
    assert.deepEqual(
      await ids('status=failed,pending'),
      pick((t) => t.status === 'failed' || t.status === 'pending'),
    );
    assert.deepEqual(
      await ids('cache_status=MISS'),
      pick((t) => t.final === 'MISS'),
    );
    assert.deepEqual(
      await ids('cache_status=HIT'),
      pick((t) => t.final === 'HIT'),
    );
    assert.deepEqual(
      await ids('min_response_time_ms=300'),
      pick((t) => t.response_time_ms !== null && t.response_time_ms >= 300),
    );
    assert.deepEqual(
      await ids(
        'status=completed&cache_status=HIT&min_response_time_ms=100&sort=response_time_ms&order=desc',
      ),
      pick((t) => t.status === 'completed' && t.final === 'HIT' && (t.response_time_ms ?? -1) >= 100),
    );
    assert.deepEqual(
      await ids('path=P1'),
      pick((t) => /\/p1/.test(t.url)),
    );
  });

  test("a path search with % _ ' and ;-- matches literally", async () => {
    const odd = [
      "https://literal.example/100%25_off';--x",
      "https://literal.example/100%25Zoff';--x",
      "https://literal.example/100Z_off';--x",
      'https://literal.example/100%25_off',
    ];
    const { jobId } = await seededJob(owner, 'literal.example', odd);
    const search = async (text: string) => {
      const res = await owner.call('GET', `/v1/jobs/${jobId}/tasks?path=${encodeURIComponent(text)}`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body.data.map((t: { url: string }) => t.url).sort();
    };
    assert.deepEqual(await search("%25_off';--"), [odd[0]]);
    assert.deepEqual(await search('%25_off'), [odd[0], odd[3]].sort());
    assert.deepEqual(await search('_'), [odd[0], odd[2], odd[3]].sort());
    assert.deepEqual(await search('%'), [odd[0], odd[1], odd[3]].sort());
    assert.deepEqual(await search("';--x"), odd.slice(0, 3).sort());
    assert.deepEqual(await search('\\'), []);
  });

  test('bad filters and cursors are 400; another tenant’s or an unknown job is the same 404', async () => {
    for (const bad of [
      'status=done',
      'cache_status=hit',
      'sort=priority',
      'order=up',
      'limit=0',
      'limit=201',
      'min_response_time_ms=-1',
      'min_response_time_ms=abc',
      'cursor=notacursor',
    ]) {
      const res = await owner.call('GET', `${base}?${bad}`);
      assert.equal(res.status, 400, `${bad}: ${JSON.stringify(res.body)}`);
    }
    // A cursor from a url listing does not fit a response-time listing.
    const byUrl = await owner.call('GET', `${base}?sort=url&limit=2`);
    const misfit = await owner.call('GET', `${base}?sort=response_time_ms&cursor=${byUrl.body.next_cursor}`);
    assert.equal(misfit.status, 400);
    assert.equal(misfit.body.error.code, 'invalid_cursor');

    const stranger = await api.user();
    const theirs = await stranger.call('GET', base);
    const unknown = await stranger.call('GET', `/v1/jobs/${randomUUID()}/tasks`);
    assert.equal(theirs.status, 404);
    assert.deepEqual(theirs.body, unknown.body);
    assert.equal(theirs.body.error.code, 'not_found');
  });
});
