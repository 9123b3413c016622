// The crawl options every worker pool under test uses against the loopback fixture site.
import type { CrawlOptions } from '../../src/crawler/crawl-context.ts';
import { fixtureResolver } from '../support/fixture-routes.ts';

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
