import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  compileFilters,
  InvalidFilterError,
  tryCompileFilters,
  validateFilterPattern,
} from '../../src/crawler/filters.ts';
import { JobOptionLimits } from '../../src/queue/job-options.ts';

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

// Tenants write the patterns and serve the URLs they are matched against, so matching must take time linear in
// the URL whatever the pattern (docs/url-filters.md#the-engine). Never timed here: bench/filters.ts measures.
describe('compileFilters: linear-time matching', () => {
  it('never runs a backtracking RegExp while matching', () => {
    const filter = compileFilters({
      include: ['/blog/**', '*.pdf', '/^\\/(a|a)+$/', '/[?&]page=\\d+/'],
      exclude: ['/**/drafts/**', '/\\.(png|gif)$/'],
    });
    const exec = RegExp.prototype.exec;
    let calls = 0;
    RegExp.prototype.exec = function (this: RegExp, text: string) {
      calls++;
      return exec.call(this, text);
    };
    let verdicts: boolean[];
    try {
      verdicts = [
        '/blog/a',
        '/d/a.pdf?x=1',
        '/aaaa',
        '/list?page=2',
        '/blog/drafts/x',
        '/i.png',
        '/other',
      ].map((path) => filter.test(site + path).ok);
    } finally {
      RegExp.prototype.exec = exec;
    }
    assert.deepEqual(verdicts, [true, true, true, true, false, false, false]);
    assert.equal(calls, 0);
  });

  // The three shapes of the security finding; with a backtracking engine each of these calls runs for longer
  // than anyone waits (2^27 steps for 27 characters of the first).
  const hostile = 'a'.repeat(2000);
  const shapes: Array<[pattern: string, path: string, expected: boolean]> = [
    ['/^\\/(a|a)+$/', `/${hostile}!`, false],
    ['/^\\/(a|a)+$/', `/${hostile}`, true],
    ['/.*.*.*.*.*x/', `/${hostile}`, false],
    ['/.*.*.*.*.*x/', `/${hostile}x`, true],
    ['*a*a*a*a*a*a*b', `/${hostile}`, false],
    ['*a*a*a*a*a*a*b', `/${hostile}b`, true],
    ['/x/*a*a*a*a*a*a*b', `/x/${hostile}`, false],
  ];
  for (const [pattern, path, expected] of shapes) {
    it(`${pattern} on a ${path.length}-character path answers ${expected}`, () => {
      assert.equal(matches(pattern, path), expected);
    });
  }
});

describe('compileFilters: what the linear-time engine cannot run is refused, saying what to write', () => {
  const cases: Array<[pattern: string, reason: RegExp]> = [
    ['/(?=a)b/', /lookahead \(\?=…\) cannot run in linear time.*exclude/],
    ['/^\\/(?!admin)/', /lookahead \(\?!…\) cannot run in linear time.*exclude/],
    ['/(?<=a)b/', /lookbehind \(\?<=…\) cannot run in linear time/],
    ['/(?<!a)b/', /lookbehind \(\?<!…\) cannot run in linear time/],
    ['/(a)\\1/', /backreferences .* cannot run in linear time; spell out the repeated text/],
    ['/(?<x>a)\\k<x>/', /backreferences/],
    ['/a{1001}/', /more than 1000 steps.*use \+ or \*/],
    ['/[0-9]{400}-[0-9]{400}-[0-9]{400}/', /more than 1000 steps/],
    ['/\u{1F41D}/', /percent-encoded/],
    ['/x/@(a|b)', /extglobs.*use \{a,b\}/],
    ['/x/(a|b)', /parentheses.*\\\( and \\\)/],
    ['!*.pdf', /leading "!".*exclude/],
    ['/x/[!a]', /write \[\^…\]/],
    ['/x/[[:alpha:]]', /POSIX classes/],
    ['/x/{1..3}', /\{1,2,3,4,5\}/],
    ['/x{a,b', /no closing "}"/],
    ['/x\\', /lone "\\"/],
    ['/x/[z-a]', /backwards/],
    ['/x/{a,b}{c,d}{e,f}{g,h}{i,j}{k,l}', /more than 32 globs/],
    ['/a{1,600}/', /would compile to more than 1000 steps/], // x{1,n} is n copies and n - 1 optional steps
    [`/${'**/a/'.repeat(60)}x`, /more than the 1000 allowed/],
  ];
  for (const [pattern, reason] of cases) {
    it(`refuses ${JSON.stringify(pattern.slice(0, 40))}`, () => {
      assert.throws(
        () => compileFilters({ include: [pattern] }),
        (err: unknown) =>
          err instanceof InvalidFilterError &&
          err.pattern === pattern &&
          err.message.includes(JSON.stringify(pattern)) &&
          reason.test(err.message),
      );
    });
  }

  it('accepts what used to look dangerous but runs in linear time', () => {
    for (const pattern of [
      '/^\\/(a|a)+$/',
      '/.*.*.*.*.*x/',
      '/(a|ab)+c/',
      '/[0-9a-f]{32}/',
      '/\\d{1,100}/',
    ]) {
      assert.equal(validateFilterPattern(pattern), undefined, pattern);
    }
  });
});

