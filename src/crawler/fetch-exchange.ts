// One request through to its final response's headers: manual redirects (each hop visible, SSRF-checked and
// loop-checked), the total deadline and the caller's abort signal. What happens to the body is the caller's.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { setImmediate as nextLoopTurn } from 'node:timers/promises';
import { discardBody } from './decompress.ts';
import { isCrawlError, PermanentCrawlError, RetryableCrawlError } from './errors.ts';
import { classifyFetchError } from './fetch-errors.ts';
import { HopHandler, type HopResponse } from './fetch-hop.ts';
import {
  CREDENTIAL_HEADERS,
  FETCH_DEFAULTS,
  REDIRECT_BODY_LIMIT,
  REDIRECT_STATUSES,
  type Settings,
} from './fetch-settings.ts';
import { socketHost } from './ssrf.ts';
import type { FetchOptions, RedirectHop } from './types.ts';

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

/**
 * A request whose final (non-redirect) response headers have arrived. The total deadline and the caller's
 * signal stay armed, aborting the body too, until close(); fail() turns anything thrown meanwhile into the
 * crawl error the task stores.
 */
export interface Exchange {
  requested: string;
  url: URL;
  res: HopResponse;
  hop: HopHandler;
  redirects: RedirectHop[];
  started: number;
  hopStarted: number;
  close(): void;
  fail(err: unknown): unknown;
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

/** Sends the request and follows redirects up to the final response's headers; the body is the caller's. */
export async function openExchange(requested: string, options: FetchOptions, s: Settings): Promise<Exchange> {
  const started = performance.now();
  const runState = new Run();
  const totalTimeoutMs = options.totalTimeoutMs ?? FETCH_DEFAULTS.totalTimeoutMs;
  const deadline = setTimeout(
    () =>
      runState.abort(
        new RetryableCrawlError('timeout_total', `Request took longer than ${totalTimeoutMs} ms in total`),
      ),
    totalTimeoutMs,
  );
  // An abandoned streamed body must not keep the process alive until its deadline; its socket does that.
  deadline.unref();
  const onCallerAbort = () => runState.abort(options.signal?.reason ?? new Error('aborted'));
  const close = () => {
    clearTimeout(deadline);
    options.signal?.removeEventListener('abort', onCallerAbort);
  };
  let url: URL | undefined;
  const fail = (err: unknown): unknown => {
    // The caller's own abort reason is theirs to interpret; pass it through untouched.
    if (runState.reason && !isCrawlError(runState.reason)) return runState.reason;
    return classifyFetchError(runState.reason ?? err, url?.href ?? requested);
  };
  if (options.signal?.aborted) onCallerAbort();
  options.signal?.addEventListener('abort', onCallerAbort, { once: true });

  const redirects: RedirectHop[] = [];
  let headers = s.headers;
  try {
    url = parseTarget(requested);
    const visited = new Set([withoutHash(url)]);
    for (;;) {
      if (runState.reason) throw runState.reason;
      // IP literals never reach DNS; refusing them here avoids even creating a pool for them.
      const host = socketHost(url.hostname);
      if (net.isIP(host) !== 0) s.policy.assertAllowed(host, host);
      const hopStarted = performance.now();
      const hop = sendHop(runState, s, url, headers);
      const res = await hop.response;
      const location = res.headers.location;
      if (!(s.followRedirects && REDIRECT_STATUSES.has(res.statusCode) && location !== undefined)) {
        return { requested, url, res, hop, redirects, started, hopStarted, close, fail };
      }
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
    }
  } catch (err) {
    close();
    throw fail(err);
  }
}

function withoutHash(url: URL): string {
  return url.href.replace(/#.*$/, '');
}

function withoutCredentials(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !CREDENTIAL_HEADERS.includes(name)));
}
