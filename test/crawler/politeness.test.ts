import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { fetchUrl } from '../../src/crawler/fetch.ts';
import { parseRetryAfter } from '../../src/crawler/fetch-errors.ts';
import { closeFetchPool } from '../../src/crawler/fetch-pool.ts';
import {
  applyOutcome,
  DEFAULT_POLITENESS,
  INITIAL_HOST_STATE,
  InMemoryHostStateStore,
  Politeness,
  type PolitenessConfig,
  type PolitenessOptions,
  politeFetch,
  reserveSlot,
} from '../../src/crawler/politeness.ts';
import type { FetchOptions, FetchResult } from '../../src/crawler/types.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { type FixtureSite, startFixtureSite } from '../support/fixture-site.ts';

// The real fetch, allowed to reach the loopback fixture server.
function localFetch(url: string, opts: FetchOptions = {}): Promise<FetchResult> {
  return fetchUrl(url, { ...opts, allowPrivateNetworks: true });
}
after(() => closeFetchPool());

async function withSite(setup: (site: FixtureSite) => void, run: (site: FixtureSite) => Promise<void>) {
  const site = await startFixtureSite(setup);
  // Open the keep-alive connection first so the measured requests do not include connection setup.
  await localFetch(site.url('/warm-up'));
  try {
    await run(site);
  } finally {
    await site.stop();
  }
}

function polite(options: PolitenessOptions) {
  const politeness = new Politeness(options);
  return { politeness, fetch: politeFetch(politeness, localFetch) };
}

function startsOf(site: FixtureSite, prefix: string): number[] {
  return site.requests.filter((r) => r.path.startsWith(prefix)).map((r) => r.at);
}

const slowPages = (site: FixtureSite) =>
  site.routePrefix('/slow/', (_req, res) => {
    // Server-side latency so requests overlap; the test waits on responses, not on this timer.
    setTimeout(() => res.end('ok'), 100);
  });

const cfg = (overrides: Partial<PolitenessConfig>): PolitenessConfig => ({
  ...DEFAULT_POLITENESS,
  ...overrides,
});

