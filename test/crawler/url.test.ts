import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PermanentCrawlError } from '../../src/crawler/errors.ts';
import {
  isSameSite,
  MAX_URL_LENGTH,
  normaliseUrl,
  siteKey,
  siteKeyOfNormalised,
  tryNormaliseUrl,
} from '../../src/crawler/url.ts';

describe('normaliseUrl', () => {
  const cases: Array<[name: string, input: string, expected: string]> = [
    [
      'lowercases scheme and host, keeps path case',
      'HTTPS://Example.COM/About/Us',
      'https://example.com/About/Us',
    ],
    ['drops port 80 on http', 'http://example.com:80/a', 'http://example.com/a'],
    ['drops port 443 on https', 'https://example.com:443/a', 'https://example.com/a'],
    ['keeps a non-default port', 'https://example.com:8443/a', 'https://example.com:8443/a'],
    ['keeps 443 on http (not its default)', 'http://example.com:443/', 'http://example.com:443/'],
    ['resolves dot segments', 'http://example.com/a/./b/../c', 'http://example.com/a/c'],
    ['resolves encoded dot segments', 'http://example.com/a/%2e%2E/c', 'http://example.com/c'],
    ['cannot climb above the root', 'http://example.com/../../x', 'http://example.com/x'],
    ['empty path becomes /', 'http://example.com', 'http://example.com/'],
    ['keeps a trailing slash', 'http://example.com/blog/', 'http://example.com/blog/'],
    ['decodes unreserved escapes', 'http://example.com/%7euser/%41%2d%5F', 'http://example.com/~user/A-_'],
    [
      'uppercases reserved escapes without decoding',
      'http://example.com/a%2fb%3a',
      'http://example.com/a%2Fb%3A',
    ],
    ['uppercases escapes in the query', 'http://example.com/?q=a%2fb%7e', 'http://example.com/?q=a%2Fb~'],
    ['encodes a space', 'http://example.com/a b', 'http://example.com/a%20b'],
    [
      'encodes characters RFC 3986 forbids raw',
      'http://example.com/a|b?x[]=^',
      'http://example.com/a%7Cb?x%5B%5D=%5E',
    ],
    ['leaves a broken escape alone', 'http://example.com/100%zz', 'http://example.com/100%zz'],
    ['encodes non-ASCII path as UTF-8', 'http://example.com/café', 'http://example.com/caf%C3%A9'],
    ['strips the fragment', 'http://example.com/a#section-2', 'http://example.com/a'],
    ['drops an empty query', 'http://example.com/a?', 'http://example.com/a'],
    ['drops an empty query with a fragment', 'http://example.com/a?#x', 'http://example.com/a'],
    ['drops empty pairs', 'http://example.com/?a=1&&b=2&', 'http://example.com/?a=1&b=2'],
    [
      'keeps parameter order (no sorting)',
      'http://example.com/?b=2&a=1&b=3',
      'http://example.com/?b=2&a=1&b=3',
    ],
    ['keeps + and %20 distinct', 'http://example.com/?q=a+b&r=a%20b', 'http://example.com/?q=a+b&r=a%20b'],
    [
      'strips utm_* and click ids',
      'http://example.com/p?utm_source=x&id=7&utm_medium=y&gclid=1&fbclid=2&msclkid=3&mc_cid=4&mc_eid=5',
      'http://example.com/p?id=7',
    ],
    ['strips a query made only of tracking', 'http://example.com/p?utm_campaign=z', 'http://example.com/p'],
    [
      'tracking names match case-sensitively',
      'http://example.com/?UTM_SOURCE=x',
      'http://example.com/?UTM_SOURCE=x',
    ],
    [
      'does not strip look-alike names',
      'http://example.com/?utmost=1&xgclid=2',
      'http://example.com/?utmost=1&xgclid=2',
    ],
    ['IDN host to punycode', 'http://Bücher.example/', 'http://xn--bcher-kva.example/'],
    [
      'IPv6 host compressed and bracketed',
      'http://[2001:DB8:0:0:0:0:0:1]:8080/x',
      'http://[2001:db8::1]:8080/x',
    ],
    ['IPv4 host', 'http://127.0.0.1:3000', 'http://127.0.0.1:3000/'],
    ['trims surrounding whitespace', '  http://example.com/a \n', 'http://example.com/a'],
    ['backslashes are slashes in http URLs', 'http://example.com\\a\\b', 'http://example.com/a/b'],
  ];
  for (const [name, input, expected] of cases) {
    it(name, () => assert.equal(normaliseUrl(input), expected));
  }

  it('is idempotent', () => {
    for (const [, input] of cases) {
      const once = normaliseUrl(input);
      assert.equal(normaliseUrl(once), once, input);
    }
  });

  it('resolves relative references against a base', () => {
    assert.equal(normaliseUrl('../c?x=1', 'http://example.com/a/b/page'), 'http://example.com/a/c?x=1');
    assert.equal(normaliseUrl('//cdn.example.com/x', 'https://example.com/'), 'https://cdn.example.com/x');
    assert.equal(normaliseUrl('?p=2', 'http://example.com/list?p=1'), 'http://example.com/list?p=2');
  });

  it('keepQuery: false drops the whole query', () => {
    assert.equal(
      normaliseUrl('http://example.com/a?x=1&y=2#f', undefined, { keepQuery: false }),
      'http://example.com/a',
    );
  });

  const invalid: Array<[name: string, input: string, base: string | undefined, reason: RegExp]> = [
    ['scheme without host', 'http://', undefined, /malformed URL/],
    ['bad scheme characters', 'ht!tp://x', undefined, /relative URL without a base/],
    ['javascript:', 'javascript:alert(1)', undefined, /unsupported scheme "javascript"/],
    ['mailto:', 'mailto:a@example.com', undefined, /unsupported scheme "mailto"/],
    ['ftp:', 'ftp://example.com/file', undefined, /unsupported scheme "ftp"/],
    ['scheme-relative without a base', '//no-scheme.example/x', undefined, /relative URL without a base/],
    ['path without a base', '/about', undefined, /relative URL without a base/],
    ['empty string', '', undefined, /empty URL/],
    ['whitespace only', '   ', undefined, /empty URL/],
    ['invalid base', 'x', 'not a url', /invalid base URL/],
    ['space in host', 'http://exa mple.com/', undefined, /malformed URL/],
    ['out-of-range IPv4', 'http://256.1.1.1/', undefined, /malformed URL/],
    ['credentials', 'https://user:secret@example.com/', undefined, /credentials/],
    [
      'over the length limit',
      `http://example.com/${'a'.repeat(MAX_URL_LENGTH)}`,
      undefined,
      /longer than 2048/,
    ],
    ['huge input', `http://example.com/${'a'.repeat(100_000)}`, undefined, /longer than 2048/],
  ];
  for (const [name, input, base, reason] of invalid) {
    it(`rejects ${name}`, () => {
      const result = tryNormaliseUrl(input, base);
      assert.equal(result.ok, false);
      assert.match((result as { reason: string }).reason, reason);
      assert.throws(
        () => normaliseUrl(input, base),
        (err: unknown) =>
          err instanceof PermanentCrawlError && err.code === 'invalid_url' && reason.test(err.message),
      );
    });
  }

  it('accepts a URL of exactly the limit, and measures after normalisation', () => {
    const prefix = 'http://example.com/';
    const exact = prefix + 'a'.repeat(MAX_URL_LENGTH - prefix.length);
    assert.equal(normaliseUrl(exact).length, MAX_URL_LENGTH);
    // Tracking junk pushes the raw form over the limit but is gone from the normalised one.
    assert.equal(normaliseUrl(`${exact.slice(0, 100)}?utm_x=${'z'.repeat(3000)}`), exact.slice(0, 100));
  });

  it('tryNormaliseUrl returns the URL on success', () => {
    assert.deepEqual(tryNormaliseUrl('HTTP://A.com'), { ok: true, url: 'http://a.com/' });
  });
});

