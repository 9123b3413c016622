import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isHtmlContentType } from '../../src/crawler/content-type.ts';
import { extractLinks, LinkExtractor } from '../../src/crawler/links.ts';

const page = 'https://example.com/dir/page.html';

function urls(html: string, opts?: Parameters<typeof extractLinks>[2], pageUrl = page): string[] {
  return extractLinks(html, pageUrl, opts).links.map((l) => l.url);
}

describe('extractLinks: resolution', () => {
  it('resolves relative, root-relative, scheme-relative and absolute hrefs', () => {
    const html = `
      <a href="other.html">1</a><a href="../up">2</a><a href="/root?x=1">3</a>
      <a href="//cdn.example.net/lib">4</a><a href="HTTPS://Example.com:443/abs">5</a>`;
    assert.deepEqual(urls(html), [
      'https://example.com/dir/other.html',
      'https://example.com/up',
      'https://example.com/root?x=1',
      'https://cdn.example.net/lib',
      'https://example.com/abs',
    ]);
  });

  it('decodes entities in attributes', () => {
    assert.deepEqual(urls('<a href="/s?a=1&amp;b=2">s</a>'), ['https://example.com/s?a=1&b=2']);
  });

  it('uses the first <base href> for the links after it', () => {
    const html = `<head><base href="https://example.com/other/"><base href="https://ignored.example/"></head>
      <a href="x">x</a><a href="#top">top</a>`;
    const result = extractLinks(html, page);
    assert.deepEqual(
      result.links.map((l) => l.url),
      ['https://example.com/other/x', 'https://example.com/other/'],
    );
    assert.equal(result.baseUrl, 'https://example.com/other/');
  });

  it('resolves a relative <base> against the page and ignores a non-http one', () => {
    assert.deepEqual(urls('<base href="/b/"><a href="x">x</a>'), ['https://example.com/b/x']);
    assert.deepEqual(urls('<base href="javascript:void 0"><base href="/b/"><a href="x">x</a>'), [
      'https://example.com/dir/x',
    ]);
  });

  it('skips non-http schemes without reporting them as invalid', () => {
    const html = `<a href="javascript:void(0)">j</a><a href=" JavaScript:alert(1)">j</a><a href="mailto:a@b.c">m</a>
      <a href="tel:+123">t</a><a href="data:text/html,hi">d</a><a href="ftp://x.example/">f</a>
      <a href="sms:123">s</a><a href="/ok">ok</a>`;
    const result = extractLinks(html, page);
    assert.deepEqual(
      result.links.map((l) => l.url),
      ['https://example.com/ok'],
    );
    assert.deepEqual(result.invalid, []);
  });

  it('drops fragment-only, empty and self links and strips fragments', () => {
    const html = `<a href="#top">t</a><a href="">e</a><a href="page.html#x">self</a><a>no href</a>
      <a href="/other#part">o</a><a href="/other#part2">o2</a>`;
    assert.deepEqual(urls(html), ['https://example.com/other']);
  });

  it('strips tracking parameters and honours keepQuery', () => {
    const html = '<a href="/p?utm_source=news&id=1">p</a><a href="/q?page=2">q</a>';
    assert.deepEqual(urls(html), ['https://example.com/p?id=1', 'https://example.com/q?page=2']);
    assert.deepEqual(urls(html, { keepQuery: false }), ['https://example.com/p', 'https://example.com/q']);
  });

  it('reports hrefs that cannot be URLs', () => {
    const result = extractLinks(
      '<a href="http://">x</a><a href="http://exa mple.com/">y</a><a href="/ok">ok</a>',
      page,
    );
    assert.deepEqual(
      result.invalid.map((i) => i.href),
      ['http://', 'http://exa mple.com/'],
    );
    assert.match(result.invalid[0]!.reason, /malformed/);
    assert.equal(result.links.length, 1);
  });

  it('reads <area href> and svg xlink:href', () => {
    const html = `<map><area href="/area" alt="A"></map>
      <svg><a xlink:href="/svg-link"><text>s</text></a></svg>`;
    assert.deepEqual(urls(html), ['https://example.com/area', 'https://example.com/svg-link']);
  });
});

