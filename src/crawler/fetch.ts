// One HTTP request as the crawler sees it: pooled keep-alive connections, four separate timeouts, a hard body
// cap, manual redirects (so every hop is visible and SSRF-checked), and a per-phase timing breakdown.
// Responses are returned for every status; errorForStatus turns a status into a crawl error when wanted.
import diagnosticsChannel from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { setImmediate as nextLoopTurn } from 'node:timers/promises';
import { Agent, type Dispatcher } from 'undici';
import { type DecodedBody, discardBody, readBody } from './decompress.ts';
import {
  type CrawlError,
  isCrawlError,
  PermanentCrawlError,
  type RetryableCode,
  RetryableCrawlError,
} from './errors.ts';
import {
  type ConnectionTiming,
  claimConnectionTiming,
  guardedConnector,
  type Resolver,
  SsrfPolicy,
  socketHost,
  systemResolver,
} from './ssrf.ts';
import type { FetchOptions, FetchResult, RedirectHop, Timing } from './types.ts';

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version?: string;
  };
  return pkg.version ?? '0.0.0';
}

/** The product token robots.txt groups are matched against. */
export const USER_AGENT_PRODUCT = 'BlueBandedBee';
export const DEFAULT_USER_AGENT = `${USER_AGENT_PRODUCT}/${packageVersion()} (+https://bluebandedbee.co/bot)`;
export const DEFAULT_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
// Browser-like so CDNs cache (and we warm) the same compressed variant real visitors get.
export const DEFAULT_ACCEPT_ENCODING = 'gzip, deflate, br';

export const FETCH_DEFAULTS = {
  connectTimeoutMs: 10_000,
  headersTimeoutMs: 15_000,
  bodyTimeoutMs: 30_000,
  totalTimeoutMs: 60_000,
  maxBodyBytes: 10 * 1024 * 1024,
  maxRedirects: 10,
} as const;

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
// A redirect's own body is read (to keep the socket reusable) only while it is small.
const REDIRECT_BODY_LIMIT = 64 * 1024;
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];

// ---- connection pools --------------------------------------------------------------------------------------
// One Agent per (SSRF policy, connect timeout, resolver): a socket opened under a permissive policy must never
// be handed to a request made under a strict one, and the connector is where both are enforced.
const agents = new Map<string, Agent>();
const resolverIds = new WeakMap<Resolver, number>();
let nextResolverId = 1;

function agentFor(policy: SsrfPolicy, resolver: Resolver, connectTimeoutMs: number): Agent {
  let resolverId = resolverIds.get(resolver);
  if (resolverId === undefined) {
    resolverId = nextResolverId++;
    resolverIds.set(resolver, resolverId);
  }
  const key = `${policy.key}|${connectTimeoutMs}|${resolverId}`;
  let agent = agents.get(key);
  if (!agent) {
    agent = new Agent({
      connect: guardedConnector({ policy, resolver, timeoutMs: connectTimeoutMs }),
      keepAliveTimeout: 4_000,
      keepAliveMaxTimeout: 60_000,
    });
    agents.set(key, agent);
  }
  return agent;
}

/** Closes every pooled connection (waits for in-flight requests); lets tests and the CLI exit promptly. */
export async function closeFetchPool(): Promise<void> {
  const closing = [...agents.values()].map((agent) => agent.close());
  agents.clear();
  await Promise.all(closing);
}

// ---- one request/response on the wire ----------------------------------------------------------------------
interface HopResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: Readable;
  headersAt: number;
}

// undici publishes sendHeaders (with the socket) synchronously right after calling onRequestStart on the same
// request, so the hop that just started is the one being written: that is how a request learns its socket.
let startingHop: HopHandler | undefined;
diagnosticsChannel.subscribe('undici:client:sendHeaders', (message) => {
  const hop = startingHop;
  startingHop = undefined;
  const socket = (message as { socket?: net.Socket }).socket;
  if (!hop || !socket) return;
  const timing = claimConnectionTiming(socket);
  if (timing) hop.connection = timing;
});

interface HopLimits {
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
}

