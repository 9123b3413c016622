// npm run bench:crawler — crawler throughput, measured, not asserted. Three numbers:
//   1. link extraction MB/s on a few-MB HTML page with many links (streamed in 64 KiB chunks);
//   2. sitemap parsing URLs/s on a 50,000-URL sitemap (the parser alone, then the full walk: same-site check,
//      de-duplication, ordering);
//   3. fetchUrl req/s and crawlPage pages/s against a fast local server running in a child process (so it has its own event
//      loop), next to that server's own ceiling measured first with a bare keep-alive request loop.
// Politeness is disabled (it would cap one host at 10 req/s by design) and the pages answer HIT, so no warming.
//   BENCH_SECONDS=4 (per measurement) BENCH_CONCURRENCY=16
import { type ChildProcess, spawn } from 'node:child_process';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { createCrawlContext } from '../src/crawler/crawl-context.ts';
import { crawlPage } from '../src/crawler/crawl-page.ts';
import { fetchUrl } from '../src/crawler/fetch.ts';
import { closeFetchPool } from '../src/crawler/fetch-pool.ts';
import { LinkExtractor } from '../src/crawler/links.ts';
import type { OpenUrl } from '../src/crawler/robots.ts';
import { readSitemaps } from '../src/crawler/sitemap.ts';
import { parseSitemap } from '../src/crawler/sitemap-parse.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const CHUNK = 64 * 1024;
const rows: Array<Record<string, string>> = [];

/** Runs `once` repeatedly for about SECONDS (after one warm-up call); returns calls and elapsed ms. */
async function repeat(once: () => Promise<void> | void): Promise<{ runs: number; ms: number }> {
  await once();
  const started = performance.now();
  let runs = 0;
  while (performance.now() - started < SECONDS * 1000) {
    await once();
    runs++;
  }
  return { runs, ms: performance.now() - started };
}

function chunks(buffer: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buffer.length; i += CHUNK) out.push(buffer.subarray(i, i + CHUNK));
  return out;
}

function bigHtml(links: number): Buffer {
  const parts = ['<!doctype html><html><head><title>Big</title><base href="/docs/"></head><body><nav>'];
  for (let i = 0; i < links; i++) {
    const href =
      i % 10 === 0
        ? `https://external-${i % 50}.example/path/${i}?utm_source=x`
        : i % 3 === 0
          ? `/section/${i % 200}/page-${i}.html?ref=${i}`
          : `page-${i}`;
    parts.push(
      `<div class="card"><p>Paragraph ${i} of filler text about blue banded bees.</p>` +
        `<a href="${href}" class="link">Link <b>${i}</b></a><img src="/img/${i}.png" alt=""></div>\n`,
    );
  }
  parts.push('</nav></body></html>');
  return Buffer.from(parts.join(''));
}

async function benchLinks(): Promise<void> {
  const html = bigHtml(40_000);
  const parts = chunks(html);
  let found = 0;
  const { runs, ms } = await repeat(() => {
    const extractor = new LinkExtractor('https://bench.example/docs/index.html');
    for (const part of parts) extractor.write(part);
    found = extractor.end().links.length;
  });
  const mb = html.length / 1e6;
  rows.push({
    measurement: 'link extraction',
    input: `${mb.toFixed(1)} MB HTML, ${found} unique links`,
    result: `${((mb * runs) / (ms / 1000)).toFixed(1)} MB/s`,
    detail: `${Math.round((found * runs) / (ms / 1000)).toLocaleString('en')} links/s`,
  });
}

function bigSitemap(urls: number): Buffer {
  const parts = [
    '<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n',
  ];
  for (let i = 0; i < urls; i++) {
    parts.push(
      `<url><loc>https://bench.example/products/category-${i % 97}/item-${i}</loc>` +
        `<lastmod>2025-0${(i % 9) + 1}-1${i % 10}</lastmod><priority>0.${i % 10}</priority></url>\n`,
    );
  }
  parts.push('</urlset>\n');
  return Buffer.from(parts.join(''));
}

async function* stream(parts: Buffer[]): AsyncGenerator<Uint8Array> {
  yield* parts;
}

