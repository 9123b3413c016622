import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileFilters, InvalidFilterError, validateFilterPattern } from '../../src/crawler/filters.ts';

const site = 'https://example.com';

function matches(pattern: string, path: string): boolean {
  return compileFilters({ include: [pattern] }).test(site + path).ok;
}

describe('compileFilters: globs', () => {
  const cases: Array<[pattern: string, path: string, expected: boolean]> = [
    ['/blog/**', '/blog', true],
    ['/blog/**', '/blog/', true],
    ['/blog/**', '/blog/2024/post', true],
    ['/blog/**', '/blog/post?page=2', true],
    ['/blog/**', '/blogs/post', false],
    ['/blog/**', '/en/blog/post', false],
    ['/blog/*', '/blog/post', true],
    ['/blog/*', '/blog/2024/post', false],
    ['/**/*.pdf', '/a.pdf', true],
    ['/**/*.pdf', '/docs/2024/a.pdf', true],
    ['/**/*.pdf', '/docs/a.pdf?download=1', true],
    ['/**/*.pdf', '/docs/a.pdfx', false],
    ['*.pdf', '/deep/down/file.pdf', true],
    ['*.pdf', '/file.html', false],
    ['/search?q=*', '/search?q=shoes', true],
    ['/search?q=*', '/search', false],
    ['/products/[0-9]*', '/products/42', true],
    ['/products/[0-9]*', '/products/shoe', false],
    ['/{en,fr}/**', '/fr/page', true],
    ['/{en,fr}/**', '/de/page', false],
    ['/.well-known/**', '/.well-known/security.txt', true],
    ['/', '/', true],
    ['/', '/a', false],
    ['/**', '/anything/at/all?x=1', true],
    ['/caf%C3%A9/**', '/caf%C3%A9/menu', true],
  ];
  for (const [pattern, path, expected] of cases) {
    it(`${pattern} ${expected ? 'matches' : 'does not match'} ${path}`, () => {
      assert.equal(matches(pattern, path), expected);
    });
  }

  it('ignores the host and the fragment', () => {
    const filter = compileFilters({ include: ['/a/**'] });
    assert.equal(filter.test('http://other.example:8080/a/b#frag').ok, true);
    assert.equal(filter.test('https://example.com').ok, false); // path "/"
  });

  it('accepts a bare path instead of a URL', () => {
    assert.equal(compileFilters({ include: ['/a/**'] }).test('/a/b').ok, true);
  });
});

describe('compileFilters: regexes', () => {
  const cases: Array<[pattern: string, path: string, expected: boolean]> = [
    ['/^\\/products\\/\\d+$/', '/products/42', true],
    ['/^\\/products\\/\\d+$/', '/products/42/reviews', false],
    ['/^\\/products\\/\\d+$/', '/products/42?color=red', false], // regexes see the query
    ['/^/products/\\d+(\\?|$)/', '/products/42?color=red', true], // `/` inside needs no escaping
    ['/blog/', '/en/blog-archive', true], // slash-wrapped is a regex, not a glob
    ['/[?&]sessionid=/', '/a?x=1&sessionid=abc', true],
    ['/(?:ab)+c/', '/ababc', true], // a non-capturing repeated group is fine
    ['/^\\/(?<lang>en|fr)\\//', '/en/x', true],
  ];
  for (const [pattern, path, expected] of cases) {
    it(`${pattern} ${expected ? 'matches' : 'does not match'} ${path}`, () => {
      assert.equal(matches(pattern, path), expected);
    });
  }
});

describe('compileFilters: include and exclude', () => {
  it('includes everything when there are no patterns', () => {
    assert.deepEqual(compileFilters({}).test(`${site}/x`), { ok: true });
    assert.deepEqual(compileFilters({ include: [], exclude: [] }).test(`${site}/x`), { ok: true });
  });

  it('reports not_included when no include matches', () => {
    const filter = compileFilters({ include: ['/blog/**', '/news/**'] });
    assert.deepEqual(filter.test(`${site}/news/1`), { ok: true });
    assert.deepEqual(filter.test(`${site}/shop/1`), { ok: false, reason: 'not_included' });
  });

  it('exclude wins over include and names the pattern', () => {
    const filter = compileFilters({ include: ['/blog/**'], exclude: ['/**/drafts/**', '/\\.pdf$/'] });
    assert.deepEqual(filter.test(`${site}/blog/post`), { ok: true });
    assert.deepEqual(filter.test(`${site}/blog/drafts/x`), {
      ok: false,
      reason: 'excluded',
      pattern: '/**/drafts/**',
    });
    assert.deepEqual(filter.test(`${site}/blog/a.pdf`), {
      ok: false,
      reason: 'excluded',
      pattern: '/\\.pdf$/',
    });
  });

  it('exclude alone leaves everything else included', () => {
    const filter = compileFilters({ exclude: ['/admin/**'] });
    assert.equal(filter.test(`${site}/admin/users`).ok, false);
    assert.equal(filter.test(`${site}/about`).ok, true);
  });
});

describe('compileFilters: invalid patterns', () => {
  const cases: Array<[pattern: string, reason: RegExp]> = [
    ['/products/(\\d+/', /not a valid regular expression/],
    ['/[a-/', /not a valid regular expression/],
    ['/(a+)+$/', /nested repetition/],
    ['/(.*a){2,}/', /nested repetition/],
    ['/((\\w+))*x/', /nested repetition/],
    ['//', /empty regular expression/],
    ['', /empty pattern/],
    ['   ', /empty pattern/],
    ['blog/**', /start with "\/"/],
    [`/${'a'.repeat(600)}`, /longer than 500/],
  ];
  for (const [pattern, reason] of cases) {
    it(`rejects ${JSON.stringify(pattern.slice(0, 30))}`, () => {
      assert.throws(
        () => compileFilters({ exclude: [pattern] }),
        (err: unknown) =>
          err instanceof InvalidFilterError &&
          err.pattern === pattern &&
          err.message.includes(JSON.stringify(pattern)) &&
          reason.test(err.message),
      );
      assert.match(validateFilterPattern(pattern) ?? '', reason);
    });
  }

  it('accepts bounded or optional repetition of a repeating group', () => {
    assert.equal(validateFilterPattern('/(a+)?b/'), undefined);
    assert.equal(validateFilterPattern('/(a+){1}b/'), undefined);
    assert.equal(validateFilterPattern('/[(a+)]+/'), undefined); // inside a class, parentheses are literal
    assert.equal(validateFilterPattern('/\\(a+\\)+/'), undefined); // escaped parentheses are literal
  });
});
