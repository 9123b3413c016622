import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CSV_COLUMNS, csvCell, formatCsv } from '../../src/report/csv.ts';
import { brokenPages, formatReport, type Report, type ReportPage } from '../../src/report/index.ts';

function page(overrides: Partial<ReportPage>): ReportPage {
  return {
    url: 'https://site.example/',
    status_code: 200,
    cache_status: 'MISS',
    final_cache_status: 'HIT',
    response_time_ms: 120,
    warm_response_time_ms: 15,
    redirect_url: null,
    error: null,
    source: 'root',
    found_on: null,
    ...overrides,
  };
}

const report: Report = {
  job: {
    id: '0b5c7a43-3f0e-4f55-9d0e-8c1f7d1e2a10',
    url: 'https://site.example/',
    status: 'completed',
    started_at: '2026-11-25T10:00:00.000Z',
    completed_at: '2026-11-25T10:00:03.500Z',
    stats: {
      pages: { ok: 2, broken: 1, redirected: 0, skipped: 0, errored: 1, blocked_by_robots: 0 },
      cache_hit_ratio: { before: 0.25, after: 0.75 },
      response_time_ms: {
        before: { p50: 120, p90: 900, p95: 950, p99: 990 },
        after: { p50: 15, p90: 40, p95: 45, p99: 49 },
      },
      slowest: [{ url: 'https://site.example/slow', response_time_ms: 1000, warm_response_time_ms: 20 }],
      time_saved_ms: 1090,
    },
  },
  pages: [
    page({}),
    page({ url: 'https://site.example/slow', source: 'link', found_on: 'https://site.example/' }),
    page({
      url: 'https://site.example/missing',
      status_code: 404,
      cache_status: null,
      final_cache_status: null,
      warm_response_time_ms: null,
      error: { code: 'http_4xx', message: 'HTTP 404' },
      source: 'link',
      found_on: 'https://site.example/about',
    }),
    page({
      url: 'https://site.example/down',
      status_code: null,
      response_time_ms: null,
      warm_response_time_ms: null,
      error: { code: 'connection_refused', message: 'connect ECONNREFUSED' },
      source: 'sitemap',
    }),
    page({
      url: 'https://site.example/private/x',
      status_code: null,
      error: { code: 'robots_disallowed', message: 'robots.txt disallows it' },
      source: 'link',
      found_on: 'https://site.example/',
    }),
  ],
};

test('JSON report has exactly the documented fields', () => {
  const parsed = JSON.parse(formatReport(report, 'json')) as Record<string, unknown>;
  assert.deepEqual(Object.keys(parsed), ['job', 'pages']);
  const job = parsed.job as Record<string, unknown>;
  assert.deepEqual(Object.keys(job), ['id', 'url', 'status', 'started_at', 'completed_at', 'stats']);
  const pages = parsed.pages as Array<Record<string, unknown>>;
  assert.deepEqual(Object.keys(pages[0]!), [
    'url',
    'status_code',
    'cache_status',
    'final_cache_status',
    'response_time_ms',
    'warm_response_time_ms',
    'redirect_url',
    'error',
    'source',
    'found_on',
  ]);
  assert.deepEqual(pages[2]!.error, { code: 'http_4xx', message: 'HTTP 404' });
  assert.equal(pages[0]!.error, null);
});

test('broken links: HTTP errors and unreachable pages, not pages robots.txt kept us from', () => {
  assert.deepEqual(
    brokenPages(report.pages).map((p) => p.url),
    ['https://site.example/missing', 'https://site.example/down'],
  );
});

test('CSV quotes per RFC 4180 and defuses formula cells', () => {
  assert.equal(csvCell('plain'), 'plain');
  assert.equal(csvCell('a,b'), '"a,b"');
  assert.equal(csvCell('say "hi"'), '"say ""hi"""');
  assert.equal(csvCell('two\nlines'), '"two\nlines"');
  assert.equal(csvCell(null), '');
  assert.equal(csvCell(-5), '-5', 'numbers are data, never formulas');
  for (const start of ['=', '+', '-', '@', '\t']) {
    assert.equal(csvCell(`${start}cmd`), `'${start}cmd`);
  }
  assert.equal(csvCell('=HYPERLINK("x","y")'), `"'=HYPERLINK(""x"",""y"")"`);
});

test('CSV has a header and one row per page', () => {
  const hostile = {
    ...report,
    pages: [page({ url: 'https://site.example/?q=1,2', error: { code: 'x', message: '=1+1' } })],
  };
  const lines = formatCsv(hostile).split('\r\n');
  assert.equal(lines[0], CSV_COLUMNS.join(','));
  assert.equal(lines[1], '"https://site.example/?q=1,2",200,MISS,HIT,120,15,,x,\'=1+1,root,');
  assert.equal(lines[2], '', 'ends with CRLF');
  assert.equal(lines.length, 3);
  assert.equal(formatCsv(report).split('\r\n').length, report.pages.length + 2);
});

test('table names each broken link with the page it was found on, and the cache summary', () => {
  const text = formatReport(report, 'table');
  assert.match(text, /Crawl of https:\/\/site\.example\/: completed in 3\.50 s/);
  assert.match(text, /Pages crawled: 5 \(2 ok, 2 broken, 1 not fetched \(robots\.txt\)\)/);
  assert.match(text, /Broken links \(2\)/);
  assert.match(text, /404\s+https:\/\/site\.example\/missing\n\s+found on https:\/\/site\.example\/about/);
  assert.match(text, /connection_refused\s+https:\/\/site\.example\/down\n\s+found on \(sitemap\)/);
  assert.doesNotMatch(text, /private\/x/, 'robots-disallowed pages are not listed as broken');
  assert.match(text, /hit ratio\s+25\.0% before warming → 75\.0% after/);
  assert.match(text, /time saved 1\.09 s/);
  assert.match(text, /1\.00 s → 20 ms\s+https:\/\/site\.example\/slow/);
  assert.match(text, /before\s+120 ms\s+900 ms\s+950 ms\s+990 ms/);
  assert.match(text, /after\s+15 ms\s+40 ms\s+45 ms\s+49 ms/);
});

test('table for a clean crawl says so', () => {
  const clean = { ...report, pages: [page({})] };
  assert.match(formatReport(clean, 'table'), /Broken links: none/);
});