describe('extractLinks: records', () => {
  it('dedupes within a page, keeping the first text', () => {
    const result = extractLinks(
      '<a href="/a">First</a><a href="/a#x">Second</a><a href="/a">Third</a>',
      page,
    );
    assert.deepEqual(result.links, [
      { url: 'https://example.com/a', foundOn: page, internal: true, text: 'First' },
    ]);
  });

  it('flags internal against siteUrl (www ignored) and keeps external links', () => {
    const html = `<a href="https://www.example.com/w">w</a><a href="https://blog.example.com/">b</a>
      <a href="http://example.com/insecure">h</a><a href="https://other.example/">o</a>`;
    const result = extractLinks(html, 'https://example.com/', { siteUrl: 'https://example.com/' });
    assert.deepEqual(
      result.links.map((l) => [l.url, l.internal]),
      [
        ['https://www.example.com/w', true],
        ['https://blog.example.com/', false],
        ['http://example.com/insecure', false],
        ['https://other.example/', false],
      ],
    );
  });

  it('uses the job root, not the page, for internal when siteUrl is given', () => {
    const result = extractLinks('<a href="/x">x</a>', 'https://cdn.example.com/p', {
      siteUrl: 'https://example.com/',
    });
    assert.equal(result.links[0]!.internal, false);
  });

  it('normalises foundOn', () => {
    const result = extractLinks('<a href="/x">x</a>', 'HTTPS://EXAMPLE.com/dir/page.html?utm_source=a#f');
    assert.equal(result.links[0]!.foundOn, page);
    assert.equal(result.pageUrl, page);
  });

  it('collapses whitespace in anchor text, uses img alt, and truncates', () => {
    const html = `<a href="/a">  Hello
      <b>big</b>   world </a><a href="/img"><img src="/i.png" alt="Logo"></a><a href="/long">${'x'.repeat(50)}</a>`;
    const result = extractLinks(html, page, { maxTextLength: 10 });
    assert.deepEqual(
      result.links.map((l) => l.text),
      ['Hello big', 'Logo', 'xxxxxxxxxx'],
    );
  });

  it('maxTextLength: 0 keeps no text', () => {
    assert.equal(extractLinks('<a href="/a">A</a>', page, { maxTextLength: 0 }).links[0]!.text, undefined);
  });
});

describe('extractLinks: nofollow', () => {
  const html = `<a href="/followed">f</a><a href="/nf" rel="external NOFOLLOW">n</a>
    <a href="/both" rel="nofollow">b1</a><a href="/both">b2</a><a href="/sponsored" rel="sponsored">s</a>`;

  it('skips rel=nofollow links by default', () => {
    assert.deepEqual(urls(html), [
      'https://example.com/followed',
      'https://example.com/both',
      'https://example.com/sponsored',
    ]);
  });

  it('keeps them flagged when respectNofollow is false; any followed occurrence wins', () => {
    const links = extractLinks(html, page, { respectNofollow: false }).links;
    assert.deepEqual(
      links.map((l) => [l.url, l.nofollow]),
      [
        ['https://example.com/followed', undefined],
        ['https://example.com/nf', true],
        ['https://example.com/both', undefined],
        ['https://example.com/sponsored', undefined],
      ],
    );
  });

  it('honours <meta name="robots" content="nofollow">', () => {
    const meta = '<meta name="ROBOTS" content="noindex, NoFollow"><a href="/a">a</a>';
    const result = extractLinks(meta, page);
    assert.equal(result.metaNofollow, true);
    assert.deepEqual(result.links, []);
    assert.deepEqual(
      extractLinks(meta, page, { respectNofollow: false }).links.map((l) => l.nofollow),
      [true],
    );
    assert.equal(
      extractLinks('<meta name="robots" content="index, follow"><a href="/a">a</a>', page).links.length,
      1,
    );
  });
});

describe('extractLinks: assets', () => {
  const html = `<head><link rel="stylesheet" href="/s.css"><link rel="icon" href="/favicon.ico">
    <link rel="preload" href="/font.woff2" as="font"><link rel="canonical" href="/canon">
    <script src="/app.js"></script><script>var a = '<a href="/in-script">';</script></head>
    <body><img src="/a.png" srcset="/a-1x.png 1x, /a,2x.png 2x,/a-3x.png 3x">
    <picture><source srcset="/p.webp 640w"></picture><video poster="/poster.jpg" src="/v.mp4"></video>
    <img src="data:image/png;base64,AAAA"><img src="https://cdn.other.example/x.png"><img src="/a.png"></body>`;

  it('collects assets by kind, deduped, only when asked', () => {
    const result = extractLinks(html, page, { collectAssets: true });
    assert.deepEqual(
      result.assets.map((a) => [a.url.replace('https://example.com', ''), a.kind, a.internal]),
      [
        ['/s.css', 'stylesheet', true],
        ['/favicon.ico', 'icon', true],
        ['/font.woff2', 'preload', true],
        ['/app.js', 'script', true],
        ['/a.png', 'image', true],
        ['/a-1x.png', 'image', true],
        ['/a,2x.png', 'image', true],
        ['/a-3x.png', 'image', true],
        ['/p.webp', 'image', true],
        ['/poster.jpg', 'image', true],
        ['/v.mp4', 'media', true],
        ['https://cdn.other.example/x.png', 'image', false],
      ],
    );
    assert.deepEqual(result.links, [], 'script content and <link> are not page links');
    assert.deepEqual(extractLinks(html, page).assets, []);
  });
});

