import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RateLimiter } from '../../src/auth/rate-limit.ts';

test('at most `limit` hits per key per window, counted separately per key', () => {
  let now = 0;
  const limiter = new RateLimiter({ limit: 2, windowMs: 1000, now: () => now });
  assert.equal(limiter.hit('a').allowed, true);
  assert.equal(limiter.hit('a').allowed, true);
  now = 400;
  assert.deepEqual(limiter.hit('a'), { allowed: false, retryAfterMs: 600 });
  assert.equal(limiter.hit('b').allowed, true);
  now = 1000;
  assert.equal(limiter.hit('a').allowed, true, 'a new window');
});

test('memory stays bounded: expired windows are dropped, and the oldest goes when full', () => {
  let now = 0;
  const limiter = new RateLimiter({ limit: 1, windowMs: 1000, now: () => now, maxKeys: 3 });
  for (const key of ['a', 'b', 'c']) limiter.hit(key);
  assert.equal(limiter.size, 3);
  now = 10;
  limiter.hit('d');
  assert.equal(limiter.size, 3, 'a was evicted to make room');
  assert.equal(limiter.hit('a').allowed, true, 'evicted keys start over');
  assert.equal(limiter.hit('c').allowed, false);
  now = 5000;
  limiter.hit('e');
  assert.equal(limiter.size, 1, 'every expired window was dropped');
});
