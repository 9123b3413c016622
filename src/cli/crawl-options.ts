// Turns `bbb crawl` flags into job options and checks them before any database starts, so a typo costs
// milliseconds, not an embedded PostgreSQL start-up. The job service's own schema does the checking; this
// file only translates its field names back into the flags the user typed.
import { randomUUID } from 'node:crypto';
import { InvalidArgumentError } from 'commander';
import { type JobOptions, JobValidationError, validateJobOptions } from '../jobs/job-service.ts';
import type { ReportFormat } from '../report/index.ts';
import { UsageError } from './errors.ts';

export interface CrawlFlags {
  maxPages?: number;
  concurrency?: number;
  sitemap: boolean;
  links: boolean;
  include?: string[];
  exclude?: string[];
  format: ReportFormat;
  output?: string;
  timeout?: number;
  dataDir?: string;
}

const FLAG_FOR_FIELD: Record<string, string> = {
  url: '<url>',
  maxPages: '--max-pages',
  concurrency: '--concurrency',
  include: '--include',
  exclude: '--exclude',
};

/** Commander parser for whole-number flags; the range is checked by the job schema or the caller. */
export function integerArg(value: string): number {
  if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError('give a whole number, e.g. 100.');
  return Number(value);
}

export function jobOptionsFromFlags(url: string, flags: CrawlFlags): Omit<JobOptions, 'organisationId'> {
  return {
    url,
    source: 'cli',
    ...(flags.maxPages !== undefined ? { maxPages: flags.maxPages } : {}),
    ...(flags.concurrency !== undefined ? { concurrency: flags.concurrency } : {}),
    useSitemap: flags.sitemap,
    findLinks: flags.links,
    include: flags.include ?? [],
    exclude: flags.exclude ?? [],
  };
}

/** Throws UsageError naming each bad flag; returns the options the job will be created with. */
export function checkCrawlFlags(url: string, flags: CrawlFlags): ReturnType<typeof validateJobOptions> {
  if (flags.timeout !== undefined && flags.timeout < 1) {
    throw new UsageError('--timeout: give the number of seconds to wait, at least 1 (or leave it out).');
  }
  try {
    // The organisation is only known once the database is open; any UUID passes the same checks.
    return validateJobOptions({ ...jobOptionsFromFlags(url, flags), organisationId: randomUUID() });
  } catch (err) {
    if (!(err instanceof JobValidationError)) throw err;
    throw new UsageError(describeIssues(err));
  }
}

export function describeIssues(err: JobValidationError): string {
  const lines = err.issues.map((issue) => {
    const field = issue.path.split('.')[0] ?? '';
    const flag = FLAG_FOR_FIELD[field] ?? field;
    return `  ${flag ? `${flag}: ` : ''}${issue.message}`;
  });
  return `Invalid crawl options:\n${lines.join('\n')}`;
}