describe('compileFilters: a regex means what it means in JavaScript', () => {
  // Constructs whose RE2 spelling differs from JavaScript's; each must answer as V8's RegExp does.
  const sources = [
    '[^]',
    '[]',
    '^.$',
    '\\s',
    '[\\s\\d]',
    '[^\\s]',
    '\\S',
    '\\w\\b',
    '\\B',
    'a{,3}',
    'a{',
    ']',
    '\\q',
    '\\p{L}',
    '\\cJ',
    '\\u0041',
    '\\x41',
    '[\\b]',
    '[\\w-]',
    '\\0',
    'a|',
    '(?:)',
    '\\/',
    'a{2,}?b',
  ];
  const texts = [
    '',
    'a',
    'a{,3}',
    'aaa b',
    'a\u00a0b',
    'a\rb',
    'a\nb',
    'a\u2028b',
    '\v',
    'q',
    'p{L}',
    'pL',
    '\n',
    'A',
    '\b',
    '-',
    '\0',
    '/',
    'aab',
    ']',
    'a{',
    'x_y',
    'é',
  ];
  for (const source of sources) {
    it(`/${source}/`, () => {
      const filter = compileFilters({ include: [`/${source}/`] });
      const js = new RegExp(source);
      for (const text of texts)
        assert.equal(filter.test(`/${text}`).ok, js.test(`/${text}`), JSON.stringify(text));
    });
  }
});

describe('compileFilters: glob details', () => {
  // picomatch's behaviour (dot: true) where it is not obvious; the engine is new, the answers are not.
  const cases: Array<[pattern: string, path: string, expected: boolean]> = [
    ['/blog/*', '/blog/post/', true], // a trailing `*` or class also takes one trailing slash
    ['/blog/*', '/blog/', false], // a lone `*` at the end is never empty
    ['/blog/x', '/blog/x/', false],
    ['/products/[0-9]*', '/products/42/', true],
    ['/a/*/b', '/a//b', true],
    ['/a/**/b', '/a/b', true], // `**` is zero or more segments
    ['/a/**/b', '/a/x/y/b', true],
    ['/blog/**', '/blog/a//b', true],
    ['/blog/*', '/blog/..', false], // `*` and `**` never match `.` or `..`
    ['/blog/**', '/blog/a/../b', false],
    ['/blog/*', '/blog/.hidden', true], // dotfiles are ordinary
    ['/x/[^b]', '/x/a', true],
    ['/x/[^b]', '/x//', false], // a negated class stays within a segment
    ['/x/[a-]', '/x/-', true],
    ['/x/[]]', '/x/]', true],
    ['/x{a}', '/x{a}', true], // a brace without a comma is text
    ['/x{a}', '/xa', false],
    ['/{a,b/{c,d}}', '/b/d', true],
    ['/a/{,x}', '/a/', true],
    ['*.{jpg,png}', '/img/a.png', true],
    ['/x\\{a,b}', '/x{a,b}', true],
    ['/x\\?', '/x?', true],
    ['/x\\?', '/xa', false],
    ['/a|b', '/a|b', true], // `|`, `+`, `@`, `$`, `^`, `.` are text in a glob
    ['/a+b@c$d^e.f', '/a+b@c$d^e.f', true],
    ['/a.b', '/axb', false],
    ['/**', '/', true],
    ['/blog/**', '/blog/..x/...', true], // only `.` and `..` themselves are refused
    ['/blog/**', '/blog/a./.b', true],
    ['/blog/**', '/blog/x/.', false],
    ['/**/x', '/./x', false],
    ['/a/*/b', '/a/../b', false],
    ['/a/*/b', '/a/.../b', true],
  ];
  for (const [pattern, path, expected] of cases) {
    it(`${pattern} ${expected ? 'matches' : 'does not match'} ${path}`, () => {
      assert.equal(matches(pattern, path), expected);
    });
  }
});

