// The website the crawler's end-to-end tests crawl: one FixtureSite playing a CDN-fronted site (each CDN's
// header style, MISS then HIT once requested), robots.txt, sitemaps (an index with a gzipped child and a
// cycle), redirects, slow, stalled, huge and malformed responses, and a rate-limited page. Served under the
// hostnames site.test / www.site.test / ext.test, which `fixtureResolver` points at loopback.
import type http from 'node:http';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import type { FixtureSite } from './fixture-site.ts';

export const SITE_HOST = 'site.test';
export const EXTERNAL_HOST = 'ext.test';

/** Resolves *.test names to 127.0.0.1 and nothing else, so no test can reach beyond loopback. */
export async function fixtureResolver(hostname: string): Promise<Array<{ address: string; family: number }>> {
  if (hostname === SITE_HOST || hostname === `www.${SITE_HOST}` || hostname === EXTERNAL_HOST) {
    return [{ address: '127.0.0.1', family: 4 }];
  }
  throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
}

/** Header pairs (first response, every later one) in each CDN's own style, from real responses. */
export const CDN_STYLES: Record<string, [Record<string, string>, Record<string, string>]> = {
  cloudflare: [{ 'cf-cache-status': 'MISS' }, { 'cf-cache-status': 'HIT', age: '3' }],
  'cloudflare-expired': [{ 'cf-cache-status': 'EXPIRED' }, { 'cf-cache-status': 'HIT' }],
  // Fastly with shielding: "shield, edge"; the edge entry (last) is what the visitor got.
  fastly: [
    { 'x-cache': 'MISS, MISS', 'x-served-by': 'cache-iad-kiad7000025-IAD, cache-syd10143-SYD' },
    { 'x-cache': 'MISS, HIT', 'x-served-by': 'cache-iad-kiad7000025-IAD, cache-syd10143-SYD' },
  ],
  cloudfront: [{ 'x-cache': 'Miss from cloudfront' }, { 'x-cache': 'Hit from cloudfront', age: '12' }],
  akamai: [
    {
      'x-cache': 'TCP_MISS from a23-45-67-89.deploy.akamaitechnologies.com (AkamaiGHost/11.4.3-54729273) (-)',
    },
    {
      'x-cache': 'TCP_HIT from a23-45-67-89.deploy.akamaitechnologies.com (AkamaiGHost/11.4.3-54729273) (-)',
    },
  ],
  vercel: [{ 'x-vercel-cache': 'MISS' }, { 'x-vercel-cache': 'HIT' }],
  netlify: [{ 'cache-status': '"Netlify Edge"; fwd=miss' }, { 'cache-status': '"Netlify Edge"; hit' }],
  varnish: [
    { 'x-varnish': '32773', age: '0', via: '1.1 varnish (Varnish/7.4)' },
    { 'x-varnish': '32776 32774', age: '4', via: '1.1 varnish (Varnish/7.4)' },
  ],
};

/** Pages that must never be re-requested for warming. */
export const UNCACHEABLE: Record<string, Record<string, string>> = {
  bypass: { 'cf-cache-status': 'BYPASS' },
  dynamic: { 'cf-cache-status': 'DYNAMIC' },
  'fastly-pass': { 'x-cache': 'PASS, PASS' },
};

export interface CrawlSiteState {
  /** robots.txt body; `{origin}` is replaced with the site's origin as the client addressed it. */
  robots: string;
  /** Every request to /flaky answers this status. */
  busyRetryAfter: string;
}

export const DEFAULT_ROBOTS =
  'User-agent: *\nDisallow: /private/\n\nUser-agent: BlueBandedBee\nDisallow: /private/\nDisallow: /no-bees\n' +
  'Sitemap: {origin}/sitemap_index.xml\n';

const NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"';
const urlset = (entries: string[]) => `<?xml version="1.0"?>\n<urlset ${NS}>${entries.join('')}</urlset>`;
const index = (locs: string[]) =>
  `<?xml version="1.0"?>\n<sitemapindex ${NS}>${locs.map((l) => `<sitemap><loc>${l}</loc></sitemap>`).join('')}</sitemapindex>`;
const entry = (loc: string, priority?: string, lastmod?: string) =>
  `<url><loc>${loc}</loc>${lastmod ? `<lastmod>${lastmod}</lastmod>` : ''}${priority ? `<priority>${priority}</priority>` : ''}</url>`;

function originOf(req: http.IncomingMessage): string {
  return `http://${req.headers.host}`;
}

function html(
  res: http.ServerResponse,
  body: string,
  headers: Record<string, string> = {},
  status = 200,
): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...headers });
  res.end(body);
}

