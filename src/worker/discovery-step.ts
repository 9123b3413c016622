// A job's sitemap discovery, run by whichever worker claimed it: read the sitemaps, enqueue what they list
// (same site, through the job's filters, up to max_pages), then finish discovery. A sitemap that cannot be read
// still finishes discovery, since a job waits for discovery before it may complete.
import { discoverSitemapUrls, type SitemapDiscovery } from '../crawler/sitemap-discovery.ts';
import type { Sql } from '../db/client.ts';
import { finishDiscovery } from '../queue/discovery.ts';
import { SITEMAP_PRIORITY_BASE } from '../queue/job-service.ts';
import type { JobRow } from '../queue/jobs.ts';
import { enqueueUrls } from '../queue/tasks.ts';
import { withDbRetry } from './db-retry.ts';
import type { JobContexts } from './job-contexts.ts';
import type { WorkerEvent, WorkerStats } from './types.ts';

// enqueue_urls locks the job row for the call; moderate batches let the job's tasks be claimed in between.
const ENQUEUE_BATCH = 500;

export async function runDiscovery(
  job: JobRow,
  deps: {
    sql: Sql;
    workerId: string;
    contexts: JobContexts;
    stats: WorkerStats;
    signal: AbortSignal;
    emit: (event: WorkerEvent) => void;
  },
): Promise<void> {
  const { sql, signal, emit, stats } = deps;
  const onRetry = (err: unknown, waitMs: number) =>
    emit({ type: 'db_error', during: 'sitemap discovery', error: err, retryInMs: waitMs });
  const context = deps.contexts.fromRow(job);
  let found: SitemapDiscovery | undefined;
  let error: unknown;
  try {
    if (context instanceof Error) throw context;
    found = await discoverSitemapUrls(job.root_url, context.ctx, { maxUrls: job.max_pages, signal });
  } catch (err) {
    // Shutting down: leave discovery claimed; its lease expires and another worker runs it again.
    if (signal.aborted) return;
    error = err;
  }
  const tasks = found?.tasks ?? [];
  let enqueued = 0;
  try {
    for (let i = 0; i < tasks.length; i += ENQUEUE_BATCH) {
      const batch = tasks.slice(i, i + ENQUEUE_BATCH);
      const res = await withDbRetry(
        () =>
          enqueueUrls(
            sql,
            job.id,
            batch.map((t) => t.url),
            { source: 'sitemap', priorities: batch.map((t) => SITEMAP_PRIORITY_BASE + t.priority), depth: 0 },
          ),
        { signal, onRetry },
      );
      enqueued += res.inserted.length;
    }
    await withDbRetry(() => finishDiscovery(sql, job.id, deps.workerId), { signal, onRetry });
  } catch (err) {
    if (signal.aborted) return;
    // A statement error (the job was deleted meanwhile): nothing to finish; report it.
    emit({ type: 'error', during: 'sitemap discovery', error: err });
    return;
  }
  stats.discoveries++;
  stats.sitemapUrlsEnqueued += enqueued;
  emit({
    type: 'discovery',
    jobId: job.id,
    urls: enqueued,
    warnings: found?.warnings ?? [],
    ...(error === undefined ? {} : { error }),
  });
}
