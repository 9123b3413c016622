// RE2 matches in time linear in the URL, but also in the size of the patterns (docs/url-filters.md#the-engine):
// a job whose patterns are built to defeat RE2's cache of states can take 0.1–0.25 s per 2 KB URL, on the event
// loop that also serves the API in `bbb serve`. Everyday patterns take microseconds. So a job's filter that
// keeps being slow stops: from then on it admits no URL, and the worker fails the job's remaining tasks with
// the reason (src/worker/job-contexts.ts). Its cost to everyone else is bounded by one budget per job context.
import { performance } from 'node:perf_hooks';
import type { FilterResult, UrlFilter } from './filters.ts';

export interface FilterGuardOptions {
  /** A match slower than this counts against the budget. Everyday filters take microseconds per URL. */
  slowMatchMs: number;
  /** The filter stops once its slow matches add up to more than this. */
  slowBudgetMs: number;
}

/**
 * 20 ms is a thousand times an everyday match on a 2 KB URL, so only a hostile list (or a garbage collection
 * landing inside a match, many times over) counts; 200 ms is the most one job's filter may hold the event loop.
 */
export const FilterGuardDefaults: FilterGuardOptions = { slowMatchMs: 20, slowBudgetMs: 200 };

export class FiltersTooSlowError extends Error {
  override name = 'FiltersTooSlowError';
}

/** A filter that can stop itself; `stoppedBy` says why once it has. */
export interface GuardedFilter extends UrlFilter {
  readonly stoppedBy: FiltersTooSlowError | undefined;
}

const STOPPED: FilterResult = { ok: false, reason: 'filters_too_slow' };

export function guardFilter(
  inner: UrlFilter,
  options: FilterGuardOptions = FilterGuardDefaults,
  now: () => number = () => performance.now(),
): GuardedFilter {
  let slowMs = 0;
  let slowest = 0;
  let stoppedBy: FiltersTooSlowError | undefined;
  return {
    get stoppedBy() {
      return stoppedBy;
    },
    test(url: string): FilterResult {
      if (stoppedBy) return STOPPED;
      const started = now();
      const verdict = inner.test(url);
      const took = now() - started;
      if (took >= options.slowMatchMs) {
        slowMs += took;
        slowest = Math.max(slowest, took);
        if (slowMs > options.slowBudgetMs) {
          stoppedBy = new FiltersTooSlowError(
            `the include/exclude patterns took up to ${Math.round(slowest)} ms to match one URL ` +
              `(${Math.round(slowMs)} ms in all), so the crawl was stopped; use fewer or simpler patterns ` +
              '(see docs/url-filters.md)',
          );
        }
      }
      return verdict;
    },
  };
}