// Compiling runs on the API's event loop when a job is submitted, so what a job's patterns may cost to compile
// is bounded as a whole (JobOptionLimits.patterns.maxTotalSize), not only pattern by pattern.
describe('tryCompileFilters: the job budget', () => {
  const { maxTotalSize } = JobOptionLimits.patterns;
  // About 900 steps each: allowed alone, and a dozen of them together pass a budget of 10,000.
  const big = (count: number) => Array.from({ length: count }, (_, i) => `/x${i}[0-9]{900}/`);
  const overBudget = Math.ceil(maxTotalSize / 900) + 1;

  it('counts every pattern: its length, its translation and its steps', () => {
    const one = tryCompileFilters({ include: ['/blog/**'] });
    const two = tryCompileFilters({ include: ['/blog/**'], exclude: ['/blog/**'] });
    assert.ok('filter' in one && 'filter' in two);
    assert.ok(one.size > '/blog/**'.length);
    assert.equal(two.size, 2 * one.size);
    // Refused patterns count too: checking them had a cost.
    const refused = tryCompileFilters({ include: ['/(?=a)b/'] });
    assert.ok('problems' in refused);
    assert.equal(refused.size, '/(?=a)b/'.length);
  });

  it('refuses patterns each allowed alone once together they pass the budget, and says what to do', () => {
    for (const pattern of big(overBudget)) assert.equal(validateFilterPattern(pattern), undefined);
    const result = tryCompileFilters({ exclude: big(overBudget) });
    assert.ok('problems' in result);
    assert.equal(result.problems.length, 1);
    const [{ list, index, error }] = result.problems as [(typeof result.problems)[0]];
    assert.equal(list, 'exclude');
    assert.ok(index < overBudget);
    assert.equal(error.pattern, big(overBudget)[index]);
    assert.match(
      error.message,
      new RegExp(
        `come to [\\d,]+ in size, more than the ${maxTotalSize.toLocaleString('en')} a job may have.*` +
          'use fewer or shorter patterns',
      ),
    );
    // What was compiled before the budget ran out stays within it.
    assert.ok(result.size > maxTotalSize && result.size < maxTotalSize + 1000);
  });

  it('reports the problems before the budget ran out, and checks nothing after it', () => {
    const result = tryCompileFilters({
      include: ['/(?=a)b/', ...big(overBudget), '/(a)\\1/'],
      exclude: ['/(?<=a)b/'],
    });
    assert.ok('problems' in result);
    assert.deepEqual(
      result.problems.map((p) => [p.list, /lookahead|come to/.exec(p.error.message)?.[0]]),
      [
        ['include', 'lookahead'],
        ['include', 'come to'],
      ],
    );
  });

  it('stops a worker as it stops the API: compileFilters refuses the same list', () => {
    assert.throws(
      () => compileFilters({ include: big(overBudget) }),
      (err: unknown) => err instanceof InvalidFilterError && /a job may have/.test(err.message),
    );
  });

  it('leaves room for many everyday patterns', () => {
    const result = tryCompileFilters({
      include: Array.from({ length: 50 }, (_, i) => `/section-${i}/**`),
      exclude: Array.from({ length: 50 }, (_, i) => `/^\\/section-${i}\\/\\d+$/`),
    });
    assert.ok('filter' in result, JSON.stringify('problems' in result && result.problems[0]?.error.message));
    assert.equal(result.filter.test('https://example.com/section-7/a/b').ok, true);
    assert.equal(result.filter.test('https://example.com/section-7/42').ok, false);
  });
});
