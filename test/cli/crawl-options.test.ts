import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CrawlFlags, checkCrawlFlags, integerArg } from '../../src/cli/crawl-options.ts';
import { UsageError } from '../../src/cli/errors.ts';

const flags = (extra: Partial<CrawlFlags> = {}): CrawlFlags => ({
  sitemap: true,
  links: true,
  format: 'table',
  ...extra,
});

test('valid flags become job options with source cli and the site root', () => {
  const options = checkCrawlFlags('example.com/blog', flags({ maxPages: 10, exclude: ['/tag/**'] }));
  assert.equal(options.rootUrl, 'https://example.com/');
  assert.equal(options.source, 'cli');
  assert.equal(options.maxPages, 10);
  assert.deepEqual(options.exclude, ['/tag/**']);
});

test('bad values name the flag to fix', () => {
  assert.throws(
    () => checkCrawlFlags('https://example.com', flags({ maxPages: 0 })),
    (err: Error) => {
      assert.ok(err instanceof UsageError);
      assert.match(err.message, /--max-pages: .*at least 1/);
      return true;
    },
  );
  assert.throws(
    () => checkCrawlFlags('https://example.com', flags({ concurrency: 500 })),
    /--concurrency: concurrency above 200/,
  );
  assert.throws(() => checkCrawlFlags('not a url', flags()), /<url>: /);
  assert.throws(
    () => checkCrawlFlags('https://example.com', flags({ timeout: 0 })),
    /--timeout: .*at least 1/,
  );
});

test('integer flags reject non-numbers before anything runs', () => {
  assert.equal(integerArg('25'), 25);
  assert.equal(integerArg('0'), 0);
  assert.throws(() => integerArg('ten'), /whole number/);
  assert.throws(() => integerArg('1.5'), /whole number/);
});
