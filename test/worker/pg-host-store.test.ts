// The SQL politeness transitions mirror the pure TypeScript ones: the same inputs give the same state.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  applyOutcome,
  DEFAULT_POLITENESS,
  type HostState,
  INITIAL_HOST_STATE,
  type PolitenessConfig,
  type PolitenessOutcome,
  reserveSlot,
} from '../../src/crawler/politeness.ts';
import { PgHostStateStore } from '../../src/worker/pg-host-store.ts';
import { testDatabase } from '../support/db.ts';

const T = 1_750_000_000_000;
const config: PolitenessConfig = {
  ...DEFAULT_POLITENESS,
  minDelayMs: 100,
  maxDelayMs: 5_000,
  backoffStartMs: 1_000,
  recoverAfterSuccesses: 3,
  maxRetryAfterMs: 20_000,
};

type Step = { reserve: number } | { outcome: PolitenessOutcome; at: number } | { floor: number };

// Each scenario is a sequence of steps on one host; after every step both implementations must agree.
const scenarios: Record<string, Step[]> = {
  'slots at the gap, waits in between': [
    { reserve: T },
    { reserve: T + 50 },
    { reserve: T + 100 },
    { reserve: T + 150 },
  ],
  '429 without Retry-After backs off and blocks one gap': [
    { reserve: T },
    { outcome: { ok: false, statusCode: 429 }, at: T + 10 },
    { reserve: T + 20 },
    { reserve: T + 1_110 },
    { outcome: { ok: false, statusCode: 503 }, at: T + 1_200 },
    { outcome: { ok: false, statusCode: 429 }, at: T + 1_300 },
  ],
  'Retry-After is honoured and capped': [
    { outcome: { ok: false, statusCode: 429, retryAfterMs: 7_000 }, at: T },
    { reserve: T + 6_999 },
    { reserve: T + 7_000 },
    { outcome: { ok: false, statusCode: 503, retryAfterMs: 999_999 }, at: T + 8_000 },
    { reserve: T + 27_999 },
    { outcome: { ok: false, statusCode: 429, retryAfterMs: -5 }, at: T + 30_000 },
  ],
  'successes recover the backoff slowly, failures reset the streak': [
    { outcome: { ok: false, statusCode: 429 }, at: T },
    { outcome: { ok: false, statusCode: 429 }, at: T + 1 },
    { outcome: { ok: true, statusCode: 200 }, at: T + 2 },
    { outcome: { ok: false }, at: T + 3 },
    { outcome: { ok: true, statusCode: 200 }, at: T + 4 },
    { outcome: { ok: true, statusCode: 200 }, at: T + 5 },
    { outcome: { ok: true, statusCode: 200 }, at: T + 6 },
    { outcome: { ok: true, statusCode: 200 }, at: T + 7 },
    { outcome: { ok: true, statusCode: 200 }, at: T + 8 },
    { outcome: { ok: true, statusCode: 200 }, at: T + 9 },
    { outcome: { ok: true, statusCode: 404 }, at: T + 10 },
  ],
  'a Crawl-delay floor beats the cap': [
    { floor: 9_000 },
    { reserve: T },
    { reserve: T + 8_999 },
    { outcome: { ok: false, statusCode: 429 }, at: T + 9_000 },
    { reserve: T + 18_000 },
  ],
  'backoff doubles up to maxDelayMs': Array.from({ length: 5 }, (_, i) => ({
    outcome: { ok: false, statusCode: 503 },
    at: T + i,
  })),
};

test('host_politeness transitions equal the pure functions, step by step', async () => {
  const db = await testDatabase();
  const store = new PgHostStateStore(db.sql, { clock: 'caller' });
  for (const [name, steps] of Object.entries(scenarios)) {
    const host = `${name.replace(/[^a-z]+/gi, '-').toLowerCase()}.test`;
    let expected: HostState = { ...INITIAL_HOST_STATE };
    for (const [i, step] of steps.entries()) {
      const where = `${name}, step ${i + 1}`;
      if ('reserve' in step) {
        const pure = reserveSlot(expected, step.reserve, config);
        expected = pure.state;
        assert.deepEqual(await store.reserve(host, step.reserve, config), { waitMs: pure.waitMs }, where);
      } else if ('floor' in step) {
        expected = { ...expected, floorMs: step.floor };
        await store.setFloor(host, step.floor);
      } else {
        expected = applyOutcome(expected, step.outcome, step.at, config);
        await store.record(host, step.outcome, step.at, config);
      }
      assert.deepEqual(await store.get(host), expected, where);
    }
  }
});

test('of many workers asking at once, exactly one gets the slot', async () => {
  const db = await testDatabase();
  const stores = Array.from({ length: 8 }, () => new PgHostStateStore(db.connect(1), { clock: 'caller' }));
  const answers = await Promise.all(stores.map((s) => s.reserve('race.test', T, config)));
  assert.equal(answers.filter((a) => a.waitMs === 0).length, 1);
  assert.ok(answers.filter((a) => a.waitMs > 0).every((a) => a.waitMs === config.minDelayMs));
});

test('the politeness functions are closed to anon and authenticated', async () => {
  const db = await testDatabase();
  const rows = await db.sql<{ role: string; fn: string; allowed: boolean }[]>`
    select r.role, p.oid::regprocedure::text as fn, has_function_privilege(r.role, p.oid, 'execute') as allowed
    from pg_proc p cross join (values ('anon'), ('authenticated')) r(role)
    where p.pronamespace = 'public'::regnamespace and (p.proname like 'politeness%' or p.proname like '%host_politeness')`;
  assert.ok(rows.length >= 12);
  assert.deepEqual(
    rows.filter((r) => r.allowed),
    [],
  );
  const [rls] = await db.sql<{ on: boolean }[]>`
    select relrowsecurity as on from pg_class where oid = 'public.host_politeness'::regclass`;
  assert.equal(rls?.on, true);
});
