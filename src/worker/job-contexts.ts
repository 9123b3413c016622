// One CrawlContext per job (its root, filters and link-following), built from the job row on first use and
// cached. Every context shares the worker's RobotsCache and Politeness, so robots.txt is fetched once per
// origin and a host's budget is one budget whichever job's page is being fetched.
import {
  type CrawlContext,
  type CrawlOptions,
  createCrawlContext,
  type SharedCrawlState,
} from '../crawler/crawl-context.ts';
import type { Sql } from '../db/client.ts';
import type { JobRow } from '../queue/jobs.ts';
import { JobContextsCachedMax } from './defaults.ts';

export interface JobContext {
  ctx: CrawlContext;
  findLinks: boolean;
  maxPages: number;
}

type JobFields = Pick<
  JobRow,
  'id' | 'root_url' | 'include_patterns' | 'exclude_patterns' | 'find_links' | 'max_pages'
>;

export class JobContexts {
  private readonly cache = new Map<string, JobContext | Error>();

  constructor(
    private readonly sql: Sql,
    private readonly crawl: CrawlOptions,
    private readonly shared: Required<SharedCrawlState>,
  ) {}

  /** Undefined when the job no longer exists; an Error when its options cannot make a context. */
  async get(jobId: string): Promise<JobContext | Error | undefined> {
    const cached = this.cached(jobId);
    if (cached) return cached;
    const [row] = await this.sql<JobFields[]>`
      select id, root_url, include_patterns, exclude_patterns, find_links, max_pages
      from jobs where id = ${jobId}::uuid`;
    return row ? this.fromRow(row) : undefined;
  }

  fromRow(row: JobFields): JobContext | Error {
    const cached = this.cached(row.id);
    if (cached) return cached;
    let entry: JobContext | Error;
    try {
      const ctx = createCrawlContext(
        row.root_url,
        { ...this.crawl, filters: { include: row.include_patterns, exclude: row.exclude_patterns } },
        this.shared,
      );
      entry = { ctx, findLinks: row.find_links, maxPages: row.max_pages };
    } catch (err) {
      entry = err instanceof Error ? err : new Error(String(err));
    }
    if (this.cache.size >= JobContextsCachedMax) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(row.id, entry);
    return entry;
  }

  /**
   * A job whose filter stopped itself for being too slow (src/crawler/filter-guard.ts) gets no more work: from
   * then on its entry is that error, so its remaining tasks fail at once (invalid_job) saying why.
   */
  private cached(jobId: string): JobContext | Error | undefined {
    const entry = this.cache.get(jobId);
    const stopped = entry instanceof Error ? undefined : entry?.ctx.filter.stoppedBy;
    if (!stopped) return entry;
    this.cache.set(jobId, stopped);
    return stopped;
  }
}
