import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import zlib from 'node:zlib';
import { CrawlError, PermanentCrawlError, RetryableCrawlError } from '../../src/crawler/errors.ts';
import { checkUrl, DEFAULT_USER_AGENT, fetchUrl, USER_AGENT_PRODUCT } from '../../src/crawler/fetch.ts';
import { errorForStatus, MAX_RETRY_AFTER_MS, parseRetryAfter } from '../../src/crawler/fetch-errors.ts';
import { closeFetchPool } from '../../src/crawler/fetch-pool.ts';
import type { FetchOptions } from '../../src/crawler/types.ts';
import { type FixtureSite, startFixtureSite } from '../support/fixture-site.ts';

const open: FetchOptions = { allowPrivateNetworks: true };
const MiB = 1024 * 1024;

async function rejectsWith(
  promise: Promise<unknown>,
  code: string,
  retryable?: boolean,
): Promise<CrawlError> {
  let caught: unknown;
  await assert.rejects(promise, (err) => {
    caught = err;
    return true;
  });
  assert.ok(caught instanceof CrawlError, `expected a CrawlError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (retryable !== undefined) assert.equal(caught.retryable, retryable);
  return caught;
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const page = `<html><body>${'Blue banded bees buzz. '.repeat(200)}</body></html>`;
let site: FixtureSite;
const bombClosed = deferred<number>();
const flowClosed = deferred<boolean>();
const declaredClosed = deferred<boolean>();

before(async () => {
  // 16 MiB of zeros gzips to ~16 KB; sending 64 such members is 1 GiB decompressed for ~1 MB on the wire.
  const bombMember = zlib.gzipSync(Buffer.alloc(16 * MiB), { level: 9 });
  site = await startFixtureSite((s) => {
    s.page('/', page);
    s.page('/missing', 'nope', {}, 404);
    s.route('/stall-headers', () => {});
    s.route('/stall-body', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.write('<html>partial');
    });
    s.route('/endless', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      const chunk = Buffer.alloc(16 * 1024, 'a');
      new Readable({
        read() {
          this.push(chunk);
        },
      }).pipe(res);
      res.on('close', () => flowClosed.resolve(res.writableFinished));
    });
    s.route('/declared-big', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html', 'content-length': String(50 * MiB) });
      res.write('<html>');
      res.on('close', () => declaredClosed.resolve(res.writableFinished));
    });
    s.route('/bomb', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html', 'content-encoding': 'gzip' });
      let sent = 0;
      // Never ends: a client that waits for the end before checking the size times out instead of passing.
      new Readable({
        read() {
          if (sent < 64) {
            sent++;
            this.push(bombMember);
          }
        },
      }).pipe(res);
      res.on('close', () => bombClosed.resolve(sent));
    });
    const encoded = (path: string, encoding: string, body: Buffer) =>
      s.route(path, (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-encoding': encoding });
        res.end(body);
      });
    encoded('/gzip', 'gzip', zlib.gzipSync(page));
    encoded('/br', 'br', zlib.brotliCompressSync(page));
    encoded('/deflate-zlib', 'deflate', zlib.deflateSync(page));
    encoded('/deflate-raw', 'deflate', zlib.deflateRawSync(page));
    encoded('/gzip-then-br', 'gzip, br', zlib.brotliCompressSync(zlib.gzipSync(page)));
    encoded('/corrupt-gzip', 'gzip', Buffer.from('this is not gzip at all'));
    const redirect = (from: string, status: number, to: string) =>
      s.route(from, (_req, res) => {
        res.writeHead(status, { location: to });
        res.end('moved');
      });
    redirect('/chain/start', 301, 'next');
    redirect('/chain/next', 302, '../final?x=1');
    s.page('/final', 'final page');
    redirect('/loop/a', 302, '/loop/b');
    redirect('/loop/b', 307, '/loop/a');
    s.routePrefix('/hop/', (req, res) => {
      const n = Number(req.url?.split('/')[2]);
      res.writeHead(302, { location: `/hop/${n + 1}` });
      res.end();
    });
    redirect('/to-ftp', 302, 'ftp://files.example/x');
    redirect('/to-bad', 302, 'http://exa mple.com:99999/');
    s.route('/no-head', (req, res) => {
      res.writeHead(req.method === 'HEAD' ? 405 : 200, { 'content-type': 'text/html' });
      res.end(req.method === 'HEAD' ? undefined : page);
    });
    s.route('/head-crash', (req, res) => {
      if (req.method === 'HEAD') req.socket.destroy();
      else res.end('ok');
    });
    s.route('/reset', (req) => req.socket.destroy());
    s.route('/slow-retry', (_req, res) => {
      res.writeHead(503, { 'retry-after': '7' });
      res.end();
    });
  });
});

after(async () => {
  await closeFetchPool();
  await site.stop();
});

describe('fetchUrl: requests and bodies', () => {
  test('sends our user agent, a browser-like Accept and Accept-Encoding', async () => {
    const result = await fetchUrl(site.url('/'), open);
    assert.equal(result.statusCode, 200);
    assert.equal(result.body.toString(), page);
    assert.equal(result.contentLength, Buffer.byteLength(page));
    assert.equal(result.contentType, 'text/html; charset=utf-8');
    const seen = site.requested('/').at(-1)!.headers;
    assert.match(
      seen['user-agent'] ?? '',
      /^BlueBandedBee\/\d+\.\d+\.\d+ \(\+https:\/\/bluebandedbee\.co\/bot\)$/,
    );
    assert.equal(seen['user-agent'], DEFAULT_USER_AGENT);
    assert.ok(DEFAULT_USER_AGENT.startsWith(`${USER_AGENT_PRODUCT}/`));
    assert.equal(seen['accept-encoding'], 'gzip, deflate, br');
    assert.equal(seen.accept, 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8');
  });

  test('user agent and extra headers are configurable', async () => {
    await fetchUrl(site.url('/?ua'), { ...open, userAgent: 'Custom/1.0', headers: { 'X-Probe': 'yes' } });
    const seen = site.requested('/?ua')[0]!.headers;
    assert.equal(seen['user-agent'], 'Custom/1.0');
    assert.equal(seen['x-probe'], 'yes');
  });

  for (const path of ['/gzip', '/br', '/deflate-zlib', '/deflate-raw', '/gzip-then-br']) {
    test(`decodes ${path.slice(1)} bodies`, async () => {
      const result = await fetchUrl(site.url(path), open);
      assert.equal(result.body.toString(), page);
      assert.equal(result.contentLength, Buffer.byteLength(page));
    });
  }

  test('a corrupt compressed body is malformed_response', async () => {
    await rejectsWith(fetchUrl(site.url('/corrupt-gzip'), open), 'malformed_response', false);
  });

  test('HEAD sends HEAD and returns no body', async () => {
    const result = await fetchUrl(site.url('/?head'), { ...open, method: 'HEAD' });
    assert.equal(result.statusCode, 200);
    assert.equal(result.body.length, 0);
    assert.equal(site.requested('/?head')[0]!.method, 'HEAD');
  });

  test('readBody: false discards the body but still counts it', async () => {
    const result = await fetchUrl(site.url('/gzip'), { ...open, readBody: false });
    assert.equal(result.body.length, 0);
    assert.equal(result.contentLength, Buffer.byteLength(page));
  });

  test('4xx and 5xx are returned, not thrown', async () => {
    assert.equal((await fetchUrl(site.url('/missing'), open)).statusCode, 404);
    const unavailable = await fetchUrl(site.url('/slow-retry'), open);
    assert.equal(unavailable.statusCode, 503);
    const err = errorForStatus(unavailable);
    assert.ok(err instanceof RetryableCrawlError);
    assert.equal(err.code, 'http_5xx');
    assert.equal(err.retryAfterMs, 7000);
  });
});

describe('fetchUrl: caps', () => {
  test('a body over maxBodyBytes fails with too_large and the connection is cut', async () => {
    await rejectsWith(fetchUrl(site.url('/endless'), { ...open, maxBodyBytes: 200_000 }), 'too_large', false);
    assert.equal(await flowClosed.promise, false, 'server saw the client hang up mid-body');
  });

  test('a Content-Length over the cap fails at once, before the body arrives', async () => {
    const options = { ...open, maxBodyBytes: MiB, bodyTimeoutMs: 4_000 };
    await rejectsWith(fetchUrl(site.url('/declared-big'), options), 'too_large', false);
    assert.equal(await declaredClosed.promise, false, 'server saw the client hang up');
  });

  test('a gzip bomb is rejected with too_large without inflating it', async () => {
    const started = performance.now();
    await rejectsWith(fetchUrl(site.url('/bomb'), { ...open, bodyTimeoutMs: 4_000 }), 'too_large', false);
    assert.ok(performance.now() - started < 2_000, 'rejected long before 1 GiB could be inflated');
    const membersQueued = await bombClosed.promise;
    assert.ok(membersQueued <= 64);
  });
});

describe('fetchUrl: redirects', () => {
  test('follows a chain with relative Locations and records every hop', async () => {
    const result = await fetchUrl(site.url('/chain/start'), open);
    assert.equal(result.statusCode, 200);
    assert.equal(result.url, site.url('/chain/start'));
    assert.equal(result.finalUrl, site.url('/final?x=1'));
    assert.equal(result.body.toString(), 'final page');
    assert.deepEqual(result.redirects, [
      { url: site.url('/chain/start'), statusCode: 301, location: site.url('/chain/next') },
      { url: site.url('/chain/next'), statusCode: 302, location: site.url('/final?x=1') },
    ]);
  });

  test('detects a loop', async () => {
    await rejectsWith(fetchUrl(site.url('/loop/a'), open), 'redirect_loop', false);
    assert.equal(site.requested('/loop/a').length, 1);
    assert.equal(site.requested('/loop/b').length, 1);
  });

  test('stops after maxRedirects', async () => {
    await rejectsWith(
      fetchUrl(site.url('/hop/0'), { ...open, maxRedirects: 3 }),
      'too_many_redirects',
      false,
    );
    assert.deepEqual(
      site.requests.filter((r) => r.path.startsWith('/hop/')).map((r) => r.path),
      ['/hop/0', '/hop/1', '/hop/2', '/hop/3'],
    );
  });

  test('followRedirects: false returns the 3xx itself', async () => {
    const result = await fetchUrl(site.url('/chain/start?raw'), { ...open, followRedirects: false });
    assert.equal(result.statusCode, 301);
    assert.equal(result.headers.location, 'next');
    assert.deepEqual(result.redirects, []);
  });

  test('refuses non-http redirect targets and invalid Locations', async () => {
    await rejectsWith(fetchUrl(site.url('/to-ftp'), open), 'unsupported_protocol', false);
    await rejectsWith(fetchUrl(site.url('/to-bad'), open), 'invalid_url', false);
  });

  test('credentials are not forwarded to another origin', async () => {
    const other = await startFixtureSite((s) => s.page('/landing', 'ok'));
    try {
      site.route('/to-other', (_req, res) => {
        res.writeHead(302, { location: other.url('/landing') });
        res.end();
      });
      await fetchUrl(site.url('/to-other'), {
        ...open,
        headers: { Authorization: 'Bearer x', 'X-Keep': '1' },
      });
      assert.equal(site.requested('/to-other')[0]!.headers.authorization, 'Bearer x');
      const landed = other.requested('/landing')[0]!.headers;
      assert.equal(landed.authorization, undefined);
      assert.equal(landed['x-keep'], '1');
    } finally {
      await other.stop();
    }
  });
});

// Independent stalls, so they wait out their timeouts side by side.
describe('fetchUrl: timeouts', { concurrency: true }, () => {
  test('server accepts but never sends headers → timeout_headers', async () => {
    await rejectsWith(
      fetchUrl(site.url('/stall-headers'), { ...open, headersTimeoutMs: 150 }),
      'timeout_headers',
      true,
    );
  });

  test('headers then a stalled body → timeout_body', async () => {
    await rejectsWith(
      fetchUrl(site.url('/stall-body'), { ...open, bodyTimeoutMs: 150 }),
      'timeout_body',
      true,
    );
  });

  test('overall deadline → timeout_total', async () => {
    await rejectsWith(
      fetchUrl(site.url('/stall-headers?total'), { ...open, headersTimeoutMs: 5_000, totalTimeoutMs: 150 }),
      'timeout_total',
      true,
    );
  });

  test('DNS that never answers → timeout_connect', async () => {
    const resolver = () => new Promise<never>(() => {});
    await rejectsWith(
      fetchUrl('http://never.test/', { ...open, resolver, connectTimeoutMs: 150 }),
      'timeout_connect',
      true,
    );
  });

  test('TLS handshake that never completes → timeout_connect', async () => {
    // A real TCP listener that accepts and then says nothing: the TLS ClientHello is never answered.
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => sockets.add(socket));
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const { port } = silent.address() as net.AddressInfo;
    try {
      await rejectsWith(
        fetchUrl(`https://127.0.0.1:${port}/`, { ...open, connectTimeoutMs: 150 }),
        'timeout_connect',
        true,
      );
      assert.equal(sockets.size, 1, 'the TCP connection itself was made');
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  test("the caller's AbortSignal aborts with its own reason", async () => {
    const controller = new AbortController();
    const reason = Object.assign(new Error('shutting down'), { code: 'ABORT_ERR' });
    const pending = fetchUrl(site.url('/stall-headers?abort'), { ...open, signal: controller.signal });
    controller.abort(reason);
    await assert.rejects(pending, (err) => err === reason);
  });
});