describe('isSameSite', () => {
  const cases: Array<[a: string, b: string, same: boolean]> = [
    ['https://example.com/a', 'https://example.com/b?x', true],
    ['https://www.example.com/', 'https://example.com/x', true],
    ['https://example.com/', 'https://WWW.Example.com/', true],
    ['https://example.com/', 'https://example.com:443/', true],
    ['http://example.com/', 'https://example.com/', false],
    ['https://example.com/', 'https://example.com:8443/', false],
    ['https://blog.example.com/', 'https://example.com/', false],
    ['https://www.blog.example.com/', 'https://blog.example.com/', true],
    ['https://example.com/', 'https://example.org/', false],
    ['https://wwwexample.com/', 'https://example.com/', false],
    ['https://example.com/', 'not a url', false],
    ['mailto:x@example.com', 'mailto:x@example.com', false],
  ];
  for (const [a, b, same] of cases) {
    it(`${a} vs ${b} → ${same}`, () => {
      assert.equal(isSameSite(a, b), same);
      assert.equal(isSameSite(b, a), same);
    });
  }
});

describe('siteKey', () => {
  it('drops www and the default port', () => {
    assert.equal(siteKey('https://www.example.com:443/x'), 'https://example.com');
    assert.equal(siteKey('http://example.com:8080/'), 'http://example.com:8080');
    assert.equal(siteKey('nope'), undefined);
  });

  it('siteKeyOfNormalised agrees with siteKey on normalised URLs', () => {
    for (const url of [
      'https://www.example.com/a?b',
      'http://[::1]:8080/',
      'http://xn--bcher-kva.example/',
      'http://a.com',
    ]) {
      assert.equal(siteKeyOfNormalised(normaliseUrl(url)), siteKey(url), url);
    }
  });
});