// The headers and body timeouts are kept here rather than left to undici, whose timers for these are coarse
// (about a second of slack), so a short timeout fires when it says.
class HopHandler implements Dispatcher.DispatchHandler {
  connection: ConnectionTiming = { dns: 0, connect: 0, tls: 0 };
  readonly response: Promise<HopResponse>;
  private controller: Dispatcher.DispatchController | undefined;
  private body: Readable | undefined;
  private ended = false;
  private failure: Error | undefined;
  private timer: NodeJS.Timeout | undefined;
  private resolve!: (response: HopResponse) => void;
  private reject!: (err: Error) => void;

  constructor(private readonly limits: HopLimits) {
    this.response = new Promise<HopResponse>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // The caller may abandon the promise (e.g. on total timeout); the rejection is still delivered to it.
    this.response.catch(() => {});
  }

  abort(reason: Error): void {
    this.failure ??= reason;
    clearTimeout(this.timer);
    if (this.controller && !this.controller.aborted) this.controller.abort(reason);
    this.reject(reason);
    this.body?.destroy(reason);
  }

  private arm(phase: 'headers' | 'body'): void {
    clearTimeout(this.timer);
    const ms = phase === 'headers' ? this.limits.headersTimeoutMs : this.limits.bodyTimeoutMs;
    const what = phase === 'headers' ? 'for response headers' : 'between body chunks';
    this.timer = setTimeout(
      () => this.abort(new RetryableCrawlError(`timeout_${phase}`, `Waited more than ${ms} ms ${what}`)),
      ms,
    );
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.failure) {
      controller.abort(this.failure);
      return;
    }
    startingHop = this;
    this.arm('headers');
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    if (statusCode < 200) return; // 1xx interim responses carry no final headers
    const headersAt = performance.now();
    this.arm('body');
    this.body = new Readable({
      read: () => {
        this.timer?.refresh();
        controller.resume();
      },
      destroy: (err, callback) => {
        clearTimeout(this.timer);
        // Dropping the body early (cap hit, redirect body too big) must close the socket, not keep reading.
        if (!this.ended && !controller.aborted) controller.abort(err ?? new Error('response body discarded'));
        callback(err);
      },
    });
    this.resolve({ statusCode, headers: flattenHeaders(headers), body: this.body, headersAt });
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.timer?.refresh();
    if (this.body && !this.body.push(chunk)) controller.pause();
  }

  onResponseEnd(): void {
    this.ended = true;
    clearTimeout(this.timer);
    this.body?.push(null);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.failure ??= err;
    clearTimeout(this.timer);
    if (this.body) this.body.destroy(err);
    else this.reject(err);
  }
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

// ---- the fetch -------------------------------------------------------------------------------------------------
type BodyMode = 'read' | 'drain' | 'skip';

interface Settings {
  method: 'GET' | 'HEAD';
  headers: Record<string, string>;
  agent: Agent;
  policy: SsrfPolicy;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  maxBodyBytes: number;
  maxRedirects: number;
  followRedirects: boolean;
  bodyMode: BodyMode;
}

function settingsFrom(options: FetchOptions, bodyMode: BodyMode): Settings {
  const policy = new SsrfPolicy(options);
  const headers: Record<string, string> = {
    'user-agent': options.userAgent ?? DEFAULT_USER_AGENT,
    accept: DEFAULT_ACCEPT,
    'accept-encoding': DEFAULT_ACCEPT_ENCODING,
  };
  for (const [name, value] of Object.entries(options.headers ?? {})) headers[name.toLowerCase()] = value;
  const connectTimeoutMs = options.connectTimeoutMs ?? FETCH_DEFAULTS.connectTimeoutMs;
  return {
    method: options.method ?? 'GET',
    headers,
    agent: agentFor(policy, options.resolver ?? systemResolver, connectTimeoutMs),
    policy,
    headersTimeoutMs: options.headersTimeoutMs ?? FETCH_DEFAULTS.headersTimeoutMs,
    bodyTimeoutMs: options.bodyTimeoutMs ?? FETCH_DEFAULTS.bodyTimeoutMs,
    maxBodyBytes: options.maxBodyBytes ?? FETCH_DEFAULTS.maxBodyBytes,
    maxRedirects: options.maxRedirects ?? FETCH_DEFAULTS.maxRedirects,
    followRedirects: options.followRedirects ?? true,
    bodyMode: options.method === 'HEAD' ? 'skip' : bodyMode,
  };
}

