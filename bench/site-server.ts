// A generated site for `npm run bench:crawl`, in its own process: /p/0 … /p/(PAGES-1), each about 4 KB with
// ten internal links (five onward, five across the site) and `cf-cache-status: HIT`, so no warm GETs are
// needed and the crawl measures the pipeline, not the delays. Prints `port <n>` when listening.
import http from 'node:http';

const PAGES = Number(process.argv[2] ?? 10_000);
const filler =
  '<p>Blue banded bees buzz-pollinate tomato flowers by vibrating their flight muscles.</p>'.repeat(30);

function page(n: number): string {
  const links: string[] = [];
  for (let k = 1; k <= 5; k++) links.push(`<a href="/p/${(n + k) % PAGES}">next ${k}</a>`);
  for (let k = 1; k <= 5; k++)
    links.push(`<a href="/p/${(n * 7919 + k * 104729) % PAGES}">see also ${k}</a>`);
  return `<!doctype html><html><head><title>Page ${n}</title></head><body><nav>${links.join(' ')}</nav>${filler}</body></html>`;
}

const server = http.createServer((req, res) => {
  const url = req.url ?? '/';
  if (url === '/') {
    res.writeHead(200, { 'content-type': 'text/html', 'cf-cache-status': 'HIT' });
    res.end('<a href="/p/0">start</a>');
    return;
  }
  const n = url.startsWith('/p/') ? Number(url.slice(3)) : Number.NaN;
  if (!Number.isInteger(n) || n < 0 || n >= PAGES) {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found');
    return;
  }
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cf-cache-status': 'HIT' });
  res.end(page(n));
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`port ${typeof address === 'object' && address ? address.port : 0}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
