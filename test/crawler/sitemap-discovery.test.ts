// End to end: a job's starting tasks from the fixture site's sitemaps, over real loopback HTTP.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type CrawlOptions, createCrawlContext } from '../../src/crawler/crawl-context.ts';
import { closeFetchPool } from '../../src/crawler/fetch-pool.ts';
import { discoverSitemapUrls } from '../../src/crawler/sitemap-discovery.ts';
import {
  type CrawlSiteState,
  DEFAULT_ROBOTS,
  fixtureResolver,
  mountCrawlSite,
  SITE_HOST,
} from '../support/fixture-routes.ts';
import { type FixtureSite, startFixtureSite } from '../support/fixture-site.ts';

const state: CrawlSiteState = { robots: DEFAULT_ROBOTS, busyRetryAfter: '1' };
let site: FixtureSite;
let root: string;

before(async () => {
  site = await startFixtureSite((s) => mountCrawlSite(s, state));
  root = `http://${SITE_HOST}:${site.port}`;
});
after(async () => {
  await closeFetchPool();
  await site.stop();
});

function context(overrides: CrawlOptions = {}) {
  return createCrawlContext(root, {
    allowPrivateNetworks: true,
    resolver: fixtureResolver,
    filters: { exclude: ['/excluded/**'] },
    ...overrides,
  });
}
const path = (url: string) => new URL(url).pathname;
const requestsSince = (mark: number) => site.requests.slice(mark).map((r) => r.path);

describe('discoverSitemapUrls', () => {
  test('robots Sitemap line → index with a gzipped child and two cycles; same-site, filtered, ordered', async () => {
    const mark = site.requests.length;
    const found = await discoverSitemapUrls(root, context(), { maxUrls: 100 });
    // Priority 1.0, then 0.8 (newer lastmod first), then 0.3; off-site and excluded URLs are gone, and the
    // utm_ duplicate of /about collapses into it.
    assert.deepEqual(
      found.tasks.map((t) => path(t.url)),
      ['/', '/posts/new', '/posts/old', '/about'],
    );
    const [home, fresh, old, about] = found.tasks;
    assert.ok(
      home!.priority > fresh!.priority && fresh!.priority > old!.priority && old!.priority > about!.priority,
    );
    assert.equal(fresh!.sitemap, `${root}/sitemap-posts.xml.gz`);
    assert.equal(found.filtered, 1);
    assert.equal(found.reachedMaxUrls, false);
    // Every file was read exactly once despite the index listing itself and being listed back.
    const files = requestsSince(mark).filter((p) => p !== '/robots.txt');
    assert.deepEqual(files.sort(), [
      '/sitemap-cycle.xml',
      '/sitemap-pages.xml',
      '/sitemap-posts.xml.gz',
      '/sitemap_index.xml',
    ]);
  });

  test('stops at maxUrls without reading further files', async () => {
    const mark = site.requests.length;
    const found = await discoverSitemapUrls(root, context(), { maxUrls: 2 });
    assert.equal(found.tasks.length, 2);
    assert.equal(found.reachedMaxUrls, true);
    assert.ok(!requestsSince(mark).includes('/sitemap-posts.xml.gz'), 'the gz child was not needed');
  });

  test('without Sitemap lines: /sitemap.xml; malformed XML keeps the entries before the damage', async () => {
    state.robots = 'User-agent: *\nDisallow:\n';
    try {
      const found = await discoverSitemapUrls(root, context(), { maxUrls: 100 });
      assert.deepEqual(
        found.tasks.map((t) => path(t.url)),
        ['/a', '/b'],
      );
      assert.ok(
        found.warnings.some((w) => w.includes('/sitemap.xml')),
        found.warnings.join('\n'),
      );
    } finally {
      state.robots = DEFAULT_ROBOTS;
    }
  });

  test('include filters limit the tasks and the count toward maxUrls', async () => {
    const found = await discoverSitemapUrls(root, context({ filters: { include: ['/posts/**'] } }), {
      maxUrls: 1,
    });
    assert.deepEqual(
      found.tasks.map((t) => path(t.url)),
      ['/posts/new'],
    );
  });
});
