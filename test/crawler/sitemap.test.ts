import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, afterEach, describe, test } from 'node:test';
import { createGzip, gzipSync } from 'node:zlib';
import { closeFetchPool } from '../../src/crawler/fetch-pool.ts';
import { createOpenUrl } from '../../src/crawler/fetch-stream.ts';
import { type OpenUrl, parseRobots } from '../../src/crawler/robots.ts';
import {
  compareSitemapEntries,
  discoverSitemaps,
  iterateSitemaps,
  readSitemaps,
  type SitemapEntry,
  sitemapTaskPriority,
  sortSitemapEntries,
} from '../../src/crawler/sitemap.ts';
import { type FixtureSite, startFixtureSite } from '../support/fixture-site.ts';

// The real opener: the crawler's own fetch (SSRF guard opened for loopback), following redirects.
const open: OpenUrl = createOpenUrl({ allowPrivateNetworks: true });
after(() => closeFetchPool());

const NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"';
type Url = { loc: string; lastmod?: string; priority?: string };
const urlset = (urls: Url[]) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<urlset ${NS}>\n${urls
    .map(
      (u) =>
        `  <url><loc>${u.loc}</loc>${u.lastmod ? `<lastmod>${u.lastmod}</lastmod>` : ''}${u.priority ? `<priority>${u.priority}</priority>` : ''}</url>`,
    )
    .join('\n')}\n</urlset>\n`;
const sitemapIndex = (locs: string[]) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex ${NS}>\n${locs.map((l) => `  <sitemap><loc>${l}</loc></sitemap>`).join('\n')}\n</sitemapindex>\n`;
// Bodies are built at request time: a fixture site has no origin until it has started.
const xml =
  (body: () => string | Buffer, type = 'application/xml') =>
  (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(200, { 'content-type': type });
    res.end(body());
  };

let sites: FixtureSite[] = [];
async function startSite(setup: (s: FixtureSite) => void): Promise<FixtureSite> {
  const site = await startFixtureSite(setup);
  sites.push(site);
  return site;
}
afterEach(async () => {
  await Promise.all(sites.map((s) => s.stop()));
  sites = [];
});

const paths = (site: FixtureSite, entries: SitemapEntry[]) =>
  entries.map((e) => e.url.slice(site.origin.length));
const declared = (site: FixtureSite, ...sitemapPaths: string[]) =>
  parseRobots(site.url('/robots.txt'), sitemapPaths.map((p) => `Sitemap: ${site.url(p)}`).join('\n'));

/**
 * An endless-looking urlset written only as fast as the client reads it (backpressure, no timers). `closed`
 * settles when the connection closes, with how many URLs had been written and whether the response finished.
 */
function streamingSitemap(total: number, opts: { gzip?: boolean } = {}) {
  let settle: (v: { written: number; finished: boolean }) => void = () => {};
  const closed = new Promise<{ written: number; finished: boolean }>((resolve) => {
    settle = resolve;
  });
  const handler = (_req: http.IncomingMessage, res: http.ServerResponse, site: FixtureSite) => {
    res.writeHead(200, { 'content-type': 'application/xml' });
    const gzip = opts.gzip ? createGzip() : undefined;
    gzip?.pipe(res);
    const out = gzip ?? res;
    let written = 0;
    res.on('close', () => {
      gzip?.destroy();
      settle({ written, finished: res.writableFinished });
    });
    out.write(`<?xml version="1.0"?><urlset ${NS}>`);
    const pump = () => {
      while (written < total) {
        let chunk = '';
        // With gzip, random path segments stop the stream shrinking to something the socket buffers absorb.
        for (let k = 0; k < 200 && written < total; k++, written++) {
          const noise = gzip ? `/${Math.random().toString(36).slice(2)}` : '';
          chunk += `<url><loc>${site.url(`/p/${written}${noise}`)}</loc></url>\n`;
        }
        if (!out.write(chunk)) {
          out.once('drain', pump);
          return;
        }
      }
      out.end('</urlset>');
    };
    pump();
  };
  return { handler, closed };
}

