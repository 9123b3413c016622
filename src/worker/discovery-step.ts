// A job's sitemap discovery, run by whichever worker claimed it: read the sitemaps and enqueue what they list
// (same site, through the job's filters, up to max_pages) batch by batch as the walk goes, renewing the lease
// meanwhile, then finish discovery. A sitemap that cannot be read still finishes discovery, since a job waits
// for discovery before it may complete. Losing the lease (it expired and another worker took it over) stops
// the walk: that worker re-reads the sitemaps, and the enqueues it repeats are deduplicated.
import {
  discoverSitemapUrls,
  type SitemapDiscovery,
  type SitemapTask,
} from '../crawler/sitemap-discovery.ts';
import type { Sql } from '../db/client.ts';
import { extendDiscoveryLease, finishDiscovery } from '../queue/discovery.ts';
import type { JobRow } from '../queue/jobs.ts';
import { SITEMAP_PRIORITY_BASE } from '../queue/priorities.ts';
import { enqueueUrls } from '../queue/tasks.ts';
import { withDbRetry, withDeadline } from './db-retry.ts';
import { LeaseSecondsDefault, leaseRenewalMs, SitemapEnqueueBatchDefault } from './defaults.ts';
import type { JobContexts } from './job-contexts.ts';
import type { WorkerEvent, WorkerStats } from './types.ts';

class LeaseLost extends Error {
  override name = 'LeaseLost';
}

/** The queue refused the sitemap's URLs (the job was deleted meanwhile), as opposed to the sitemap failing. */
class EnqueueFailed extends Error {
  override name = 'EnqueueFailed';
}

export async function runDiscovery(
  job: JobRow,
  deps: {
    sql: Sql;
    workerId: string;
    contexts: JobContexts;
    stats: WorkerStats;
    signal: AbortSignal;
    emit: (event: WorkerEvent) => void;
    leaseSeconds?: number;
  },
): Promise<void> {
  const { sql, emit, stats, workerId } = deps;
  const leaseSeconds = deps.leaseSeconds ?? LeaseSecondsDefault;
  const lost = new AbortController();
  const signal = AbortSignal.any([deps.signal, lost.signal]);
  const onRetry = (err: unknown, waitMs: number) =>
    emit({ type: 'db_error', during: 'sitemap discovery', error: err, retryInMs: waitMs });
  const renew = setInterval(() => {
    withDeadline(extendDiscoveryLease(sql, job, workerId, leaseSeconds))
      .then((held) => {
        if (!held) lost.abort(new LeaseLost(`discovery of job ${job.id} was taken over by another worker`));
      })
      // Unreachable now: the next beat tries again, and the lease outlasts two missed beats.
      .catch((error) => emit({ type: 'db_error', during: 'renew discovery lease', error, retryInMs: 0 }));
  }, leaseRenewalMs(leaseSeconds));
  renew.unref();

  let enqueued = 0;
  const enqueue = async (tasks: SitemapTask[]) => {
    for (let i = 0; i < tasks.length; i += SitemapEnqueueBatchDefault) {
      const batch = tasks.slice(i, i + SitemapEnqueueBatchDefault);
      const res = await withDbRetry(
        () =>
          enqueueUrls(
            sql,
            job.id,
            batch.map((t) => t.url),
            { source: 'sitemap', priorities: batch.map((t) => SITEMAP_PRIORITY_BASE + t.priority), depth: 0 },
          ),
        { signal, onRetry },
      ).catch((err) => {
        throw signal.aborted
          ? err
          : new EnqueueFailed(`could not enqueue sitemap URLs of job ${job.id}`, { cause: err });
      });
      enqueued += res.inserted.length;
    }
  };

  try {
    const context = deps.contexts.fromRow(job);
    let found: SitemapDiscovery | undefined;
    let error: unknown;
    try {
      if (context instanceof Error) throw context;
      found = await discoverSitemapUrls(job.root_url, context.ctx, {
        maxUrls: job.max_pages,
        signal,
        onTasks: enqueue,
      });
    } catch (err) {
      // Shutting down, or the lease is gone: leave discovery to whoever holds it next.
      if (signal.aborted) return;
      // Nothing to finish: report it.
      if (err instanceof EnqueueFailed) {
        emit({ type: 'error', during: 'sitemap discovery', error: err.cause });
        return;
      }
      error = err;
    }
    try {
      await withDbRetry(() => finishDiscovery(sql, job, workerId), { signal, onRetry });
    } catch (err) {
      if (signal.aborted) return;
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
  } finally {
    clearInterval(renew);
  }
}