describe('pure state transitions', () => {
  const config = cfg({ minDelayMs: 100, backoffStartMs: 1000, maxDelayMs: 5000, recoverAfterSuccesses: 3 });

  test('a start claims the slot; the next may start one gap after the actual start', () => {
    const a = reserveSlot(INITIAL_HOST_STATE, 1000, config);
    assert.deepEqual([a.waitMs, a.state.nextStartAt], [0, 1100]);
    const b = reserveSlot(a.state, 1040, config);
    assert.deepEqual([b.waitMs, b.state], [60, a.state], 'waiting does not book anything');
    const late = reserveSlot(a.state, 1107, config);
    assert.deepEqual([late.waitMs, late.state.nextStartAt], [0, 1207]);
  });

  test('Crawl-delay is a floor that also beats maxDelayMs', () => {
    const state = { ...INITIAL_HOST_STATE, floorMs: 8000 };
    assert.equal(reserveSlot(reserveSlot(state, 0, config).state, 1, config).waitMs, 7999);
    const low = { ...INITIAL_HOST_STATE, floorMs: 50 };
    assert.equal(reserveSlot(reserveSlot(low, 0, config).state, 1, config).waitMs, 99);
  });

  test('429/503 doubles the extra gap up to the cap and pauses the host', () => {
    const once = applyOutcome(INITIAL_HOST_STATE, { ok: false, statusCode: 429 }, 10_000, config);
    assert.equal(once.extraDelayMs, 1000);
    assert.equal(once.blockedUntil, 10_000 + 1100);
    const twice = applyOutcome(once, { ok: false, statusCode: 503 }, 20_000, config);
    assert.equal(twice.extraDelayMs, 2000);
    let s = twice;
    for (let i = 0; i < 5; i++) s = applyOutcome(s, { ok: false, statusCode: 429 }, 30_000, config);
    assert.equal(s.extraDelayMs, 5000);
    assert.equal(reserveSlot(s, 40_000, config).state.nextStartAt, 45_000);
    assert.equal(reserveSlot(s, 30_001, config).waitMs, 4999, 'paused for one capped gap');
  });

  test('Retry-After sets the pause, capped by maxRetryAfterMs', () => {
    const s = applyOutcome(
      INITIAL_HOST_STATE,
      { ok: false, statusCode: 429, retryAfterMs: 7000 },
      1000,
      config,
    );
    assert.equal(s.blockedUntil, 8000);
    assert.equal(reserveSlot(s, 2000, config).waitMs, 6000);
    const capped = applyOutcome(
      INITIAL_HOST_STATE,
      { ok: false, statusCode: 503, retryAfterMs: 86_400_000 },
      0,
      cfg({ maxRetryAfterMs: 60_000 }),
    );
    assert.equal(capped.blockedUntil, 60_000);
  });

  test('other failures neither back off nor count towards recovery', () => {
    const s = applyOutcome(INITIAL_HOST_STATE, { ok: false, statusCode: 500 }, 0, config);
    assert.equal(s.extraDelayMs, 0);
    assert.equal(s.blockedUntil, 0);
  });

  test('recovery halves the extra gap after a run of successes, then drops it', () => {
    let s = { ...INITIAL_HOST_STATE, extraDelayMs: 1000 };
    const ok = { ok: true, statusCode: 200 };
    s = applyOutcome(s, ok, 0, config);
    s = applyOutcome(s, { ok: true, statusCode: 404 }, 0, config);
    s = applyOutcome(s, { ok: false }, 0, config); // a timeout breaks the run
    assert.deepEqual([s.extraDelayMs, s.successStreak], [1000, 0]);
    for (let i = 0; i < 3; i++) s = applyOutcome(s, ok, 0, config);
    assert.deepEqual([s.extraDelayMs, s.successStreak], [500, 0]);
    for (let i = 0; i < 3; i++) s = applyOutcome(s, ok, 0, config);
    assert.equal(s.extraDelayMs, 250);
    for (let i = 0; i < 3; i++) s = applyOutcome(s, ok, 0, config);
    assert.equal(s.extraDelayMs, 0);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.UTC(1994, 10, 6, 8, 49, 7);

  test('delay-seconds', () => {
    assert.equal(parseRetryAfter('120', now), 120_000);
    assert.equal(parseRetryAfter(' 0 ', now), 0);
  });

  test('HTTP-date in all three RFC 9110 forms', () => {
    const tz = process.env.TZ;
    process.env.TZ = 'Australia/Sydney'; // so a date read as local time would be hours off
    try {
      assert.equal(parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', now), 30_000);
      assert.equal(parseRetryAfter('Sunday, 06-Nov-94 08:49:37 GMT', now), 30_000);
      assert.equal(parseRetryAfter('Sun Nov  6 08:49:37 1994', now), 30_000);
    } finally {
      if (tz === undefined) delete process.env.TZ;
      else process.env.TZ = tz;
    }
  });

  test('a date in the past means now; junk means absent', () => {
    assert.equal(parseRetryAfter('Sun, 06 Nov 1994 08:00:00 GMT', now), 0);
    for (const junk of [undefined, '', 'soon', '-5', '1.5', '12abc'])
      assert.equal(parseRetryAfter(junk, now), undefined);
  });
});

/**
 * Politeness on a fake clock in front of a fake host: `answer` decides each response, which takes `serviceMs` of
 * fake time. Returns the fake start time of every request, in start order, so gaps are exact.
 */
function onFakeClock(
  options: PolitenessOptions,
  answer: (path: string, at: number) => { status: number; headers?: Record<string, string> } = () => ({
    status: 200,
  }),
  serviceMs = 10,
) {
  const clock = new FakeClock();
  const politeness = new Politeness({ ...options, now: clock.now, sleep: clock.sleep });
  const starts: Array<{ path: string; at: number }> = [];
  const fetch = politeFetch(politeness, async (url) => {
    const path = new URL(url).pathname;
    const at = clock.now();
    starts.push({ path, at });
    await clock.sleep(serviceMs);
    const { status, headers = {} } = answer(path, at);
    return {
      statusCode: status,
      headers,
      finalUrl: url,
      timing: { total: serviceMs },
    } as unknown as FetchResult;
  });
  const host = 'fake.test';
  return { clock, politeness, fetch, starts, host, url: (path: string) => `http://${host}${path}` };
}

const gaps = (at: number[]) => at.slice(1).map((t, i) => t - at[i]!);

describe('Politeness on a fake clock', () => {
  test('request starts are minDelayMs apart', async () => {
    const { clock, fetch, starts, url } = onFakeClock({ perHostConcurrency: 4, minDelayMs: 150 });
    await clock.run(Promise.all(Array.from({ length: 6 }, (_, i) => fetch(url(`/p/${i}`)))));
    assert.deepEqual(gaps(starts.map((s) => s.at)), [150, 150, 150, 150, 150]);
  });

  test('a 429 with Retry-After (seconds) holds back every later start, even ones already waiting', async () => {
    const { clock, fetch, starts, url } = onFakeClock(
      { perHostConcurrency: 2, minDelayMs: 150, backoffStartMs: 10 },
      (path) => (path === '/ra/0' ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 }),
    );
    const results = await clock.run(Promise.all(Array.from({ length: 4 }, (_, i) => fetch(url(`/ra/${i}`)))));
    assert.equal(results[0]?.statusCode, 429);
    const [first, ...later] = starts;
    // The 429 came back 10 ms after /ra/0 started, before the next start slot: every other request waits.
    const answeredAt = first!.at + 10;
    for (const s of later) assert.ok(s.at >= answeredAt + 1000, `${s.path} ${s.at - answeredAt} ms after`);
    // One gap plus the first backoff step (backoffStartMs) apart.
    assert.deepEqual(gaps(later.map((s) => s.at)), [160, 160]);
  });

  test('a 503 with an HTTP-date Retry-After waits until that date', async () => {
    let retryAt = 0;
    const { clock, fetch, politeness, starts, url, host } = onFakeClock(
      { perHostConcurrency: 1, minDelayMs: 0 },
      (path, at) => {
        if (path !== '/date/1') return { status: 200 };
        retryAt = Math.ceil((at + 1500) / 1000) * 1000; // HTTP-dates have whole seconds
        return { status: 503, headers: { 'retry-after': new Date(retryAt).toUTCString() } };
      },
    );
    assert.equal((await clock.run(fetch(url('/date/1')))).statusCode, 503);
    assert.equal((await politeness.state(host)).blockedUntil, retryAt);
    assert.equal((await clock.run(fetch(url('/date/2')))).statusCode, 200);
    assert.equal(starts[1]!.at, retryAt);
  });

  test('backoff without Retry-After widens gaps until a run of successes halves it', async () => {
    const { clock, fetch, politeness, starts, url, host } = onFakeClock(
      { perHostConcurrency: 1, minDelayMs: 20, backoffStartMs: 200, recoverAfterSuccesses: 3 },
      (path) => ({ status: path === '/busy/1' ? 503 : 200 }),
    );
    for (let i = 1; i <= 4; i++) await clock.run(fetch(url(`/busy/${i}`)));
    assert.equal((await politeness.state(host)).extraDelayMs, 100);
    for (let i = 5; i <= 6; i++) await clock.run(fetch(url(`/busy/${i}`)));
    const at = starts.map((s) => s.at);
    // After the 503 (answered 10 ms after its start): a pause of one backed-off gap (20 + 200).
    assert.equal(at[1]! - (at[0]! + 10), 220);
    assert.equal(at[2]! - at[1]!, 220, 'backed-off gap between successes');
    // The third success halved the extra gap; /busy/5's slot was booked before that, /busy/6's after.
    assert.deepEqual([at[4]! - at[3]!, at[5]! - at[4]!], [220, 120], 'halved gap after recovery');
  });

  test('robots Crawl-delay is a floor above minDelayMs and maxDelayMs', async () => {
    const { clock, fetch, politeness, starts, url, host } = onFakeClock({
      perHostConcurrency: 4,
      minDelayMs: 0,
      maxDelayMs: 50,
    });
    await politeness.setCrawlDelay(host, 0.2);
    await clock.run(Promise.all(Array.from({ length: 4 }, (_, i) => fetch(url(`/cd/${i}`)))));
    assert.deepEqual(gaps(starts.map((s) => s.at)), [200, 200, 200]);
  });
});

describe('Politeness against a real server', () => {
  test('concurrent crawls never exceed the per-host concurrency', () =>
    withSite(slowPages, async (site) => {
      const { fetch } = polite({ perHostConcurrency: 3, minDelayMs: 0 });
      const results = await Promise.all(Array.from({ length: 12 }, (_, i) => fetch(site.url(`/slow/${i}`))));
      assert.ok(results.every((r) => r.statusCode === 200));
      assert.equal(startsOf(site, '/slow/').length, 12);
      assert.equal(site.maxInFlight, 3);
    }));

  test('disabled mode does not limit (the control for the test above)', () =>
    withSite(slowPages, async (site) => {
      const { fetch } = polite({ disabled: true, perHostConcurrency: 3 });
      await Promise.all(Array.from({ length: 12 }, (_, i) => fetch(site.url(`/slow/${i}`))));
      assert.ok(site.maxInFlight > 3, `maxInFlight ${site.maxInFlight}`);
    }));

  // The smoke test on the real clock. Nothing can start before its slot, so the second request, as the server saw
  // it, is at least one gap after the moment before the first was asked for: a bound that needs no slack.
  test('start gaps hold on the real clock, and the politeness wait is not part of the response time', () =>
    withSite(
      (s) => s.routePrefix('/t/', (_req, res) => res.end('ok')),
      async (site) => {
        const { fetch } = polite({ perHostConcurrency: 2, minDelayMs: 300 });
        const asked = Date.now();
        const [, second] = await Promise.all([fetch(site.url('/t/1')), fetch(site.url('/t/2'))]);
        const [, secondAt] = startsOf(site, '/t/').sort((a, b) => a - b);
        assert.ok(
          secondAt! >= asked + 300,
          `second start ${secondAt! - asked} ms after the first was asked for`,
        );
        assert.ok(second!.timing.total < 300, `total ${second!.timing.total} ms`);
      },
    ));
});

// Resolves 'got' if the promise settles within the current turn's microtasks, else 'blocked'. setImmediate runs
// only after every pending microtask, so this is an ordering check, not a timed wait.
function settledNow(p: Promise<unknown>): Promise<'got' | 'blocked'> {
  return Promise.race([
    p.then(() => 'got' as const),
    new Promise<'blocked'>((r) => setImmediate(() => r('blocked'))),
  ]);
}

describe('InMemoryHostStateStore slots', () => {
  test('an aborted waiter gives up its place without leaking a slot', async () => {
    const store = new InMemoryHostStateStore();
    await store.acquire('h', 1);
    const controller = new AbortController();
    const waiting = store.acquire('h', 1, controller.signal);
    controller.abort(new Error('stop'));
    await assert.rejects(waiting, /stop/);
    const next = store.acquire('h', 1);
    assert.equal(await settledNow(next), 'blocked');
    await store.release('h');
    assert.equal(await settledNow(next), 'got');
  });

  test('an abort while waiting for the start slot releases the concurrency slot', async () => {
    const store = new InMemoryHostStateStore();
    const politeness = new Politeness({ perHostConcurrency: 1, minDelayMs: 60_000, store });
    const first = await politeness.acquire('h');
    assert.equal(await settledNow(store.acquire('h', 1)), 'blocked');
    await first({ ok: true, statusCode: 200 }); // hands the slot to the blocked store.acquire above
    await store.release('h');
    const controller = new AbortController();
    const pending = politeness.acquire('h', controller.signal); // would wait a minute for its start slot
    controller.abort(new Error('shutdown'));
    await assert.rejects(pending, /shutdown/);
    assert.equal(await settledNow(store.acquire('h', 1)), 'got');
  });

  test('releasing twice frees one slot, not two', async () => {
    const politeness = new Politeness({ perHostConcurrency: 1, minDelayMs: 0 });
    const release = await politeness.acquire('h');
    await release();
    await release();
    await politeness.acquire('h');
    assert.equal(await settledNow(politeness.acquire('h')), 'blocked');
  });
});
