// Crawl errors decide what the queue does next: a RetryableCrawlError sends the task back to pending with
// backoff (honouring retryAfterMs), a PermanentCrawlError fails it at once. `code` is stored with the task; the
// codes are listed with every other task error code in src/queue/task-error-codes.ts.

import type { CrawlErrorCode, PermanentCode, RetryableCode } from '../queue/task-error-codes.ts';

export type { CrawlErrorCode, PermanentCode, RetryableCode };

export abstract class CrawlError extends Error {
  abstract readonly retryable: boolean;
  abstract readonly code: CrawlErrorCode;
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
