import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { describe, test } from 'node:test';
import { createApp } from '../../src/api/app.ts';
import { startApiServer } from '../../src/api/server.ts';
import { enqueueUrls } from '../../src/queue/tasks.ts';
import { apiFixture } from '../support/api.ts';
import { urls } from '../support/jobs.ts';

const api = await apiFixture();
const { sql } = api.db;

const COLUMNS =
  'id,url,status,source,depth,found_on,attempts,status_code,response_time_ms,cache_status,warm_cache_status,final_cache_status,warm_response_time_ms,redirect_url,content_type,content_length,error_code,error_message,created_at,started_at,completed_at';

/** RFC 4180: records of fields; quoted fields may hold commas, quotes ("") and line breaks. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (quoted && ch === '"' && text[i + 1] === '"') {
      field += '"';
      i += 2;
      continue;
    }
    if (ch === '"') quoted = !quoted;
    else if (quoted || (ch !== ',' && ch !== '\r')) field += ch;
    else if (ch === ',') {
      record.push(field);
      field = '';
    } else {
      assert.equal(text[i + 1], '\n', 'records end with CRLF');
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i++;
    }
    i++;
  }
  assert.equal(field + record.join(''), '', 'the file ends with CRLF');
  return records;
}

const owner = await api.user();
assert.equal((await owner.call('GET', '/v1/jobs')).status, 200);
await sql`
  update organisations set plan_id = 'business'
  where id = (select organisation_id from organisation_members where user_id = ${owner.id})`;
const created = await owner.call('POST', '/v1/jobs', {
  url: 'https://export.example/',
  use_sitemap: false,
  max_pages: 5000,
});
assert.equal(created.status, 201, JSON.stringify(created.body));
const jobId: string = created.body.id;
// More rows than any page or batch size: the export has no cap.
await enqueueUrls(sql, jobId, urls('export.example', 1200));
const TOTAL = 1201;
const [evil] = await sql<{ id: number }[]>`
  update tasks set status = 'failed', error_code = 'x', error_message = '=HYPERLINK("http://evil.example")',
    found_on = '@SUM(A1)', content_type = 'text/html, "quoted"' || chr(13) || chr(10) || 'next line'
  where job_id = ${jobId} and url = 'https://export.example/p7' returning id`;

describe('GET /v1/jobs/:id/export', () => {
  test('CSV: a header and every task, RFC 4180 quoted, formulas defused, as an attachment', async () => {
    const res = await owner.call('GET', `/v1/jobs/${jobId}/export`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/csv/);
    assert.equal(res.headers.get('content-disposition'), `attachment; filename="job-${jobId}-tasks.csv"`);
    const records = parseCsv(res.body);
    assert.equal(records[0]!.join(','), COLUMNS);
    const rows = records.slice(1);
    assert.equal(rows.length, TOTAL);
    const ids = rows.map((r) => Number(r[0]));
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => a - b),
    );
    assert.equal(new Set(ids).size, TOTAL);
    assert.ok(rows.every((r) => r.length === COLUMNS.split(',').length));

    const bad = rows.find((r) => Number(r[0]) === evil!.id)!;
    const col = (name: string) => bad[COLUMNS.split(',').indexOf(name)];
    assert.equal(col('error_message'), `'=HYPERLINK("http://evil.example")`);
    assert.equal(col('found_on'), `'@SUM(A1)`);
    assert.equal(col('content_type'), 'text/html, "quoted"\r\nnext line');
  });

  test('JSON: one array of every task, with the raw values', async () => {
    const res = await owner.call('GET', `/v1/jobs/${jobId}/export?format=json`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-disposition'), `attachment; filename="job-${jobId}-tasks.json"`);
    assert.ok(Array.isArray(res.body));
    assert.equal(res.body.length, TOTAL);
    assert.equal(new Set(res.body.map((t: { id: number }) => t.id)).size, TOTAL);
    const bad = res.body.find((t: { id: number }) => t.id === evil!.id);
    assert.equal(bad.error_message, '=HYPERLINK("http://evil.example")');
    assert.equal(bad.url, 'https://export.example/p7');
  });

  test('the body streams: the header comes before the rows are read', async () => {
    const res = await api.app.request(`/v1/jobs/${jobId}/export`, {
      headers: { authorization: `Bearer ${owner.token}` },
    });
    const reader = res.body!.getReader();
    const first = await reader.read();
    assert.equal(new TextDecoder().decode(first.value), `${COLUMNS}\r\n`);
    let rest = '';
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      rest += new TextDecoder().decode(chunk.value);
    }
    assert.equal(parseCsv(rest).length, TOTAL);
  });

  test('a client that goes away ends the query and frees the connection', async () => {
    // One connection: if the abandoned export kept its transaction, the next request would wait forever.
    const app = createApp({ ...api.deps, sql: api.db.connect(1) });
    const res = await app.request(`/v1/jobs/${jobId}/export?format=json`, {
      headers: { authorization: `Bearer ${owner.token}` },
    });
    const reader = res.body!.getReader();
    assert.equal(new TextDecoder().decode((await reader.read()).value), '[');
    await reader.cancel();
    let timer: NodeJS.Timeout | undefined;
    const next = await Promise.race([
      app.request(`/v1/jobs/${jobId}`, { headers: { authorization: `Bearer ${owner.token}` } }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('the connection was not released')), 10_000);
      }),
    ]).finally(() => clearTimeout(timer));
    assert.equal(next.status, 200);
  });

  test('over a real socket, a client that disconnects during an export leaves no connection behind', async () => {
    const server = await startApiServer(
      { ...api.deps, sql: api.db.connect(1) },
      { host: '127.0.0.1', port: 0 },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        const req = http.get(
          `${server.url}/v1/jobs/${jobId}/export`,
          { headers: { authorization: `Bearer ${owner.token}` } },
          (res) => {
            assert.equal(res.statusCode, 200);
            res.once('data', () => {
              req.destroy();
              resolve();
            });
          },
        );
        req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
      });
      let timer: NodeJS.Timeout | undefined;
      const next = await Promise.race([
        fetch(`${server.url}/v1/jobs/${jobId}`, { headers: { authorization: `Bearer ${owner.token}` } }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('the connection was not released')), 10_000);
        }),
      ]).finally(() => clearTimeout(timer));
      assert.equal(next.status, 200);
    } finally {
      await server.close();
    }
  });

  test('another tenant’s job or an unknown one is a 404 error body, not a stream; a bad format is 400', async () => {
    const stranger = await api.user();
    const theirs = await stranger.call('GET', `/v1/jobs/${jobId}/export`);
    const unknown = await stranger.call('GET', `/v1/jobs/${randomUUID()}/export?format=json`);
    assert.equal(theirs.status, 404);
    assert.match(theirs.headers.get('content-type') ?? '', /application\/json/);
    assert.equal(theirs.body.error.code, 'not_found');
    assert.deepEqual(theirs.body, unknown.body);
    assert.equal(theirs.headers.get('content-disposition'), null);
    const bad = await owner.call('GET', `/v1/jobs/${jobId}/export?format=xml`);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'validation_failed');
  });
});