function parseTarget(raw: string, base?: URL): URL {
  let url: URL;
  try {
    url = new URL(raw, base);
  } catch (cause) {
    const what = base ? `Redirect Location "${raw}" (from ${base.href})` : `"${raw}"`;
    throw new PermanentCrawlError('invalid_url', `${what} is not a valid absolute http(s) URL`, {
      cause,
      url: raw,
    });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new PermanentCrawlError(
      'unsupported_protocol',
      `Only http and https can be fetched, not ${url.protocol}`,
      {
        url: url.href,
      },
    );
  }
  return url;
}

/** Tracks the overall deadline / caller abort and forwards it to whichever hop is in flight. */
class Run {
  reason: Error | undefined;
  current: HopHandler | undefined;
  abort(reason: Error): void {
    this.reason ??= reason;
    this.current?.abort(reason);
  }
}

function sendHop(run: Run, s: Settings, url: URL, headers: Record<string, string>): HopHandler {
  const hop = new HopHandler(s);
  run.current = hop;
  if (run.reason) hop.abort(run.reason);
  s.agent.dispatch(
    {
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method: s.method,
      headers,
      // 0 disables undici's own timers; HopHandler keeps precise ones.
      headersTimeout: 0,
      bodyTimeout: 0,
    },
    hop,
  );
  return hop;
}

