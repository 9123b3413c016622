// A real http.Server on an ephemeral loopback port that plays a website for crawler tests.
// It records every request it receives and the peak number in flight, so tests assert on what the server saw
// (for example "a robots-disallowed path was never requested") rather than on what the crawler claims.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  at: number;
}

export type RouteHandler = (req: http.IncomingMessage, res: http.ServerResponse, site: FixtureSite) => void;

export class FixtureSite {
  readonly requests: RecordedRequest[] = [];
  inFlight = 0;
  maxInFlight = 0;
  private readonly routes = new Map<string, RouteHandler>();
  private readonly prefixRoutes: Array<[string, RouteHandler]> = [];
  private readonly hits = new Map<string, number>();
  private server: http.Server | undefined;
  origin = '';
  port = 0;

  /** Exact path (query string included when the key has one, else ignored). */
  route(path: string, handler: RouteHandler): this {
    this.routes.set(path, handler);
    return this;
  }

  /** Any path starting with `prefix`. Exact routes win. */
  routePrefix(prefix: string, handler: RouteHandler): this {
    this.prefixRoutes.push([prefix, handler]);
    this.prefixRoutes.sort((a, b) => b[0].length - a[0].length);
    return this;
  }

  /** Simple static page. */
  page(path: string, body: string, headers: Record<string, string> = {}, status = 200): this {
    return this.route(path, (_req, res) => {
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...headers });
      res.end(body);
    });
  }

  /**
   * /robots.txt with these lines (User-agent: * first), plus a Sitemap line for each path given, written with
   * the Host the request came to (the crawler reaches the site under its fixture name).
   */
  robots(lines: string[] = [], sitemaps: string[] = []): this {
    return this.route('/robots.txt', (req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const declared = sitemaps.map((p) => `Sitemap: http://${req.headers.host}${p}`);
      res.end(`${['User-agent: *', ...lines, ...declared].join('\n')}\n`);
    });
  }

  /** A sitemap at `path` listing these paths on the requested host. */
  sitemap(path: string, paths: string[] | (() => string[])): this {
    return this.route(path, (req, res) => {
      const o = `http://${req.headers.host}`;
      const list = typeof paths === 'function' ? paths() : paths;
      res.writeHead(200, { 'content-type': 'application/xml' });
      res.end(
        `<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">${list
          .map((p) => `<url><loc>${o}${p}</loc></url>`)
          .join('')}</urlset>`,
      );
    });
  }

  /** A sitemap index at `path` listing these child sitemaps on the requested host. */
  sitemapIndex(path: string, children: string[]): this {
    return this.route(path, (req, res) => {
      const o = `http://${req.headers.host}`;
      res.writeHead(200, { 'content-type': 'application/xml' });
      res.end(
        `<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">${children
          .map((p) => `<sitemap><loc>${o}${p}</loc></sitemap>`)
          .join('')}</sitemapindex>`,
      );
    });
  }

  /** How many times this path (with query) was requested before; the handler sees the count so far. */
  hitCount(path: string): number {
    return this.hits.get(path) ?? 0;
  }

  requested(path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  url(path: string): string {
    return `${this.origin}${path}`;
  }

  async start(host = '127.0.0.1'): Promise<this> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve) => this.server!.listen(0, host, resolve));
    const addr = this.server.address() as AddressInfo;
    this.port = addr.port;
    this.origin = `http://${host}:${addr.port}`;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    this.server = undefined;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = req.url ?? '/';
    this.requests.push({ method: req.method ?? 'GET', path, headers: req.headers, at: Date.now() });
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      this.inFlight--;
    };
    res.on('finish', finish);
    res.on('close', finish);
    const pathname = path.split('?')[0] ?? path;
    const handler =
      this.routes.get(path) ??
      this.routes.get(pathname) ??
      this.prefixRoutes.find(([prefix]) => path.startsWith(prefix))?.[1];
    try {
      if (handler) handler(req, res, this);
      else {
        res.writeHead(404, { 'content-type': 'text/html' });
        res.end('<h1>Not found</h1>');
      }
    } finally {
      this.hits.set(path, (this.hits.get(path) ?? 0) + 1);
    }
  }
}

export async function startFixtureSite(setup: (site: FixtureSite) => void): Promise<FixtureSite> {
  const site = new FixtureSite();
  setup(site);
  return site.start();
}
