// `bbb crawl` end to end: a real child process, a real database, a loopback site that records every request.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { after, test } from 'node:test';
import type { Report } from '../../src/report/index.ts';
import { testDatabase } from '../support/db.ts';
import { type FixtureSite, startFixtureSite } from '../support/fixture-site.ts';
import { tempDir } from '../support/tmp.ts';
import { runBbb } from './bbb-process.ts';

const db = await testDatabase();
const sites: FixtureSite[] = [];

after(async () => {
  await Promise.all(sites.map((s) => s.stop()));
});

const HIT = { 'cf-cache-status': 'HIT' };

/** Home → about → missing (404); home → private (robots-disallowed); the sitemap adds a page nothing links. */
async function brokenSite(): Promise<FixtureSite> {
  const site = await startFixtureSite((s) => {
    s.robots(['Disallow: /private/'], ['/sitemap.xml']);
    s.sitemap('/sitemap.xml', ['/', '/sitemap-only']);
    s.page('/', '<a href="/about">about</a> <a href="/private/secret">secret</a>', HIT);
    // First request a MISS, then HITs: the report shows the page before and after warming.
    s.route('/about', (_req: http.IncomingMessage, res: http.ServerResponse, site: FixtureSite) => {
      const status = site.hitCount('/about') === 0 ? 'MISS' : 'HIT';
      res.writeHead(200, { 'content-type': 'text/html', 'cf-cache-status': status });
      res.end('<a href="/missing">gone</a> <a href="/">home</a>');
    });
    s.page('/sitemap-only', '<p>listed in the sitemap only</p>', HIT);
    s.page('/private/secret', '<p>must never be fetched</p>', HIT);
  });
  sites.push(site);
  return site;
}

test('a site with a broken link: exit 1, JSON lists every page, the broken one with where it was found', async () => {
  const site = await brokenSite();
  const { code, stdout, stderr } = await runBbb(['crawl', site.url('/'), '--format', 'json'], {
    DATABASE_URL: db.url,
  }).done;
  assert.equal(code, 1, stderr);
  const report = JSON.parse(stdout) as Report;
  assert.equal(report.job.status, 'completed');
  assert.equal(report.job.url, site.url('/'));
  const byPath = new Map(report.pages.map((p) => [new URL(p.url).pathname, p]));
  assert.deepEqual([...byPath.keys()].sort(), [
    '/',
    '/about',
    '/missing',
    '/private/secret',
    '/sitemap-only',
  ]);
  const missing = byPath.get('/missing')!;
  assert.equal(missing.status_code, 404);
  assert.equal(missing.found_on, site.url('/about'));
  assert.equal(missing.source, 'link');
  assert.equal(byPath.get('/private/secret')!.error?.code, 'robots_disallowed');
  assert.equal(site.requested('/private/secret').length, 0, 'the disallowed path never reached the server');
  const about = byPath.get('/about')!;
  assert.equal(about.cache_status, 'MISS');
  assert.equal(about.final_cache_status, 'HIT');
  assert.equal(byPath.get('/sitemap-only')!.source, 'sitemap');
  assert.equal(report.job.stats?.pages.broken, 1);
  assert.match(stderr, /1 broken link/);
});

test('the table report names the broken link and its page', async () => {
  const site = await brokenSite();
  const { code, stdout, stderr } = await runBbb(['crawl', site.url('/')], { DATABASE_URL: db.url }).done;
  assert.equal(code, 1, stderr);
  assert.match(stdout, new RegExp(`404\\s+${site.url('/missing')}\\n\\s+found on ${site.url('/about')}`));
  assert.match(stdout, /Broken links \(1\)/);
});

test('a clean site: exit 0, CSV written to --output, nothing on stdout', async () => {
  const site = await startFixtureSite((s) => {
    s.page('/', '<a href="/a">a</a> <a href="/b?x=1">b</a>', HIT);
    s.page('/a', '<a href="/">home</a>', HIT);
    s.page('/b', '<p>b</p>', HIT);
  });
  sites.push(site);
  const file = path.join(tempDir(), 'report.csv');
  const { code, stdout, stderr } = await runBbb(
    ['crawl', site.url('/'), '--no-sitemap', '--format', 'csv', '--output', file],
    { DATABASE_URL: db.url },
  ).done;
  assert.equal(code, 0, stderr);
  assert.equal(stdout, '');
  const lines = readFileSync(file, 'utf8').trimEnd().split('\r\n');
  assert.equal(lines[0]!.split(',')[0], 'url');
  assert.deepEqual(
    lines
      .slice(1)
      .map((l) => new URL(l.split(',')[0]!).pathname + new URL(l.split(',')[0]!).search)
      .sort(),
    ['/', '/a', '/b?x=1'],
  );
  assert.equal(site.requested('/sitemap.xml').length, 0, '--no-sitemap reads no sitemap');
});

for (const [args, fix] of [
  [['crawl', 'https://example.com/', '--max-pages', '0'], /--max-pages: .*at least 1/],
  [['crawl', 'not a url'], /<url>: malformed URL/],
  [['crawl', 'https://example.com/', '--concurrency', 'lots'], /--concurrency.*whole number/],
  [['crawl', 'https://example.com/', '--format', 'xml'], /--format.*table, json, csv/],
] as const) {
  test(`bad usage exits 2 and names the fix: ${args.slice(1).join(' ')}`, async () => {
    // An unreachable database proves the check happens before any database is touched.
    const { code, stderr } = await runBbb([...args], { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' })
      .done;
    assert.equal(code, 2, stderr);
    assert.match(stderr, fix);
  });
}