describe('reading sitemaps', () => {
  test('an index with a gzipped child and two cycles reads every file exactly once', async () => {
    const site = await startSite((s) => {
      s.route(
        '/sitemap_index.xml',
        xml(() => sitemapIndex([s.url('/child-gz'), s.url('/sitemap_index.xml'), s.url('/loop-a.xml')])),
      );
      // Gzipped, but neither the path nor the content type says so: detected by its magic bytes.
      s.route(
        '/child-gz',
        xml(
          () => gzipSync(urlset([{ loc: s.url('/gz/1') }, { loc: s.url('/gz/2') }])),
          'application/octet-stream',
        ),
      );
      s.route(
        '/loop-a.xml',
        xml(() => sitemapIndex([s.url('/loop-b.xml')])),
      );
      s.route(
        '/loop-b.xml',
        xml(() =>
          sitemapIndex([s.url('/loop-a.xml'), s.url('/sitemap_index.xml#again'), s.url('/pages.xml')]),
        ),
      );
      s.route(
        '/pages.xml',
        xml(() => urlset([{ loc: s.url('/page/1') }, { loc: s.url('/gz/1') }])),
      );
    });
    const result = await readSitemaps(site.origin, {
      open,
      robots: declared(site, '/sitemap_index.xml'),
      maxUrls: 100,
    });
    for (const path of ['/sitemap_index.xml', '/child-gz', '/loop-a.xml', '/loop-b.xml', '/pages.xml']) {
      assert.equal(site.requested(path).length, 1, `${path} requested once`);
    }
    assert.equal(site.requests.length, 5);
    assert.deepEqual(paths(site, result.entries), ['/gz/1', '/gz/2', '/page/1'], 'duplicates dropped');
    assert.deepEqual(result.sitemapsRead, [
      site.url('/sitemap_index.xml'),
      site.url('/child-gz'),
      site.url('/loop-a.xml'),
      site.url('/loop-b.xml'),
      site.url('/pages.xml'),
    ]);
    assert.deepEqual(result.warnings, []);
  });

  test('nested indexes are followed only maxDepth levels down', async () => {
    const site = await startSite((s) => {
      for (let d = 0; d < 3; d++) {
        s.route(
          `/d${d}.xml`,
          xml(() => sitemapIndex([s.url(`/d${d + 1}.xml`), s.url(`/leaf${d}.xml`)])),
        );
        s.route(
          `/leaf${d}.xml`,
          xml(() => urlset([{ loc: s.url(`/at-depth-${d + 1}`) }])),
        );
      }
      s.route(
        '/d3.xml',
        xml(() => urlset([{ loc: s.url('/at-depth-3') }])),
      );
    });
    const result = await readSitemaps(site.origin, {
      open,
      robots: declared(site, '/d0.xml'),
      maxUrls: 100,
      maxDepth: 2,
    });
    assert.deepEqual(paths(site, result.entries).sort(), ['/at-depth-1', '/at-depth-2']);
    assert.equal(site.requested('/d2.xml').length, 1);
    assert.equal(site.requested('/d3.xml').length, 0);
    assert.equal(site.requested('/leaf2.xml').length, 0);
    assert.ok(result.warnings.some((w) => w.startsWith(site.url('/d3.xml')) && /nested more than 2/.test(w)));
  });

  test('a malformed file is reported, keeps what it yielded before the error, and the walk goes on', async () => {
    const site = await startSite((s) => {
      s.route(
        '/index.xml',
        xml(() =>
          sitemapIndex(['/a.xml', '/bad.xml', '/html.xml', '/broken-gz', '/c.xml'].map((p) => s.url(p))),
        ),
      );
      s.route(
        '/a.xml',
        xml(() => urlset([{ loc: s.url('/a') }])),
      );
      // An unescaped "&" in a loc: the commonest real-world sitemap error. b3 and b4 are past it.
      s.route(
        '/bad.xml',
        xml(
          () =>
            `<urlset ${NS}><url><loc>${s.url('/b1')}</loc></url><url><loc>${s.url('/b2')}</loc></url><url><loc>${s.url('/b3?a=1&b=2')}</loc></url><url><loc>${s.url('/b4')}</loc></url></urlset>`,
        ),
      );
      s.page('/html.xml', '<!doctype html><html><body>Not found, but 200</body></html>');
      s.route(
        '/broken-gz',
        xml(() => Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x42, 0x42, 0x42]), 'application/gzip'),
      );
      s.route(
        '/c.xml',
        xml(() => urlset([{ loc: s.url('/c') }])),
      );
    });
    const result = await readSitemaps(site.origin, {
      open,
      robots: declared(site, '/index.xml'),
      maxUrls: 100,
    });
    assert.deepEqual(paths(site, result.entries), ['/a', '/b1', '/b2', '/c']);
    assert.equal(result.warnings.length, 3, result.warnings.join('\n'));
    assert.match(result.warnings[0]!, new RegExp(`^${site.url('/bad.xml')}: malformed XML: .*\\d+:\\d+`));
    assert.match(result.warnings[1]!, new RegExp(`^${site.url('/html.xml')}: (malformed XML|root element)`));
    assert.match(result.warnings[2]!, new RegExp(`^${site.url('/broken-gz')}: invalid gzip data`));
    assert.equal(site.requested('/c.xml').length, 1);
  });

  test('stops reading at maxUrls: the rest of the stream is never downloaded, later files never requested', async () => {
    const huge = streamingSitemap(1_000_000);
    const site = await startSite((s) => {
      s.route(
        '/index.xml',
        xml(() => sitemapIndex([s.url('/huge.xml'), s.url('/after.xml')])),
      );
      s.route('/huge.xml', huge.handler);
      s.route(
        '/after.xml',
        xml(() => urlset([{ loc: s.url('/after') }])),
      );
    });
    const result = await readSitemaps(site.origin, {
      open,
      robots: declared(site, '/index.xml'),
      maxUrls: 100,
      maxUrlsPerFile: 2_000_000, // so only maxUrls can stop the read
    });
    assert.equal(result.entries.length, 100);
    assert.equal(result.reachedMaxUrls, true);
    const { written, finished } = await huge.closed;
    assert.equal(finished, false, 'the server saw the connection close before the response ended');
    assert.ok(written < 1_000_000, `only ${written} of 1,000,000 URLs were generated`);
    assert.equal(site.requested('/after.xml').length, 0);
  });

  test('a consumer breaking out of a gzipped stream stops the download', async () => {
    const huge = streamingSitemap(1_000_000, { gzip: true });
    const site = await startSite((s) => s.route('/huge.xml.gz', huge.handler));
    const entries: SitemapEntry[] = [];
    for await (const entry of iterateSitemaps(site.origin, {
      open,
      robots: declared(site, '/huge.xml.gz'),
      maxUrls: 10_000,
      maxUrlsPerFile: 2_000_000,
    })) {
      entries.push(entry);
      if (entries.length === 50) break; // a consumer may also stop on its own
    }
    assert.equal(entries.length, 50);
    const { written, finished } = await huge.closed;
    assert.equal(finished, false);
    assert.ok(written < 1_000_000, `only ${written} of 1,000,000 URLs were generated`);
  });

  test('a gzipped stream that stalls mid-file does not hold up a reader that has enough', {
    timeout: 5_000,
  }, async () => {
    let settle: () => void = () => {};
    const closed = new Promise<void>((resolve) => {
      settle = resolve;
    });
    const site = await startSite((s) =>
      s.route('/stalled.xml.gz', (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/gzip' });
        const gzip = createGzip();
        gzip.pipe(res);
        res.on('close', () => {
          gzip.destroy();
          settle();
        });
        let body = `<?xml version="1.0"?><urlset ${NS}>`;
        for (let i = 0; i < 100; i++) body += `<url><loc>${s.url(`/p/${i}`)}</loc></url>`;
        gzip.write(body);
        gzip.flush(); // and then nothing more, ever: the gunzip pipeline is left waiting on the socket
      }),
    );
    const result = await readSitemaps(site.origin, {
      open,
      robots: declared(site, '/stalled.xml.gz'),
      maxUrls: 50,
    });
    assert.equal(result.entries.length, 50);
    await closed; // the client dropped the connection rather than leaving it open
  });

  test('keeps only same-site URLs; child sitemaps on foreign hosts are not fetched', async () => {
    const foreign = await startSite((s) =>
      s.route(
        '/evil.xml',
        xml(() => urlset([])),
      ),
    );
    const site = await startSite((s) => {
      s.route(
        '/index.xml',
        xml(() => sitemapIndex([foreign.url('/evil.xml'), s.url('/pages.xml')])),
      );
      s.route(
        '/pages.xml',
        xml(() =>
          urlset([
            { loc: s.url('/ok') },
            { loc: foreign.url('/other-port') },
            { loc: 'https://other.example/page' },
            { loc: 'ftp://127.0.0.1/file' },
            { loc: '/relative' },
            { loc: `${s.url('/with-fragment')}#top` },
            { loc: '' },
            { loc: s.url(`/${'x'.repeat(5_000)}`) }, // overlong: dropped, not truncated into another URL
          ]),
        ),
      );
    });
    const robots = declared(site, '/index.xml');
    const result = await readSitemaps(site.origin, { open, robots, maxUrls: 100 });
    assert.deepEqual(paths(site, result.entries), ['/ok', '/with-fragment']);
    assert.equal(foreign.requests.length, 0);
    assert.ok(
      result.warnings.includes(
        `${site.url('/pages.xml')}: 6 entries dropped (not an http(s) URL on this site)`,
      ),
    );
    assert.ok(
      result.warnings.includes(
        `${site.url('/index.xml')}: 1 entries dropped (not an http(s) URL on this site)`,
      ),
    );

    const widened = await readSitemaps(site.origin, {
      open,
      robots,
      maxUrls: 100,
      isSameSite: (url) => url.startsWith(site.origin) || url.startsWith(foreign.origin),
    });
    assert.deepEqual(paths(site, widened.entries), [
      '/ok',
      `${foreign.origin}/other-port`.slice(site.origin.length),
      '/with-fragment',
    ]);
    assert.equal(foreign.requested('/evil.xml').length, 1, 'a child on a host the predicate accepts is read');
  });

  test('a file stops at 50,000 URLs with a warning', async () => {
    const site = await startSite((s) =>
      s.route(
        '/big.xml',
        xml(() => {
          let body = `<?xml version="1.0"?><urlset ${NS}>`;
          for (let i = 0; i < 50_005; i++) body += `<url><loc>${s.url(`/p/${i}`)}</loc></url>`;
          return `${body}</urlset>`;
        }),
      ),
    );
    const result = await readSitemaps(site.origin, {
      open,
      robots: declared(site, '/big.xml'),
      maxUrls: 1_000_000,
    });
    assert.equal(result.entries.length, 50_000);
    assert.equal(result.entries.at(-1)?.url, site.url('/p/49999'));
    assert.deepEqual(result.warnings, [
      `${site.url('/big.xml')}: stopped at the 50000-entry limit per sitemap file`,
    ]);
    assert.equal(result.reachedMaxUrls, false);
  });

  test('a gzipped file stops at the decompressed byte limit with a warning', async () => {
    const urls = Array.from({ length: 2_000 }, (_, i) => ({ loc: `http://placeholder/p/${i}` }));
    const site = await startSite((s) =>
      s.route(
        '/s.xml.gz',
        xml(() => gzipSync(urlset(urls).replaceAll('http://placeholder', s.origin)), 'application/gzip'),
      ),
    );
    const result = await readSitemaps(site.origin, {
      open,
      robots: declared(site, '/s.xml.gz'),
      maxUrls: 1_000_000,
      maxBytesPerFile: 20_000,
    });
    assert.ok(
      result.entries.length > 100 && result.entries.length < 2_000,
      `${result.entries.length} entries`,
    );
    assert.deepEqual(result.warnings, [
      `${site.url('/s.xml.gz')}: stopped at the 20000-byte limit per sitemap file (decompressed)`,
    ]);
  });

  test('tolerates namespace prefixes, whitespace, CDATA and extension elements', async () => {
    const site = await startSite((s) =>
      s.route(
        '/s.xml',
        xml(
          () => `<?xml version="1.0"?>
<sm:urlset xmlns:sm="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sm:url>
    <sm:loc>
      ${s.url('/spaced')}
    </sm:loc>
    <image:image><image:loc>${s.url('/image.png')}</image:loc></image:image>
    <sm:priority> 0.9 </sm:priority>
  </sm:url>
  <sm:url><sm:loc><![CDATA[${s.url('/cdata?a=1&b=2')}]]></sm:loc></sm:url>
  <sm:url><sm:loc>${s.url('/entity?a=1&amp;b=2')}</sm:loc></sm:url>
</sm:urlset>`,
        ),
      ),
    );
    const result = await readSitemaps(site.origin, { open, robots: declared(site, '/s.xml'), maxUrls: 10 });
    assert.deepEqual(paths(site, result.entries), ['/spaced', '/cdata?a=1&b=2', '/entity?a=1&b=2']);
    assert.equal(result.entries[0]?.priority, 0.9);
    assert.deepEqual(result.warnings, []);
  });

  test('a sitemap robots.txt disallows is not fetched', async () => {
    const site = await startSite((s) =>
      s.route(
        '/private/s.xml',
        xml(() => urlset([{ loc: s.url('/x') }])),
      ),
    );
    const robots = parseRobots(
      site.url('/robots.txt'),
      `User-agent: *\nDisallow: /private/\nSitemap: ${site.url('/private/s.xml')}\n`,
    );
    const result = await readSitemaps(site.origin, { open, robots, maxUrls: 10 });
    assert.equal(result.entries.length, 0);
    assert.equal(site.requests.length, 0);
    assert.deepEqual(result.warnings, [`${site.url('/private/s.xml')}: not read, disallowed by robots.txt`]);
  });
});