export function mountCrawlSite(site: FixtureSite, state: CrawlSiteState): void {
  site.route('/robots.txt', (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(state.robots.replaceAll('{origin}', originOf(req)));
  });
  site.routePrefix('/cdn/', (req, res, s) => {
    const [, , style] = (req.url ?? '').split('/');
    const first = s.hitCount(req.url ?? '') === 0;
    const pair = CDN_STYLES[style ?? ''];
    if (pair) return html(res, `<p>${style}</p>`, first ? pair[0] : pair[1]);
    if (style === 'never-hit') return html(res, '<p>always a miss</p>', { 'cf-cache-status': 'MISS' });
    const uncacheable = UNCACHEABLE[style ?? ''];
    if (uncacheable) return html(res, `<p>${style}</p>`, uncacheable);
    html(res, 'no such style', {}, 404);
  });
  site.page('/private/secret', '<p>must never be fetched</p>');
  site.page('/no-bees', '<p>must never be fetched</p>');
  site.page('/ok', '<p>fine</p>', { 'cf-cache-status': 'HIT' });
  site.page('/ok-2', '<p>fine too</p>', { 'cf-cache-status': 'HIT' });
  site.page('/server-error', 'down', {}, 500);
  site.route('/busy', (_req, res) => {
    res.writeHead(429, { 'content-type': 'text/plain', 'retry-after': state.busyRetryAfter });
    res.end('slow down');
  });
  // Redirect chain a → b → c, and a loop x → y → x.
  const redirect = (to: string) => (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(301, { location: to });
    res.end();
  };
  site.route('/redirect/a', redirect('/redirect/b'));
  site.route('/redirect/b', redirect('/redirect/c'));
  site.page('/redirect/c', '<a href="/ok">landed</a>', { 'cf-cache-status': 'HIT' });
  site.route('/loop/x', redirect('/loop/y'));
  site.route('/loop/y', redirect('/loop/x'));
  site.route('/slow', (_req, res) => {
    setTimeout(() => html(res, '<p>slow</p>', { 'cf-cache-status': 'HIT' }), 150);
  });
  site.route('/stall-headers', () => {});
  site.route('/stall-body', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.write('<html><a href="/ok">');
  });
  site.route('/huge', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    const chunk = Buffer.alloc(64 * 1024, 'a');
    new Readable({
      read() {
        this.push(chunk);
      },
    }).pipe(res);
  });
  // 16 MiB of zeros gzips to ~16 KB; 64 members make 1 GiB decompressed for ~1 MB on the wire.
  const bombMember = zlib.gzipSync(Buffer.alloc(16 * 1024 * 1024), { level: 9 });
  site.route('/bomb', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html', 'content-encoding': 'gzip' });
    let sent = 0;
    new Readable({
      read() {
        this.push(sent++ < 64 ? bombMember : null);
      },
    }).pipe(res);
  });
  site.page(
    '/malformed',
    '<html><head><title>broken</title></head></head><body><div><p><a href="/ok">ok<b></div></i><a href=/ok-2 class=x>two</a>' +
      '<a href="/excluded/page"><table><a href="javascript:void(0)">js</a></tr><a href="/unclosed',
  );
  site.route('/links', (req, res) => {
    const origin = originOf(req);
    const port = origin.split(':')[2];
    html(
      res,
      `<!doctype html><html><head><base href="/section/"><link rel="stylesheet" href="/style.css"></head><body>
      <a href="child?utm_source=mail&id=7#top">relative to base</a>
      <a href="http://www.site.test:${port}/ok">www variant</a>
      <a href="http://ext.test:${port}/ext/head-refused">external</a>
      <a href="/private/ignored" rel="nofollow">nofollow</a>
      <a href="/excluded/page">excluded</a>
      <a href="mailto:bees@example.com">mail</a><a href="tel:+61000">tel</a>
      <a href="data:text/html,hi">data</a><a href="javascript:alert(1)">js</a>
      <img src="/img/bee.png" srcset="/img/bee-2x.png 2x"></body></html>`,
      { 'cf-cache-status': 'HIT' },
    );
  });
  site.page('/section/child', '<p>child</p>', { 'cf-cache-status': 'HIT' });
  site.route('/file.pdf', (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/pdf', 'cf-cache-status': 'HIT' });
    res.end('%PDF-1.4 <a href="/not-a-link">');
  });
  // External host (ext.test): HEAD refused, GET works; and a dead link.
  site.route('/ext/head-refused', (req, res) => {
    res.writeHead(req.method === 'HEAD' ? 405 : 200, { 'content-type': 'text/html' });
    res.end(req.method === 'HEAD' ? undefined : 'external page');
  });
  mountSitemaps(site);
}

function mountSitemaps(site: FixtureSite): void {
  const xml = (body: (origin: string) => string) => (req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(200, { 'content-type': 'application/xml' });
    res.end(body(originOf(req)));
  };
  // The index lists itself and a second index that lists it back: both cycles must end.
  site.route(
    '/sitemap_index.xml',
    xml((o) =>
      index([
        `${o}/sitemap-pages.xml`,
        `${o}/sitemap-posts.xml.gz`,
        `${o}/sitemap_index.xml`,
        `${o}/sitemap-cycle.xml`,
      ]),
    ),
  );
  site.route(
    '/sitemap-cycle.xml',
    xml((o) => index([`${o}/sitemap_index.xml`])),
  );
  site.route(
    '/sitemap-pages.xml',
    xml((o) =>
      urlset([
        entry(`${o}/`, '1.0'),
        entry(`${o}/about`, '0.3'),
        entry(`${o}/excluded/hidden`, '0.9'),
        entry('http://elsewhere.test/not-ours', '1.0'),
        entry(`${o}/about?utm_campaign=x`, '0.3'),
      ]),
    ),
  );
  site.route('/sitemap-posts.xml.gz', (req, res) => {
    const o = originOf(req);
    const body = urlset([
      entry(`${o}/posts/new`, '0.8', new Date().toISOString()),
      entry(`${o}/posts/old`, '0.8', '2001-01-01'),
    ]);
    res.writeHead(200, { 'content-type': 'application/x-gzip' });
    res.end(zlib.gzipSync(body));
  });
  // Fallback location (used when robots.txt declares nothing): well-formed start, garbage after two entries.
  site.route(
    '/sitemap.xml',
    xml(
      (o) =>
        `<?xml version="1.0"?>\n<urlset ${NS}>${entry(`${o}/a`)}${entry(`${o}/b`)}</url><url & broken>${entry(`${o}/c`)}</urlset>`,
    ),
  );
}
