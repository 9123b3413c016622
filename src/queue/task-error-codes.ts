// Every tasks.error_code there is, in one list (docs/queue.md lists it too). Codes are stored with the task,
// so add codes rather than renaming them. They live at the queue, the lowest layer that stores them: the
// crawler's errors and the worker's failures take their codes from here, and the queue imports neither.

/** The site's, retryable: RetryableCrawlError (src/crawler/errors.ts). */
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

/** The site's, permanent: PermanentCrawlError (src/crawler/errors.ts). */
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

/** Why a task of the worker's own failed: not the site's doing. */
export type WorkerErrorCode = 'invalid_job' | 'worker_error' | 'worker_db_error' | 'result_rejected';

/** Written by the queue SQL itself: an expired lease with no attempt left, and a failure without a code. */
export type QueueErrorCode = 'lease_expired' | 'unknown';

export type TaskErrorCode = CrawlErrorCode | WorkerErrorCode | QueueErrorCode;
