// What a failed fetch or an HTTP status means for the task: which network failures are worth retrying, and
// the retry delay a server asked for.
import { errorMessage } from '../errors.ts';
import {
  type CrawlError,
  isCrawlError,
  PermanentCrawlError,
  type RetryableCode,
  RetryableCrawlError,
} from './errors.ts';
import type { FetchResult } from './types.ts';

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

export function classifyFetchError(err: unknown, url: string): unknown {
  if (isCrawlError(err)) return err.url ? err : withUrl(err, url);
  const code = errorCode(err);
  const message = errorMessage(err);
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

/**
 * The longest Retry-After honoured: a site asking for more is retried on the queue's own curve instead, so no
 * site can park a task (or, through a huge number, a whole result batch) for longer. public.max_retry_after_ms()
 * in the queue SQL is the same figure; a test keeps the two equal.
 */
export const MAX_RETRY_AFTER_MS = 120_000;

/**
 * Retry-After as delay-seconds or an HTTP-date (RFC 9110 §10.2.3), capped at MAX_RETRY_AFTER_MS; undefined
 * when absent or invalid.
 */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Math.min(Number(v) * 1000, MAX_RETRY_AFTER_MS);
  // Every HTTP-date form starts with a day name; this keeps Date.parse from accepting things like "1.5".
  if (!/^[a-z]/i.test(v)) return undefined;
  // asctime dates carry no zone and would be read as local time.
  const at = Date.parse(/GMT|UTC|[+-]\d{4}$/i.test(v) ? v : `${v} GMT`);
  return Number.isNaN(at) ? undefined : Math.min(Math.max(0, at - now), MAX_RETRY_AFTER_MS);
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
