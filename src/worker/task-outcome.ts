// Turns what crawlPage found into what the queue stores: a complete_tasks entry, or a fail_tasks entry whose
// `retryable` comes from the crawl error's type; plus the page's internal links to enqueue first.

import type { PageCrawlResult } from '../crawler/crawl-page.ts';
import { RetryableCrawlError } from '../crawler/errors.ts';
import { errorMessage } from '../errors.ts';
import { linkPriority } from '../queue/priorities.ts';
import type { WorkerErrorCode } from '../queue/task-error-codes.ts';
import type { ClaimedTask, TaskFailure, TaskResult } from '../queue/tasks.ts';

export interface DiscoveredLinks {
  jobId: string;
  urls: string[];
  foundOn: string;
  depth: number;
  priority: number;
}

/** One finished crawl waiting to be written. `links` go in before the result (see BatchWriter). */
export interface TaskOutcome {
  task: ClaimedTask;
  links: DiscoveredLinks | undefined;
  result: TaskResult | undefined;
  failure: TaskFailure | undefined;
}

const orNull = <T>(value: T | undefined): T | null => (value === undefined ? null : value);

export function outcomeFor(task: ClaimedTask, page: PageCrawlResult, findLinks: boolean): TaskOutcome {
  const base = {
    id: task.id,
    attempt: task.attempts,
    status_code: orNull(page.statusCode ?? page.error?.statusCode),
    response_time_ms: orNull(page.responseTimeMs === undefined ? undefined : Math.round(page.responseTimeMs)),
    timing: page.timing ? { ...page.timing } : null,
    cache_status: orNull(page.cacheStatus),
    redirect_url: orNull(page.redirectUrl),
    content_type: orNull(page.contentType),
    content_length: orNull(page.contentLength),
  };
  if (page.error) {
    const err = page.error;
    return {
      task,
      links: undefined,
      result: undefined,
      failure: {
        ...base,
        retryable: err.retryable,
        error_code: err.code,
        error_message: err.message,
        retry_after_ms: err instanceof RetryableCrawlError ? orNull(err.retryAfterMs) : null,
      },
    };
  }
  const depth = task.depth + 1;
  const urls = findLinks ? [...new Set(page.internalLinks.map((l) => l.url))] : [];
  return {
    task,
    links:
      urls.length > 0
        ? { jobId: task.job_id, urls, foundOn: task.url, depth, priority: linkPriority(depth) }
        : undefined,
    result: {
      ...base,
      warm_cache_status: orNull(page.warmCacheStatus),
      warm_attempts: page.warmAttempts.length,
      warm_response_time_ms: orNull(
        page.warmResponseTimeMs === undefined ? undefined : Math.round(page.warmResponseTimeMs),
      ),
      warm_results: page.warmAttempts.length > 0 ? page.warmAttempts : null,
    },
    failure: undefined,
  };
}

/** A task the worker could not run for a reason of its own (a bug, a job it cannot build a context for). */
export function workerFailure(
  task: ClaimedTask,
  code: WorkerErrorCode,
  err: unknown,
  retryable: boolean,
): TaskOutcome {
  return {
    task,
    links: undefined,
    result: undefined,
    failure: {
      id: task.id,
      attempt: task.attempts,
      retryable,
      error_code: code,
      error_message: errorMessage(err),
    },
  };
}