describe('extractLinks: broken markup and streaming', () => {
  it('survives unclosed tags, unquoted attributes and garbage bytes', () => {
    const garbage = Buffer.from([0x00, 0xff, 0xfe, 0x3c, 0x3c, 0x3e, 0x80]);
    const html = Buffer.concat([
      Buffer.from('<div><p><a href=/unquoted>u</a><a href="/unclosed">no end <span>'),
      garbage,
      Buffer.from('<a href=\'/single\'>s<a href="/after-garbage" <a href="/weird">w</a>'),
      Buffer.from('<table><tr><td><a href="/in-table">t</td></table><!-- <a href="/commented"> -->'),
      Buffer.from('<a href="/trailing'),
    ]);
    const found = extractLinks(html, page).links.map((l) => l.url.replace('https://example.com', ''));
    for (const expected of ['/unquoted', '/unclosed', '/single', '/after-garbage', '/in-table']) {
      assert.ok(found.includes(expected), `${expected} in ${found.join(' ')}`);
    }
    assert.ok(!found.includes('/commented'));
  });

  it('gives the same result however the input is split, even inside a tag or a UTF-8 sequence', () => {
    const html = Buffer.from(
      '<html><head><base href="/base/"></head><body><a href="caf\u00e9?q=\u65e5\u672c" rel="x">Caf\u00e9 \u65e5\u672c</a>' +
        '<a href="/second">2</a><img src="i.png"></body></html>',
    );
    const whole = extractLinks(html, page, { collectAssets: true });
    assert.equal(whole.links[0]!.url, 'https://example.com/base/caf%C3%A9?q=%E6%97%A5%E6%9C%AC');
    assert.equal(whole.links[0]!.text, 'Caf\u00e9 \u65e5\u672c');
    for (let cut = 1; cut < html.length; cut++) {
      const extractor = new LinkExtractor(page, { collectAssets: true });
      extractor.write(html.subarray(0, cut));
      extractor.write(html.subarray(cut));
      assert.deepEqual(extractor.end(), whole, `split at byte ${cut}`);
    }
  });

  it('accepts string chunks, returns the same result from a second end(), and refuses writes after end', () => {
    const extractor = new LinkExtractor(page);
    extractor.write('<a hr');
    extractor.write('ef="/x">x</a>');
    const first = extractor.end();
    assert.deepEqual(
      first.links.map((l) => l.url),
      ['https://example.com/x'],
    );
    assert.equal(extractor.end(), first);
    assert.throws(() => extractor.write('<a href="/y">'), /after end/);
  });

  it('throws on an invalid page URL', () => {
    assert.throws(() => new LinkExtractor('not a url'), /relative URL without a base/);
  });
});

describe('isHtmlContentType', () => {
  const cases: Array<[contentType: string | undefined, body: string | undefined, expected: boolean]> = [
    ['text/html', undefined, true],
    ['Text/HTML; charset=UTF-8', undefined, true],
    ['application/xhtml+xml', undefined, true],
    ['application/json', '<html>', false],
    ['text/plain', '<!doctype html>', false],
    ['image/png', undefined, false],
    [undefined, undefined, false],
    [undefined, '\uFEFF  \n<!DOCTYPE html><html>', true],
    ['', '<html lang="en">', true],
    [undefined, '<HEAD>', true],
    [undefined, '<!-- comment -->', true],
    [undefined, '{"a":1}', false],
    [undefined, '<?xml version="1.0"?><urlset>', false],
    [undefined, '<htmlx>', false],
  ];
  for (const [contentType, body, expected] of cases) {
    it(`${JSON.stringify(contentType)} + ${JSON.stringify(body)} → ${expected}`, () => {
      assert.equal(isHtmlContentType(contentType, body), expected);
    });
  }

  it('sniffs a Buffer, BOM included', () => {
    assert.equal(isHtmlContentType(undefined, Buffer.from('\uFEFF<html>')), true);
    assert.equal(isHtmlContentType(undefined, Buffer.from([0x89, 0x50, 0x4e, 0x47])), false);
  });
});