describe('fetchUrl: timing', () => {
  test('a fresh connection reports its phases; a reused keep-alive socket reports zeros', async () => {
    const fresh = await startFixtureSite((s) =>
      s.route('/port', (req, res) => res.end(String(req.socket.remotePort))),
    );
    try {
      const resolver = async () => {
        await new Promise((r) => setImmediate(r));
        return [{ address: '127.0.0.1', family: 4 }];
      };
      const url = `http://timing.test:${fresh.port}/port`;
      const first = await fetchUrl(url, { ...open, resolver });
      const second = await fetchUrl(url, { ...open, resolver });
      assert.equal(first.body.toString(), second.body.toString(), 'same client port: the socket was reused');
      for (const { timing } of [first, second]) {
        assert.ok(timing.dns + timing.connect + timing.tls <= timing.ttfb, JSON.stringify(timing));
        assert.ok(timing.ttfb <= timing.total, JSON.stringify(timing));
        assert.ok(timing.transfer <= timing.total, JSON.stringify(timing));
        assert.ok(timing.ttfb + timing.transfer <= timing.total + 0.01, JSON.stringify(timing));
      }
      assert.ok(first.timing.dns > 0, JSON.stringify(first.timing));
      assert.ok(first.timing.connect > 0, JSON.stringify(first.timing));
      assert.equal(first.timing.tls, 0);
      assert.deepEqual([second.timing.dns, second.timing.connect, second.timing.tls], [0, 0, 0]);
      assert.ok(second.timing.ttfb > 0);
    } finally {
      await fresh.stop();
    }
  });

  test('total spans every redirect hop', async () => {
    const result = await fetchUrl(site.url('/chain/start?timing'), open);
    assert.ok(result.timing.total >= result.timing.ttfb + result.timing.transfer);
  });
});