describe('discovering sitemaps', () => {
  test('robots.txt Sitemap lines are used, all of them', async () => {
    const site = await startSite((s) => {
      s.route(
        '/one.xml',
        xml(() => urlset([{ loc: s.url('/1') }])),
      );
      s.route(
        '/two.xml',
        xml(() => urlset([{ loc: s.url('/2') }])),
      );
    });
    const robots = declared(site, '/one.xml', '/two.xml');
    assert.deepEqual(discoverSitemaps(site.origin, robots), {
      urls: [site.url('/one.xml'), site.url('/two.xml')],
      declared: true,
    });
    const result = await readSitemaps(site.origin, { open, robots, maxUrls: 10 });
    assert.deepEqual(paths(site, result.entries), ['/1', '/2']);
    assert.equal(site.requested('/sitemap.xml').length, 0);
  });

  test('without Sitemap lines: /sitemap.xml, and /sitemap_index.xml only when that is missing', async () => {
    const missing = await startSite((s) =>
      s.route(
        '/sitemap_index.xml',
        xml(() => urlset([{ loc: s.url('/from-index') }])),
      ),
    );
    const fromIndex = await readSitemaps(missing.origin, {
      open,
      robots: parseRobots(missing.url('/'), ''),
      maxUrls: 10,
    });
    assert.deepEqual(paths(missing, fromIndex.entries), ['/from-index']);
    assert.deepEqual(
      missing.requests.map((r) => r.path),
      ['/sitemap.xml', '/sitemap_index.xml'],
    );
    assert.deepEqual(fromIndex.warnings, [`${missing.url('/sitemap.xml')}: HTTP 404`]);

    const present = await startSite((s) => {
      s.route(
        '/sitemap.xml',
        xml(() => urlset([{ loc: s.url('/from-sitemap') }])),
      );
      s.route(
        '/sitemap_index.xml',
        xml(() => urlset([{ loc: s.url('/from-index') }])),
      );
    });
    const fromSitemap = await readSitemaps(present.origin, { open, maxUrls: 10 });
    assert.deepEqual(paths(present, fromSitemap.entries), ['/from-sitemap']);
    assert.equal(present.requested('/sitemap_index.xml').length, 0);
  });

  test('an HTML page at /sitemap.xml is not a sitemap: the fallback is tried', async () => {
    const site = await startSite((s) => {
      s.page('/sitemap.xml', '<!doctype html><html><body><p>app shell</p></body></html>');
      s.route(
        '/sitemap_index.xml',
        xml(() => sitemapIndex([s.url('/pages.xml')])),
      );
      s.route(
        '/pages.xml',
        xml(() => urlset([{ loc: s.url('/real') }])),
      );
    });
    const result = await readSitemaps(site.origin, { open, maxUrls: 10 });
    assert.deepEqual(paths(site, result.entries), ['/real']);
    assert.equal(result.warnings.length, 1);
    assert.ok(result.warnings[0]?.startsWith(site.url('/sitemap.xml')));
  });
});

