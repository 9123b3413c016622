import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { RetryableCrawlError } from '../../src/crawler/errors.ts';
import { fetchUrl } from '../../src/crawler/fetch.ts';
import { closeFetchPool } from '../../src/crawler/fetch-pool.ts';
import type { FetchOptions, FetchResult } from '../../src/crawler/types.ts';
import { type FetchFn, warmDelayMs, warmPage } from '../../src/crawler/warm.ts';
import { type FixtureSite, startFixtureSite } from '../support/fixture-site.ts';

// The real fetch, allowed to reach the loopback fixture server.
function localFetch(url: string, opts: FetchOptions = {}): Promise<FetchResult> {
  return fetchUrl(url, { ...opts, allowPrivateNetworks: true });
}

/** Page whose n-th response (0-based) carries sequence[n] headers, the last one repeating. */
function sequenced(site: FixtureSite, path: string, sequence: Array<Record<string, string>>): void {
  site.route(path, (_req, res, s) => {
    const headers = sequence[Math.min(s.hitCount(path), sequence.length - 1)] ?? {};
    res.writeHead(200, { 'content-type': 'text/html', ...headers });
    res.end('<p>page</p>');
  });
}

const cf = (v: string) => ({ 'cf-cache-status': v });

let site: FixtureSite;
before(async () => {
  site = await startFixtureSite((s) => {
    sequenced(s, '/cf-miss-then-hit', [cf('MISS'), cf('HIT')]);
    sequenced(s, '/fastly-always-miss', [{ 'x-cache': 'MISS, MISS' }]);
    sequenced(s, '/fastly-always-miss-2', [{ 'x-cache': 'MISS, MISS' }]);
    sequenced(s, '/akamai-expired-then-revalidated', [
      { 'x-cache': 'TCP_REFRESH_MISS from a1.deploy.akamaitechnologies.com (AkamaiGHost/11.4.3) (-)' },
      { 'x-cache': 'TCP_REFRESH_HIT from a1.deploy.akamaitechnologies.com (AkamaiGHost/11.4.3) (-)' },
    ]);
    sequenced(s, '/netlify-miss-miss-stale', [
      { 'cache-status': '"Netlify Edge"; fwd=miss' },
      { 'cache-status': '"Netlify Edge"; fwd=miss' },
      { 'cache-status': '"Netlify Edge"; hit; ttl=-5' },
    ]);
    sequenced(s, '/cloudfront-miss-miss-hit', [
      { 'x-cache': 'Miss from cloudfront' },
      { 'x-cache': 'Miss from cloudfront' },
      { 'x-cache': 'Hit from cloudfront' },
    ]);
    for (const status of ['BYPASS', 'DYNAMIC', 'HIT', 'STALE', 'REVALIDATED'])
      sequenced(s, `/first-${status}`, [cf(status)]);
    sequenced(s, '/first-UNKNOWN', [{ server: 'nginx' }]);
    sequenced(s, '/vercel-bypass', [{ 'x-vercel-cache': 'BYPASS' }]);
    sequenced(s, '/timed', [cf('MISS')]);
    sequenced(s, '/abort', [cf('MISS')]);
    sequenced(s, '/503-on-warm', [cf('MISS')]);
    s.route('/dies-on-warm', (req, res, s2) => {
      if (s2.hitCount('/dies-on-warm') > 0) {
        req.socket.destroy();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html', 'cf-cache-status': 'MISS' });
      res.end('<p>page</p>');
    });
  });
});
after(async () => {
  await closeFetchPool();
  await site.stop();
});

const fast = { baseDelayMs: 2 };

async function crawlAndWarm(path: string, options: Partial<Parameters<typeof warmPage>[2]> = {}) {
  const first = await localFetch(site.url(path));
  return warmPage(site.url(path), first, { fetch: localFetch, ...fast, ...options });
}

describe('warmPage', () => {
  test('MISS then HIT: one warm GET, then stops', async () => {
    const result = await crawlAndWarm('/cf-miss-then-hit');
    assert.equal(site.hitCount('/cf-miss-then-hit'), 2);
    assert.deepEqual(
      site.requested('/cf-miss-then-hit').map((r) => r.method),
      ['GET', 'GET'],
    );
    assert.equal(result.attempts.length, 1);
    assert.equal(result.attempts[0]?.cacheStatus, 'HIT');
    assert.equal(result.attempts[0]?.statusCode, 200);
    assert.equal(result.finalCacheStatus, 'HIT');
    assert.equal(result.warmed, true);
    assert.ok(result.lastTiming);
    assert.equal(result.lastTiming, result.attempts[0]?.timing);
  });

  test('a page that never caches gets exactly maxAttempts warm GETs', async () => {
    const three = await crawlAndWarm('/fastly-always-miss');
    assert.equal(site.hitCount('/fastly-always-miss'), 1 + 3);
    assert.equal(three.attempts.length, 3);
    assert.equal(three.finalCacheStatus, 'MISS');
    assert.equal(three.warmed, false);
    assert.equal(three.lastTiming, three.attempts[2]?.timing);

    await crawlAndWarm('/fastly-always-miss-2', { maxAttempts: 2 });
    assert.equal(site.hitCount('/fastly-always-miss-2'), 1 + 2);
  });

  const stops = [
    { path: '/akamai-expired-then-revalidated', final: 'REVALIDATED', warmGets: 1 },
    { path: '/netlify-miss-miss-stale', final: 'STALE', warmGets: 2 },
    { path: '/cloudfront-miss-miss-hit', final: 'HIT', warmGets: 2 },
  ] as const;
  for (const { path, final, warmGets } of stops) {
    test(`stops on ${final} whatever the CDN (${path})`, async () => {
      const result = await crawlAndWarm(path);
      assert.equal(site.hitCount(path), 1 + warmGets);
      assert.equal(result.attempts.length, warmGets);
      assert.equal(result.finalCacheStatus, final);
      assert.equal(result.warmed, true);
    });
  }

  for (const status of ['BYPASS', 'DYNAMIC', 'HIT', 'STALE', 'REVALIDATED', 'UNKNOWN']) {
    test(`no warm GET when the first status is ${status}`, async () => {
      const result = await crawlAndWarm(`/first-${status}`);
      assert.equal(site.hitCount(`/first-${status}`), 1);
      assert.deepEqual(result, {
        attempts: [],
        finalCacheStatus: status,
        lastTiming: undefined,
        warmed: false,
      });
    });
  }

  test('no warm GET for an uncacheable page on another CDN', async () => {
    const result = await crawlAndWarm('/vercel-bypass');
    assert.equal(site.hitCount('/vercel-bypass'), 1);
    assert.equal(result.finalCacheStatus, 'BYPASS');
  });

  test('waits a growing, jittered delay before each warm GET (as seen by the server)', async () => {
    const jitter = [0, 0.5, 0.999];
    const asked: number[] = [];
    const result = await crawlAndWarm('/timed', {
      baseDelayMs: 10,
      random: () => jitter[asked.length] ?? 0,
      sleep: async (ms) => {
        asked.push(ms);
        await delay(ms);
      },
    });
    assert.deepEqual(asked, [10, 30, 60]);
    const at = site.requested('/timed').map((r) => r.at);
    assert.equal(at.length, 4);
    // Date.now() has millisecond resolution on both sides, hence the 1 ms allowance.
    for (let i = 0; i < asked.length; i++) assert.ok(at[i + 1]! - at[i]! >= asked[i]! - 1, `gap ${i}`);
    for (let i = 1; i < result.attempts.length; i++) {
      assert.ok(result.attempts[i]!.at - result.attempts[i - 1]!.at >= asked[i]! - 1);
    }
  });

  test('default delays are 0.5–1 s for the first attempt and grow', () => {
    assert.equal(
      warmDelayMs(1, 500, () => 0),
      500,
    );
    assert.equal(
      warmDelayMs(1, 500, () => 0.999),
      1000,
    );
    assert.equal(
      warmDelayMs(2, 500, () => 0),
      1000,
    );
    assert.equal(
      warmDelayMs(3, 500, () => 0.5),
      2250,
    );
  });

  test('a warm GET that throws is recorded and ends warming without throwing', async () => {
    const result = await crawlAndWarm('/dies-on-warm');
    assert.equal(site.hitCount('/dies-on-warm'), 2);
    assert.equal(result.attempts.length, 1);
    assert.ok(result.attempts[0]?.error);
    assert.equal(result.attempts[0]?.timing, undefined);
    assert.equal(result.finalCacheStatus, 'MISS');
    assert.equal(result.lastTiming, undefined);
    assert.equal(result.warmed, false);
  });

  test('a crawl error keeps its code and status code', async () => {
    const throwing: FetchFn = async (url, opts) => {
      const res = await localFetch(url, opts);
      throw new RetryableCrawlError('http_5xx', `HTTP ${res.statusCode}`, { statusCode: 503, url });
    };
    const first = await localFetch(site.url('/503-on-warm'));
    const result = await warmPage(site.url('/503-on-warm'), first, { fetch: throwing, ...fast });
    assert.equal(site.hitCount('/503-on-warm'), 2);
    assert.equal(result.attempts.length, 1);
    assert.deepEqual(result.attempts[0]?.error, { code: 'http_5xx', message: 'HTTP 200' });
    assert.equal(result.attempts[0]?.statusCode, 503);
  });

  test('an abort during the wait stops warming with no further request', async () => {
    const controller = new AbortController();
    const abortAfterFirst: FetchFn = async (url, opts) => {
      const res = await localFetch(url, opts);
      controller.abort();
      return res;
    };
    const first = await localFetch(site.url('/abort'));
    const result = await warmPage(site.url('/abort'), first, {
      fetch: abortAfterFirst,
      baseDelayMs: 60_000,
      sleep: async (ms, signal) => {
        // The first wait is skipped; the second would last minutes unless the abort ends it.
        if (!signal?.aborted) return;
        await delay(ms, undefined, { signal });
      },
      signal: controller.signal,
    });
    assert.equal(site.hitCount('/abort'), 2);
    assert.equal(result.attempts.length, 1);
    assert.equal(result.warmed, false);
  });
});