describe('fetchUrl: failures', () => {
  test('invalid URL strings and other schemes fail permanently with clear messages', async () => {
    const bad = await rejectsWith(fetchUrl('not a url'), 'invalid_url', false);
    assert.match(bad.message, /"not a url" is not a valid absolute http\(s\) URL/);
    await rejectsWith(fetchUrl('ftp://example.com/file'), 'unsupported_protocol', false);
  });

  test('connection refused', async () => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as net.AddressInfo;
    await new Promise((r) => server.close(r));
    await rejectsWith(fetchUrl(`http://127.0.0.1:${port}/`, open), 'connection_refused', true);
  });

  test('socket closed without a response', async () => {
    const err = await rejectsWith(fetchUrl(site.url('/reset'), open), 'connection_reset', true);
    assert.equal(err.url, site.url('/reset'));
  });

  test('DNS failure', async () => {
    const resolver = async (host: string) => {
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    };
    await rejectsWith(fetchUrl('http://nowhere.test/', { ...open, resolver }), 'dns_failure', true);
  });

  test('a non-HTTP reply is malformed_response', async () => {
    const server = net.createServer((socket) => socket.end('SSH-2.0-OpenSSH_9.6\r\n\r\n'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as net.AddressInfo;
    try {
      await rejectsWith(fetchUrl(`http://127.0.0.1:${port}/`, open), 'malformed_response', false);
    } finally {
      server.close();
    }
  });

  test('an untrusted certificate is tls_error', async () => {
    const { createServer } = await import('node:https');
    const server = createServer({ key: TEST_KEY, cert: TEST_CERT }, (_req, res) => res.end('secret'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as net.AddressInfo;
    try {
      await rejectsWith(fetchUrl(`https://127.0.0.1:${port}/`, open), 'tls_error', false);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('checkUrl', () => {
  test('falls back to GET when HEAD is not allowed', async () => {
    const result = await checkUrl(site.url('/no-head'), open);
    assert.equal(result.statusCode, 200);
    assert.deepEqual(
      site.requested('/no-head').map((r) => r.method),
      ['HEAD', 'GET'],
    );
  });

  test('falls back to GET when HEAD fails on the network', async () => {
    const result = await checkUrl(site.url('/head-crash'), open);
    assert.equal(result.statusCode, 200);
    assert.deepEqual(
      site.requested('/head-crash').map((r) => r.method),
      ['HEAD', 'GET'],
    );
  });

  test('keeps a definitive HEAD answer', async () => {
    const result = await checkUrl(site.url('/missing?check'), open);
    assert.equal(result.statusCode, 404);
    assert.deepEqual(
      site.requested('/missing?check').map((r) => r.method),
      ['HEAD'],
    );
  });
});

describe('status helpers', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');

  test('parseRetryAfter understands delta-seconds and HTTP-dates', () => {
    assert.equal(parseRetryAfter('120', now), 120_000);
    assert.equal(parseRetryAfter(' 0 ', now), 0);
    assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:01:30 GMT', now), 90_000);
    assert.equal(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now), 0, 'a past date means now');
    assert.equal(parseRetryAfter('-5', now), undefined);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter('1.5', now), undefined);
    assert.equal(parseRetryAfter(undefined, now), undefined);
  });

  test('parseRetryAfter caps what a site may ask for', () => {
    assert.equal(parseRetryAfter('86400', now), MAX_RETRY_AFTER_MS);
    assert.equal(parseRetryAfter('99999999999999999999', now), MAX_RETRY_AFTER_MS, 'beyond any integer type');
    assert.equal(parseRetryAfter('Fri, 31 Dec 9999 23:59:59 GMT', now), MAX_RETRY_AFTER_MS);
  });

  test('errorForStatus maps statuses to retryable or permanent errors', () => {
    const at = (statusCode: number, headers: Record<string, string> = {}) =>
      errorForStatus({ statusCode, headers, finalUrl: 'https://example.com/x' });
    for (const ok of [200, 204, 301, 304]) assert.equal(at(ok), undefined);
    const cases: Array<[number, string, boolean]> = [
      [500, 'http_5xx', true],
      [502, 'http_5xx', true],
      [599, 'http_5xx', true],
      [408, 'http_408', true],
      [429, 'http_429', true],
      [400, 'http_4xx', false],
      [403, 'http_4xx', false],
      [404, 'http_4xx', false],
      [410, 'http_4xx', false],
    ];
    for (const [status, code, retryable] of cases) {
      const err = at(status);
      assert.ok(err, `status ${status}`);
      assert.equal(err.code, code);
      assert.equal(err.retryable, retryable);
      assert.equal(err.statusCode, status);
      assert.equal(err.url, 'https://example.com/x');
      assert.ok(retryable ? err instanceof RetryableCrawlError : err instanceof PermanentCrawlError);
    }
    const limited = at(429, { 'retry-after': '30' });
    assert.ok(limited instanceof RetryableCrawlError);
    assert.equal(limited.retryAfterMs, 30_000);
    const dated = errorForStatus({
      statusCode: 503,
      headers: { 'retry-after': new Date(Date.now() + 60_000).toUTCString() },
    });
    assert.ok(dated instanceof RetryableCrawlError);
    assert.ok(dated.retryAfterMs! > 55_000 && dated.retryAfterMs! <= 60_000, String(dated.retryAfterMs));
  });
});

// Self-signed for 127.0.0.1 and localhost, valid until 2126; only ever presented to our own client.
const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgLd3MmjZsrkaT/qkO
ZD8lWGglThcKJwlBTI+wFM+GZhKhRANCAARI1qwohNaOt3A+e3upe58v0tPO8/4f
1ERObqBx3tJnW2XD+2pc7hV1N0+ITM0vE+cDeo+mSnC7CHuDhtqRNjWA
-----END PRIVATE KEY-----
`;
const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBmjCCAUCgAwIBAgITSavAYelMVucf7FS+WVTfXJ+zRDAKBggqhkjOPQQDAjAU
MRIwEAYDVQQDDAlsb2NhbGhvc3QwIBcNMjYxMTI1MTQ0MTU4WhgPMjEyNjExMDEx
NDQxNThaMBQxEjAQBgNVBAMMCWxvY2FsaG9zdDBZMBMGByqGSM49AgEGCCqGSM49
AwEHA0IABEjWrCiE1o63cD57e6l7ny/S087z/h/URE5uoHHe0mdbZcP7alzuFXU3
T4hMzS8T5wN6j6ZKcLsIe4OG2pE2NYCjbzBtMB0GA1UdDgQWBBRjffGhnlVwWU3s
jBNiKJ0GbfelYDAfBgNVHSMEGDAWgBRjffGhnlVwWU3sjBNiKJ0GbfelYDAPBgNV
HRMBAf8EBTADAQH/MBoGA1UdEQQTMBGHBH8AAAGCCWxvY2FsaG9zdDAKBggqhkjO
PQQDAgNIADBFAiEA9QlxowrZqDIlBQKdMpMAxmiCmbQNvTYpVtBCuMBx0osCIHcB
2w58BkD4Vi2QIog89rKRxzkRWXQ/bHEGbrb/oPFj
-----END CERTIFICATE-----
`;
