// Shared by the worker tests: waiting on a condition with a bounded deadline (never a bare sleep), and the
// crawl options every pool under test uses against the loopback fixture site.

import { after } from 'node:test';
import type { CrawlOptions } from '../../src/crawler/crawl-context.ts';
import { connect, type Sql } from '../../src/db/client.ts';
import { fixtureResolver } from '../support/fixture-routes.ts';

/** Polls `check` until it returns a truthy value, or fails the test after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 20 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export function testCrawlOptions(overrides: CrawlOptions = {}): CrawlOptions {
  return {
    allowPrivateNetworks: true,
    resolver: fixtureResolver,
    headersTimeoutMs: 5_000,
    bodyTimeoutMs: 5_000,
    totalTimeoutMs: 10_000,
    warmBaseDelayMs: 2,
    ...overrides,
    politeness: { minDelayMs: 0, ...overrides.politeness },
  };
}

/** A pool for a worker under test, as connect() makes it, ended with the test file. */
export function workerSql(url: string, max = 4): Sql {
  const sql = connect(url, { max });
  after(() => sql.end({ timeout: 5 }));
  return sql;
}