describe('ordering', () => {
  test('priority desc, then lastmod newest first, then document order', async () => {
    const site = await startSite((s) =>
      s.route(
        '/s.xml',
        xml(() =>
          urlset([
            { loc: s.url('/plain-1') },
            { loc: s.url('/old-high'), priority: '0.8', lastmod: '2020-01-01' },
            { loc: s.url('/low'), priority: '0.1', lastmod: '2025-06-01T10:00:00+02:00' },
            { loc: s.url('/new-high'), priority: '0.8', lastmod: '2025-01-02T03:04:05Z' },
            { loc: s.url('/invalid-priority'), priority: '7', lastmod: 'yesterday' },
            { loc: s.url('/plain-2'), lastmod: '2024-03' },
            { loc: s.url('/undated-high'), priority: '0.8' },
          ]),
        ),
      ),
    );
    const result = await readSitemaps(site.origin, { open, robots: declared(site, '/s.xml'), maxUrls: 10 });
    assert.deepEqual(paths(site, result.entries), [
      '/new-high',
      '/old-high',
      '/undated-high',
      '/plain-2',
      '/plain-1',
      '/invalid-priority',
      '/low',
    ]);
    const byPath = new Map(result.entries.map((e) => [e.url.slice(site.origin.length), e]));
    assert.equal(byPath.get('/invalid-priority')?.priority, 0.5);
    assert.equal(byPath.get('/invalid-priority')?.lastmod, undefined);
    assert.equal(byPath.get('/low')?.lastmod?.toISOString(), '2025-06-01T08:00:00.000Z');
    assert.equal(byPath.get('/plain-2')?.lastmod?.toISOString(), '2024-03-01T00:00:00.000Z');
  });

  test('sort and comparator agree, and task priorities follow the same order', () => {
    const now = Date.parse('2025-01-10T00:00:00Z');
    const entry = (order: number, priority: number, lastmod?: string): SitemapEntry => ({
      url: `http://x.test/${order}`,
      priority,
      order,
      sitemap: 'http://x.test/s.xml',
      ...(lastmod && { lastmod: new Date(lastmod) }),
    });
    const entries = [
      entry(0, 0.5),
      entry(1, 0.5, '2025-01-09T12:00:00Z'),
      entry(2, 1),
      entry(3, 0.5, '2024-12-01'),
      entry(4, 0.3, '2025-01-09T23:00:00Z'),
      entry(5, 0.5),
    ];
    const sorted = sortSitemapEntries(entries);
    assert.deepEqual(
      sorted.map((e) => e.order),
      [2, 1, 3, 0, 5, 4],
    );
    assert.equal(compareSitemapEntries(entries[0]!, entries[5]!) < 0, true, 'document order breaks ties');
    const priorities = sorted.map((e) => sitemapTaskPriority(e, now));
    assert.deepEqual(priorities, [1000, 509, 504, 500, 500, 309]);
    for (const p of priorities) assert.ok(Number.isInteger(p));
  });
});
