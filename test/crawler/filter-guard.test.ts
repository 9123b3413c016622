// The guard that stops a job's filter once its matches prove too slow: on a clock the test moves, so "slow" is
// exact and a loaded machine cannot make it flaky.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FilterGuardDefaults, FiltersTooSlowError, guardFilter } from '../../src/crawler/filter-guard.ts';
import type { FilterResult, UrlFilter } from '../../src/crawler/filters.ts';
import { FakeClock } from '../support/fake-clock.ts';

/** A filter whose every match takes `ms` on `clock`, counting its calls. */
function takes(clock: FakeClock, ms: () => number): UrlFilter & { calls: number } {
  const filter = {
    calls: 0,
    test(_url: string): FilterResult {
      filter.calls++;
      clock.advance(ms());
      return { ok: true };
    },
  };
  return filter;
}

test('everyday matches, even many just under the slow mark, never stop the filter', () => {
  const clock = new FakeClock();
  const inner = takes(clock, () => FilterGuardDefaults.slowMatchMs - 1);
  const guarded = guardFilter(inner, FilterGuardDefaults, clock.now);
  for (let i = 0; i < 10_000; i++) assert.deepEqual(guarded.test(`https://a.test/${i}`), { ok: true });
  assert.equal(guarded.stoppedBy, undefined);
  assert.equal(inner.calls, 10_000);
});

test('slow matches add up; past the budget the filter stops, admits nothing and says why', () => {
  const clock = new FakeClock();
  const inner = takes(clock, () => 120);
  const guarded = guardFilter(inner, FilterGuardDefaults, clock.now);
  // 120 ms, then 240 ms in all: over the 200 ms budget on the second URL, whose own verdict still stands.
  assert.deepEqual(guarded.test('https://a.test/1'), { ok: true });
  assert.equal(guarded.stoppedBy, undefined);
  assert.deepEqual(guarded.test('https://a.test/2'), { ok: true });
  const stopped: unknown = guarded.stoppedBy;
  assert.ok(stopped instanceof FiltersTooSlowError);
  assert.match(stopped.message, /took up to 120 ms to match one URL \(240 ms in all\).*simpler patterns/);
  // From now on nothing is matched at all: the slow patterns never run again.
  assert.deepEqual(guarded.test('https://a.test/3'), { ok: false, reason: 'filters_too_slow' });
  assert.equal(inner.calls, 2);
});

test('fast matches between slow ones do not reset what the slow ones spent', () => {
  const clock = new FakeClock();
  let n = 0;
  const inner = takes(clock, () => (n++ % 100 === 0 ? 50 : 0));
  const guarded = guardFilter(inner, FilterGuardDefaults, clock.now);
  for (let i = 0; i < 500 && !guarded.stoppedBy; i++) guarded.test(`https://a.test/${i}`);
  assert.ok(guarded.stoppedBy, 'five slow matches of 50 ms among fast ones pass the 200 ms budget');
  assert.equal(inner.calls, 401);
});
