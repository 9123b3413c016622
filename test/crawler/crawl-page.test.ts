// End to end: crawlPage against one fixture site over real loopback HTTP, asserting on what the server saw.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type CrawlOptions, createCrawlContext } from '../../src/crawler/crawl-context.ts';
import { checkExternalLink, crawlPage, type PageCrawlResult } from '../../src/crawler/crawl-page.ts';
import { RetryableCrawlError } from '../../src/crawler/errors.ts';
import { closeFetchPool } from '../../src/crawler/fetch-pool.ts';
import {
  CDN_STYLES,
  type CrawlSiteState,
  DEFAULT_ROBOTS,
  EXTERNAL_HOST,
  fixtureResolver,
  mountCrawlSite,
  SITE_HOST,
  UNCACHEABLE,
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

// Each test gets fresh robots and politeness state; the server (and its request log) is shared.
function context(overrides: CrawlOptions = {}) {
  return createCrawlContext(root, {
    allowPrivateNetworks: true,
    resolver: fixtureResolver,
    headersTimeoutMs: 400,
    bodyTimeoutMs: 400,
    totalTimeoutMs: 5_000,
    maxBodyBytes: 1024 * 1024,
    warmBaseDelayMs: 2,
    politeness: { minDelayMs: 0 },
    filters: { exclude: ['/excluded/**'] },
    ...overrides,
  });
}
const url = (path: string) => `${root}${path}`;
const gets = (path: string) => site.requested(path).filter((r) => r.method === 'GET').length;

function assertError(result: PageCrawlResult, code: string, retryable: boolean) {
  assert.ok(result.error, `expected ${code}, got a result without error (status ${result.statusCode})`);
  assert.equal(result.error.code, code, result.error.message);
  assert.equal(result.error.retryable, retryable);
}

describe('cache warming per CDN header style', () => {
  for (const style of Object.keys(CDN_STYLES)) {
    test(`${style}: first GET is a miss, one warm GET turns it into a HIT`, async () => {
      const result = await crawlPage(url(`/cdn/${style}/page`), context());
      assert.equal(result.error, undefined);
      assert.equal(result.statusCode, 200);
      assert.equal(result.cacheStatus, style === 'cloudflare-expired' ? 'EXPIRED' : 'MISS');
      assert.equal(result.warmCacheStatus, 'HIT');
      assert.equal(result.warmAttempts.length, 1);
      assert.equal(result.warmAttempts[0]?.cacheStatus, 'HIT');
      assert.ok(result.warmResponseTimeMs !== undefined && result.warmResponseTimeMs > 0);
      assert.equal(gets(`/cdn/${style}/page`), 2, 'the server saw the crawl GET and exactly one warm GET');
    });
  }

  for (const style of Object.keys(UNCACHEABLE)) {
    test(`${style}: uncacheable, never re-requested`, async () => {
      const result = await crawlPage(url(`/cdn/${style}/page`), context());
      assert.ok(result.cacheStatus === 'BYPASS' || result.cacheStatus === 'DYNAMIC', result.cacheStatus);
      assert.deepEqual(result.warmAttempts, []);
      assert.equal(result.warmCacheStatus, undefined);
      assert.equal(gets(`/cdn/${style}/page`), 1);
    });
  }

  test('a page that stays a MISS is retried a bounded number of times, each attempt recorded', async () => {
    const result = await crawlPage(url('/cdn/never-hit/page'), context({ warmAttempts: 3 }));
    assert.equal(result.cacheStatus, 'MISS');
    assert.deepEqual(
      result.warmAttempts.map((a) => a.cacheStatus),
      ['MISS', 'MISS', 'MISS'],
    );
    assert.equal(result.warmCacheStatus, 'MISS');
    assert.equal(gets('/cdn/never-hit/page'), 4);
  });
});

describe('robots.txt', () => {
  test('a disallowed page fails robots_disallowed and is never requested; robots.txt is fetched once', async () => {
    const ctx = context();
    const robotsBefore = site.requested('/robots.txt').length;
    const secret = await crawlPage(url('/private/secret'), ctx);
    const ours = await crawlPage(url('/no-bees'), ctx);
    assertError(secret, 'robots_disallowed', false);
    assertError(ours, 'robots_disallowed', false);
    assert.equal((await crawlPage(url('/ok'), ctx)).error, undefined);
    assert.equal(site.requested('/private/secret').length, 0);
    assert.equal(site.requested('/no-bees').length, 0);
    assert.equal(site.requested('/robots.txt').length - robotsBefore, 1);
  });

  test('Crawl-delay is a floor between request starts, and the wait is not response time', async () => {
    state.robots = 'User-agent: *\nCrawl-delay: 0.4\n';
    try {
      const ctx = context();
      const first = await crawlPage(url('/ok'), ctx);
      const second = await crawlPage(url('/ok-2'), ctx);
      assert.equal(first.error, undefined);
      assert.equal(second.error, undefined);
      const gap = site.requested('/ok-2').at(-1)!.at - site.requested('/ok').at(-1)!.at;
      assert.ok(gap >= 390, `requests started ${gap} ms apart`);
      assert.ok(second.politenessWaitMs >= 300, `waited ${second.politenessWaitMs} ms`);
      assert.ok(second.responseTimeMs! < second.politenessWaitMs, 'the wait is not in the response time');
    } finally {
      state.robots = DEFAULT_ROBOTS;
    }
  });
});

describe('redirects, timeouts and sizes', () => {
  test('a redirect chain is followed and recorded', async () => {
    const result = await crawlPage(url('/redirect/a'), context());
    assert.equal(result.error, undefined);
    assert.equal(result.statusCode, 200);
    assert.equal(result.redirectUrl, url('/redirect/c'));
    assert.deepEqual(
      result.redirects.map((r) => [new URL(r.url).pathname, r.statusCode]),
      [
        ['/redirect/a', 301],
        ['/redirect/b', 301],
      ],
    );
  });

  test('a redirect loop fails permanently after visiting each hop once', async () => {
    const before = gets('/loop/x');
    assertError(await crawlPage(url('/loop/x'), context()), 'redirect_loop', false);
    assert.equal(gets('/loop/x') - before, 1);
  });

  test('a slow page succeeds and its time to first byte shows it', async () => {
    const result = await crawlPage(url('/slow'), context({ headersTimeoutMs: 2_000 }));
    assert.equal(result.error, undefined);
    assert.ok(result.timing!.ttfb >= 140, `ttfb ${result.timing!.ttfb}`);
  });

  test('stalled headers and stalled bodies time out as retryable errors', async () => {
    assertError(await crawlPage(url('/stall-headers'), context()), 'timeout_headers', true);
    assertError(await crawlPage(url('/stall-body'), context()), 'timeout_body', true);
  });

  test('an endless body and a gzip bomb fail too_large quickly', async () => {
    for (const path of ['/huge', '/bomb']) {
      const started = performance.now();
      const result = await crawlPage(url(path), context());
      assertError(result, 'too_large', false);
      assert.ok(performance.now() - started < 4_000, `${path} took ${performance.now() - started} ms`);
    }
  });
});

describe('HTTP errors and politeness', () => {
  test('404 is permanent, 500 retryable; both keep the status', async () => {
    const missing = await crawlPage(url('/missing'), context());
    assertError(missing, 'http_4xx', false);
    assert.equal(missing.statusCode, 404);
    const down = await crawlPage(url('/server-error'), context());
    assertError(down, 'http_5xx', true);
    assert.equal(down.statusCode, 500);
  });

  test('429 carries Retry-After and holds back the next request to the host', async () => {
    const ctx = context({ politeness: { minDelayMs: 0, maxRetryAfterMs: 300 } });
    const busy = await crawlPage(url('/busy'), ctx);
    assertError(busy, 'http_429', true);
    assert.ok(busy.error instanceof RetryableCrawlError);
    assert.equal(busy.error.retryAfterMs, 1_000);
    const next = await crawlPage(url('/ok'), ctx);
    assert.equal(next.error, undefined);
    const gap = site.requested('/ok').at(-1)!.at - site.requested('/busy').at(-1)!.at;
    assert.ok(gap >= 295, `next request ${gap} ms after the 429 (Retry-After capped at 300 ms)`);
    assert.ok(next.politenessWaitMs >= 250);
  });
});

describe('link discovery', () => {
  test('internal and external links, base href, tracking and filters, nofollow and schemes', async () => {
    const result = await crawlPage(url('/links'), context({ collectAssets: true }));
    assert.equal(result.error, undefined);
    assert.deepEqual(result.internalLinks.map((l) => l.url).sort(), [
      url('/section/child?id=7'),
      `http://www.${SITE_HOST}:${site.port}/ok`,
    ]);
    assert.ok(result.internalLinks.every((l) => l.foundOn === url('/links') && l.internal));
    assert.deepEqual(
      result.externalLinks.map((l) => l.url),
      [`http://${EXTERNAL_HOST}:${site.port}/ext/head-refused`],
    );
    assert.equal(result.filteredLinks, 1, '/excluded/page dropped by the exclude filter');
    assert.deepEqual(result.assets.map((a) => new URL(a.url).pathname).sort(), [
      '/img/bee-2x.png',
      '/img/bee.png',
      '/style.css',
    ]);
  });

  test('keepQuery: false drops query strings; discoverLinks: false reads no links', async () => {
    const noQuery = await crawlPage(url('/links'), context({ keepQuery: false }));
    assert.ok(noQuery.internalLinks.some((l) => l.url === url('/section/child')));
    const off = await crawlPage(url('/links'), context({ discoverLinks: false }));
    assert.deepEqual(off.internalLinks, []);
  });

  test('malformed HTML yields the links it can; non-HTML is not parsed', async () => {
    const result = await crawlPage(url('/malformed'), context());
    assert.equal(result.error, undefined);
    const found = result.internalLinks.map((l) => new URL(l.url).pathname);
    assert.ok(found.includes('/ok') && found.includes('/ok-2'), found.join());
    const pdf = await crawlPage(url('/file.pdf'), context());
    assert.equal(pdf.error, undefined);
    assert.equal(pdf.contentType, 'application/pdf');
    assert.deepEqual(pdf.internalLinks, []);
  });

  test('external links are checked (HEAD, then GET when HEAD is refused) and never crawled', async () => {
    const path = '/ext/head-refused';
    const before = site.requested(path).length;
    const ok = await checkExternalLink(`http://${EXTERNAL_HOST}:${site.port}${path}`, context());
    assert.equal(ok.error, undefined);
    assert.equal(ok.statusCode, 200);
    assert.deepEqual(
      site
        .requested(path)
        .slice(before)
        .map((r) => [r.method, r.headers.host]),
      [
        ['HEAD', `${EXTERNAL_HOST}:${site.port}`],
        ['GET', `${EXTERNAL_HOST}:${site.port}`],
      ],
    );
    const dead = await checkExternalLink(`http://${EXTERNAL_HOST}:${site.port}/ext/gone`, context());
    assert.equal(dead.statusCode, 404);
    assert.equal(dead.error?.code, 'http_4xx');
  });
});

describe('SSRF guard', () => {
  test('by default a site resolving to loopback is refused before any request reaches it', async () => {
    const before = site.requests.length;
    const result = await crawlPage(url('/ok'), context({ allowPrivateNetworks: false }));
    assertError(result, 'ssrf_blocked', false);
    assert.equal(site.requests.length, before);
    const literal = createCrawlContext(site.url('/'), {});
    assertError(await crawlPage(site.url('/ok'), literal), 'ssrf_blocked', false);
    assert.equal(site.requests.length, before);
  });

  test('an invalid URL fails invalid_url without a request', async () => {
    const before = site.requests.length;
    assertError(await crawlPage('http://exa mple/', context()), 'invalid_url', false);
    assert.equal(site.requests.length, before);
  });
});
