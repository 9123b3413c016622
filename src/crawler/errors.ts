// Crawl errors decide what the queue does next: a RetryableCrawlError sends the task back to pending with
// backoff (honouring retryAfterMs), a PermanentCrawlError fails it at once. `code` is stable and stored with
// the task, so add codes rather than renaming them.

export type RetryableCode =
  | 'timeout_connect'
  | 'timeout_headers'
  | 'timeout_body'
  | 'timeout_total'
  | 'connection_reset'
  | 'connection_refused'
  | 'dns_failure'
  | 'http_5xx'
  | 'http_408'
  | 'http_429'
  | 'network_error';

export type PermanentCode =
  | 'http_4xx'
  | 'invalid_url'
  | 'robots_disallowed'
  | 'ssrf_blocked'
  | 'too_large'
  | 'unsupported_content'
  | 'too_many_redirects'
  | 'redirect_loop'
  | 'unsupported_protocol'
  | 'malformed_response'
  | 'tls_error';

export type CrawlErrorCode = RetryableCode | PermanentCode;

export abstract class CrawlError extends Error {
  abstract readonly retryable: boolean;
  abstract readonly code: string;
  /** HTTP status when the error came from a response. */
  readonly statusCode: number | undefined;
  readonly url: string | undefined;

  constructor(message: string, options: { statusCode?: number; url?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.statusCode = options.statusCode;
    this.url = options.url;
  }
}

export class RetryableCrawlError extends CrawlError {
  override name = 'RetryableCrawlError';
  readonly retryable = true;
  readonly code: RetryableCode;
  /** From Retry-After, when the server sent one. */
  readonly retryAfterMs: number | undefined;

  constructor(
    code: RetryableCode,
    message: string,
    options: { statusCode?: number; url?: string; cause?: unknown; retryAfterMs?: number } = {},
  ) {
    super(message, options);
    this.code = code;
    this.retryAfterMs = options.retryAfterMs;
  }
}

export class PermanentCrawlError extends CrawlError {
  override name = 'PermanentCrawlError';
  readonly retryable = false;
  readonly code: PermanentCode;

  constructor(
    code: PermanentCode,
    message: string,
    options: { statusCode?: number; url?: string; cause?: unknown } = {},
  ) {
    super(message, options);
    this.code = code;
  }
}

export function isCrawlError(err: unknown): err is CrawlError {
  return err instanceof CrawlError;
}