async function benchSitemap(): Promise<void> {
  const xml = bigSitemap(50_000);
  const parts = chunks(xml);
  const limits = { maxItems: 50_000, maxBytes: 50 * 1024 * 1024 };
  let items = 0;
  const parse = await repeat(async () => {
    items = 0;
    for await (const batch of parseSitemap(stream(parts), limits, () => {})) items += batch.length;
  });
  const input = `50,000 URLs, ${(xml.length / 1e6).toFixed(1)} MB`;
  const rate = (n: number, r: { runs: number; ms: number }) => Math.round((n * r.runs) / (r.ms / 1000));
  rows.push({
    measurement: 'sitemap parse',
    input,
    result: `${rate(items, parse).toLocaleString('en')} URLs/s`,
    detail: `${((xml.length * parse.runs) / 1e6 / (parse.ms / 1000)).toFixed(1)} MB/s`,
  });
  const open: OpenUrl = async (url) => ({ statusCode: 200, finalUrl: url, body: stream(parts) });
  let entries = 0;
  const walk = await repeat(async () => {
    entries = (await readSitemaps('https://bench.example/', { open, maxUrls: 1_000_000 })).entries.length;
  });
  rows.push({
    measurement: 'sitemap walk',
    input: `${input} (+ same-site, dedupe, sort)`,
    result: `${rate(entries, walk).toLocaleString('en')} URLs/s`,
    detail: `${entries.toLocaleString('en')} entries`,
  });
}

// The page server, run in a child process: ~20 KB HTML pages with 100 links each, cache HIT, keep-alive.
const SERVER = `
import http from 'node:http';
const links = Array.from({ length: 100 }, (_, i) => '<li><a href="/p/' + i + '">Page ' + i + '</a> text text</li>').join('');
const page = Buffer.from('<!doctype html><html><head><title>t</title></head><body><ul>' + links + '</ul>' + '<p>filler</p>'.repeat(1000) + '</body></html>');
const server = http.createServer((req, res) => {
  if (req.url === '/robots.txt') { res.writeHead(404); res.end(); return; }
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': page.length, 'cf-cache-status': 'HIT' });
  res.end(page);
});
server.keepAliveTimeout = 30000;
server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));
`;

async function startServer(): Promise<{ child: ChildProcess; origin: string }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', SERVER], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout!.once('data', (data: Buffer) => resolve(data.toString().trim()));
    child.once('exit', (code) => reject(new Error(`page server exited with ${code}`)));
  });
  return { child, origin: `http://127.0.0.1:${port}` };
}

/** `worker` in CONCURRENCY parallel loops for SECONDS; returns completed calls per second. */
async function throughput(worker: (i: number) => Promise<void>): Promise<number> {
  const deadline = performance.now() + SECONDS * 1000;
  let done = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, lane) => {
      for (let i = lane; performance.now() < deadline; i += CONCURRENCY) {
        await worker(i);
        done++;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}

async function benchPages(): Promise<void> {
  const { child, origin } = await startServer();
  try {
    const agent = new Agent({ connections: CONCURRENCY, keepAliveTimeout: 30_000 });
    const ceiling = await throughput(async (i) => {
      const res = await request(`${origin}/p/${i % 1000}`, { dispatcher: agent });
      await res.body.arrayBuffer();
    });
    await agent.close();
    const ctx = createCrawlContext(origin, {
      allowPrivateNetworks: true,
      politeness: { disabled: true },
    });
    const fetched = await throughput(async (i) => {
      await fetchUrl(`${origin}/p/${i % 1000}`, ctx.fetchOptions);
    });
    let links = 0;
    const crawled = await throughput(async (i) => {
      const result = await crawlPage(`${origin}/p/${i % 1000}`, ctx);
      if (result.error) throw result.error;
      links = result.internalLinks.length;
    });
    rows.push({
      measurement: 'server ceiling',
      input: `bare keep-alive GET loop, ${CONCURRENCY} in flight`,
      result: `${Math.round(ceiling).toLocaleString('en')} req/s`,
      detail: 'child-process node:http, 20 KB page',
    });
    rows.push({
      measurement: 'fetchUrl only',
      input: `timeouts, cap, SSRF-guarded pool, timing; no parsing`,
      result: `${Math.round(fetched).toLocaleString('en')} req/s`,
      detail: `${((fetched / ceiling) * 100).toFixed(0)}% of server ceiling`,
    });
    rows.push({
      measurement: 'crawlPage',
      input: `robots + fetch + cache status + ${links} links, ${CONCURRENCY} in flight`,
      result: `${Math.round(crawled).toLocaleString('en')} pages/s`,
      detail: `${((crawled / ceiling) * 100).toFixed(0)}% of server ceiling`,
    });
  } finally {
    child.kill();
    await closeFetchPool();
  }
}

const started = performance.now();
await benchLinks();
await benchSitemap();
await benchPages();
console.log(
  `\nCrawler benchmark — Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, ` +
    `${SECONDS} s per measurement, ${((performance.now() - started) / 1000).toFixed(0)} s total\n`,
);
console.table(rows);
