import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressGroup } from '../../src/auth/address-group.ts';
import { type DelayPolicy, LoginDelays } from '../../src/auth/login-delay.ts';

const policy: DelayPolicy = { freeAttempts: 2, baseMs: 100, maxMs: 350, forgetAfterMs: 1000 };

test('attempts past the free ones wait twice as long each time, up to the maximum', () => {
  let now = 0;
  const delays = new LoginDelays({ now: () => now, policy });
  assert.equal(delays.hit('k').allowed, true);
  assert.equal(delays.hit('k').allowed, true, 'the second (last free) attempt');
  assert.deepEqual(delays.hit('k'), { allowed: false, retryAfterMs: 100 });
  now = 60;
  assert.deepEqual(delays.hit('k'), { allowed: false, retryAfterMs: 40 }, 'a refusal does not extend it');
  const waits: number[] = [];
  for (let i = 0; i < 4; i++) {
    now += delays.hit('k').retryAfterMs;
    assert.equal(delays.hit('k').allowed, true);
    waits.push(delays.hit('k').retryAfterMs);
  }
  assert.deepEqual(waits, [200, 350, 350, 350]);
  assert.equal(delays.hit('other').allowed, true, 'keys are independent');
});

test('reset clears a key; a key idle for forgetAfterMs starts afresh', () => {
  let now = 0;
  const delays = new LoginDelays({ now: () => now, policy });
  delays.hit('a');
  delays.hit('a');
  assert.equal(delays.hit('a').allowed, false);
  delays.reset('a');
  assert.equal(delays.hit('a').allowed, true);
  assert.equal(delays.hit('a').allowed, true);
  assert.equal(delays.hit('a').allowed, false);
  now = 1000;
  assert.equal(delays.hit('b').allowed, true);
  assert.equal(delays.size, 1, 'a was forgotten');
  assert.equal(delays.hit('a').allowed, true);
});

test('when full, keys that delay someone are evicted last: fresh keys cannot wipe a delay', () => {
  const delays = new LoginDelays({ now: () => 0, policy, maxKeys: 3 });
  delays.hit('guessed');
  delays.hit('guessed');
  assert.equal(delays.hit('guessed').allowed, false);
  for (let i = 0; i < 100; i++) delays.hit(`flood-${i}`);
  assert.equal(delays.size, 3);
  assert.equal(delays.hit('guessed').allowed, false, 'still waiting');
  // Only when every entry delays someone does the oldest of them go.
  for (const key of ['x', 'y']) {
    delays.hit(key);
    delays.hit(key);
  }
  delays.hit('z');
  assert.equal(delays.hit('guessed').allowed, true, 'evicted as the oldest delaying entry');
});

test('addresses are grouped: IPv6 by /64, IPv4-mapped IPv6 as IPv4, anything else as given', () => {
  assert.equal(addressGroup('2001:db8:1:2::1'), '2001:db8:1:2::/64');
  assert.equal(addressGroup('2001:0db8:0001:0002:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
  assert.notEqual(addressGroup('2001:db8:1:3::1'), addressGroup('2001:db8:1:2::1'));
  assert.equal(addressGroup('::ffff:203.0.113.9'), '203.0.113.9');
  assert.equal(addressGroup('203.0.113.9'), '203.0.113.9');
  assert.equal(addressGroup('::1'), '0:0:0:0::/64');
  assert.equal(addressGroup('local'), 'local');
});
