// A job's options: their defaults and bounds, each defined once. The job service and the API build their
// schemas from these (src/jobs/option-fields.ts), the CLI help quotes them, insertJob fills in from them, and
// the jobs table's CHECK constraints hold the same bounds (test/queue/job-options.test.ts keeps them equal).

export const JobOptionDefaults = {
  maxPages: 1000,
  concurrency: 4,
  useSitemap: true,
  findLinks: true,
  maxAttempts: 3,
} as const;

export const JobOptionLimits = {
  maxPages: { min: 1, max: 1_000_000 },
  concurrency: { min: 1, max: 200 },
  maxAttempts: { min: 1, max: 20 },
  /**
   * Include or exclude patterns: how many per list, and characters per pattern (src/crawler/filters.ts refuses
   * longer ones; matching costs grow with the pattern, see docs/url-filters.md). `maxTotalSize` bounds what
   * compiling a job's patterns costs, synchronous CPU on the API's event loop: each pattern counts its length,
   * the length of its RE2 translation and its program's estimated steps, at about 0.3 µs each, so a job's
   * validation stays under about 4 ms (npm run bench:filters, docs/url-filters.md#limits).
   */
  patterns: { max: 100, maxLength: 500, maxTotalSize: 10_000 },
} as const;

/** A job's max_pages when the request leaves it out: the default, or the plan's pages per job if lower. */
export function defaultMaxPages(planMaxPagesPerJob: number | undefined): number {
  return Math.min(JobOptionDefaults.maxPages, planMaxPagesPerJob ?? JobOptionDefaults.maxPages);
}
