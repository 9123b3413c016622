// One HTTP request as the crawler sees it: pooled keep-alive connections, four separate timeouts, a hard body
// cap, manual redirects (so every hop is visible and SSRF-checked), and a per-phase timing breakdown.
// Responses are returned for every status; errorForStatus turns a status into a crawl error when wanted.
import { performance } from 'node:perf_hooks';
import { setImmediate as nextLoopTurn } from 'node:timers/promises';
import { type DecodedBody, readBody } from './decompress.ts';
import { PermanentCrawlError, RetryableCrawlError } from './errors.ts';
import { openExchange } from './fetch-exchange.ts';
import type { HopResponse } from './fetch-hop.ts';
import { type BodyMode, type Settings, settingsFrom } from './fetch-settings.ts';
import type { ConnectionTiming } from './ssrf-connector.ts';
import type { FetchOptions, FetchResult, Timing } from './types.ts';

export { errorForStatus, parseRetryAfter } from './fetch-errors.ts';
export { closeFetchPool } from './fetch-pool.ts';
export {
  DEFAULT_ACCEPT,
  DEFAULT_ACCEPT_ENCODING,
  DEFAULT_USER_AGENT,
  FETCH_DEFAULTS,
  USER_AGENT_PRODUCT,
} from './fetch-settings.ts';

async function run(requested: string, options: FetchOptions, bodyMode: BodyMode): Promise<FetchResult> {
  const s = settingsFrom(options, bodyMode);
  const ex = await openExchange(requested, options, s);
  try {
    const decoded = await consumeBody(ex.res, s);
    const ended = performance.now();
    // undici only returns a socket to the pool a full loop turn after the response ends (it guards against
    // servers that close despite keep-alive). Waiting that turn lets the caller's next request reuse it.
    if (s.bodyMode !== 'skip') await nextLoopTurn();
    return {
      url: requested,
      finalUrl: ex.url.href,
      statusCode: ex.res.statusCode,
      headers: ex.res.headers,
      redirects: ex.redirects,
      body: decoded.body,
      contentType: ex.res.headers['content-type'],
      contentLength: decoded.length,
      timing: timingOf(ex.hop.connection, ex.started, ex.hopStarted, ex.res.headersAt, ended),
    };
  } catch (err) {
    throw ex.fail(err);
  } finally {
    ex.close();
  }
}

async function consumeBody(res: HopResponse, s: Settings): Promise<DecodedBody> {
  if (s.bodyMode === 'skip') {
    res.body.destroy();
    return { body: Buffer.alloc(0), length: 0 };
  }
  // Fail before downloading anything when the server already says it is too big (on the wire ≤ decoded).
  const declared = Number(res.headers['content-length']);
  if (declared > s.maxBodyBytes) {
    res.body.destroy();
    throw new PermanentCrawlError(
      'too_large',
      `Content-Length ${declared} exceeds the ${s.maxBodyBytes}-byte cap`,
    );
  }
  return readBody(res.body, res.headers['content-encoding'], {
    maxBytes: s.maxBodyBytes,
    keep: s.bodyMode === 'read',
  });
}

function timingOf(
  conn: ConnectionTiming,
  started: number,
  hopStarted: number,
  headersAt: number,
  ended: number,
) {
  const ms = (value: number) => Math.max(0, Math.round(value * 1000) / 1000);
  // ttfb runs from the final hop's request being issued, so it includes that hop's dns/connect/tls;
  // total also includes earlier redirect hops.
  return {
    dns: ms(conn.dns),
    connect: ms(conn.connect),
    tls: ms(conn.tls),
    ttfb: ms(headersAt - hopStarted),
    transfer: ms(ended - headersAt),
    total: ms(ended - started),
  } satisfies Timing;
}

/** GET (or HEAD) a URL. Resolves for every HTTP status; rejects with a CrawlError for anything else. */
export function fetchUrl(url: string, options: FetchOptions = {}): Promise<FetchResult> {
  return run(url, options, options.readBody === false ? 'drain' : 'read');
}

/**
 * Link check: HEAD first, and GET when the server rejects HEAD (405/501) or HEAD fails on the network.
 * The GET's body is not read: headers answer the question, and the socket is closed instead.
 */
export async function checkUrl(
  url: string,
  options: Omit<FetchOptions, 'method'> = {},
): Promise<FetchResult> {
  try {
    const head = await run(url, { ...options, method: 'HEAD' }, 'skip');
    if (head.statusCode !== 405 && head.statusCode !== 501) return head;
  } catch (err) {
    if (!(err instanceof RetryableCrawlError)) throw err;
  }
  return run(url, { ...options, method: 'GET' }, 'skip');
}