async function run(requested: string, options: FetchOptions, bodyMode: BodyMode): Promise<FetchResult> {
  const started = performance.now();
  let url = parseTarget(requested);
  const s = settingsFrom(options, bodyMode);
  const runState = new Run();
  const totalTimeoutMs = options.totalTimeoutMs ?? FETCH_DEFAULTS.totalTimeoutMs;
  const deadline = setTimeout(
    () =>
      runState.abort(
        new RetryableCrawlError('timeout_total', `Request took longer than ${totalTimeoutMs} ms in total`),
      ),
    totalTimeoutMs,
  );
  const onCallerAbort = () => runState.abort(options.signal?.reason ?? new Error('aborted'));
  if (options.signal?.aborted) onCallerAbort();
  options.signal?.addEventListener('abort', onCallerAbort, { once: true });

  const redirects: RedirectHop[] = [];
  const visited = new Set([withoutHash(url)]);
  let headers = s.headers;
  try {
    for (;;) {
      if (runState.reason) throw runState.reason;
      // IP literals never reach DNS; refusing them here avoids even creating a pool for them.
      const host = socketHost(url.hostname);
      if (net.isIP(host) !== 0) s.policy.assertAllowed(host, host);
      const hopStarted = performance.now();
      const hop = sendHop(runState, s, url, headers);
      const res = await hop.response;
      const location = res.headers.location;
      if (s.followRedirects && REDIRECT_STATUSES.has(res.statusCode) && location !== undefined) {
        await discardBody(res.body, REDIRECT_BODY_LIMIT);
        await nextLoopTurn();
        const next = parseTarget(location, url);
        if (redirects.length >= s.maxRedirects) {
          throw new PermanentCrawlError('too_many_redirects', `More than ${s.maxRedirects} redirects`, {
            url: requested,
          });
        }
        redirects.push({ url: url.href, statusCode: res.statusCode, location: next.href });
        if (visited.has(withoutHash(next))) {
          throw new PermanentCrawlError('redirect_loop', `Redirect loop: ${next.href} was already visited`, {
            url: requested,
          });
        }
        visited.add(withoutHash(next));
        // Credentials meant for one origin are not forwarded to another.
        if (next.origin !== url.origin) headers = withoutCredentials(headers);
        url = next;
        continue;
      }
      const decoded = await consumeBody(res, s);
      const ended = performance.now();
      // undici only returns a socket to the pool a full loop turn after the response ends (it guards against
      // servers that close despite keep-alive). Waiting that turn lets the caller's next request reuse it.
      if (s.bodyMode !== 'skip') await nextLoopTurn();
      return {
        url: requested,
        finalUrl: url.href,
        statusCode: res.statusCode,
        headers: res.headers,
        redirects,
        body: decoded.body,
        contentType: res.headers['content-type'],
        contentLength: decoded.length,
        timing: timingOf(hop.connection, started, hopStarted, res.headersAt, ended),
      };
    }
  } catch (err) {
    // The caller's own abort reason is theirs to interpret; pass it through untouched.
    if (runState.reason && !isCrawlError(runState.reason)) throw runState.reason;
    throw classify(runState.reason ?? err, url.href);
  } finally {
    clearTimeout(deadline);
    options.signal?.removeEventListener('abort', onCallerAbort);
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

function withoutHash(url: URL): string {
  return url.href.replace(/#.*$/, '');
}

function withoutCredentials(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !CREDENTIAL_HEADERS.includes(name)));
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

// ---- error classification -----------------------------------------------------------------------------------
const NETWORK_CODES: Record<string, RetryableCode> = {
  UND_ERR_CONNECT_TIMEOUT: 'timeout_connect',
  ETIMEDOUT: 'timeout_connect',
  UND_ERR_HEADERS_TIMEOUT: 'timeout_headers',
  UND_ERR_BODY_TIMEOUT: 'timeout_body',
  ECONNREFUSED: 'connection_refused',
  ECONNRESET: 'connection_reset',
  ECONNABORTED: 'connection_reset',
  EPIPE: 'connection_reset',
  UND_ERR_SOCKET: 'connection_reset',
  UND_ERR_CLOSED: 'connection_reset',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'connection_reset',
  ENOTFOUND: 'dns_failure',
  EAI_AGAIN: 'dns_failure',
  EAI_FAIL: 'dns_failure',
  EAI_NODATA: 'dns_failure',
  ENODATA: 'dns_failure',
};

function errorCode(err: unknown): string | undefined {
  if (err instanceof AggregateError && err.errors.length > 0) return errorCode(err.errors[0]);
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' ? code : undefined;
}

function classify(err: unknown, url: string): unknown {
  if (isCrawlError(err)) return err.url ? err : withUrl(err, url);
  const code = errorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  const detail = `${message} (${url})`;
  const name = err instanceof Error ? err.name : '';
  if (name === 'HTTPParserError' || code?.startsWith('HPE_') || code === 'UND_ERR_HEADERS_OVERFLOW') {
    return new PermanentCrawlError('malformed_response', detail, { url, cause: err });
  }
  if ((code === undefined && !/socket hang up/i.test(message)) || code === 'UND_ERR_INVALID_ARG') {
    // Not a network condition (most likely a bug or a bad header from the caller): let it surface as is.
    return err;
  }
  const retryable = code ? NETWORK_CODES[code] : 'connection_reset';
  if (retryable) return new RetryableCrawlError(retryable, detail, { url, cause: err });
  if (code && /CERT|^ERR_TLS_|^ERR_SSL_|^UNABLE_TO_/.test(code)) {
    return new PermanentCrawlError('tls_error', detail, { url, cause: err });
  }
  return new RetryableCrawlError('network_error', detail, { url, cause: err });
}

function withUrl(err: CrawlError, url: string): CrawlError {
  const options = { url, cause: err.cause, statusCode: err.statusCode };
  return err instanceof RetryableCrawlError
    ? new RetryableCrawlError(err.code, err.message, { ...options, retryAfterMs: err.retryAfterMs })
    : new PermanentCrawlError((err as PermanentCrawlError).code, err.message, options);
}

/** Milliseconds to wait from a Retry-After value (delta-seconds or HTTP-date); undefined when unusable. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  const trimmed = value?.trim();
  if (!trimmed) return undefined;
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at) || !/[a-z]/i.test(trimmed)) return undefined;
  return Math.max(0, at - now);
}

/** The crawl error an HTTP status amounts to: 5xx/408/429 retry (honouring Retry-After), other 4xx fail. */
export function errorForStatus(
  result: Pick<FetchResult, 'statusCode' | 'headers'> & Partial<Pick<FetchResult, 'finalUrl'>>,
): CrawlError | undefined {
  const { statusCode, headers } = result;
  const url = result.finalUrl;
  const where = url ? ` from ${url}` : '';
  const retryAfterMs = parseRetryAfter(headers['retry-after']);
  const retryable = (code: RetryableCode) =>
    new RetryableCrawlError(code, `HTTP ${statusCode}${where}`, { statusCode, url, retryAfterMs });
  if (statusCode >= 500 && statusCode <= 599) return retryable('http_5xx');
  if (statusCode === 408) return retryable('http_408');
  if (statusCode === 429) return retryable('http_429');
  if (statusCode >= 400 && statusCode <= 499) {
    return new PermanentCrawlError('http_4xx', `HTTP ${statusCode}${where}`, { statusCode, url });
  }
  return undefined;
}
