// The worker's tuning values, each defined once, in the style of River's *Default constants. The pool, the
// maintenance loop, the commands and config.ts all read them from here.
import { LEASE_SECONDS_DEFAULT } from '../queue/tasks.ts';

/** Pages (and sitemap discoveries) a process crawls at once across all jobs (BBB_WORKER_CONCURRENCY). */
export const ConcurrencyDefault = 16;
/** Most tasks per claim and per result write. */
export const BatchSizeDefault = 50;
/** Task and discovery lease: the queue's own default. */
export const LeaseSecondsDefault = LEASE_SECONDS_DEFAULT;
/** Lease renewal: every third of the lease, so two beats can fail (a database restart) before it lapses. */
export const leaseRenewalMs = (leaseSeconds: number) => Math.max(50, (leaseSeconds * 1000) / 3);
/** Idle polling base interval, jittered 0.5×–2×, for when no notification arrives. */
export const PollMsDefault = 500;
/** How long a finished result may wait for its batch to fill. */
export const FlushMsDefault = 100;
/**
 * How long in-flight pages may run on after a stop is asked for, before they are handed back unrun. Buffered
 * results then get at least StopWritesMsMin more, so an orchestrator should allow about 15 s (Kubernetes'
 * default 30 s grace does; `docker stop` needs `--time 15`).
 */
export const StopDeadlineMsDefault = 10_000;
/** `bbb crawl`'s stop deadline after its --timeout or Ctrl-C: the operator is waiting for the report. */
export const CrawlStopDeadlineMsDefault = 5_000;
/**
 * At a stop, writing the buffered results and handing back unrun tasks each get at least this long, even when
 * the stop deadline is spent: losing them means crawling those pages again.
 */
export const StopWritesMsMin = 5_000;
/** Results buffered beyond this many batches mean the database is not taking writes: stop claiming more. */
export const BacklogBatchesMax = 10;
/** Sitemap discoveries a process runs at once. */
export const DiscoveriesMax = 2;
/** Sitemap URLs per enqueue_urls call: it locks the job row, so the job's tasks can be claimed in between. */
export const SitemapEnqueueBatchDefault = 500;
/** Job crawl contexts a process keeps; past it the oldest is rebuilt when next needed. */
export const JobContextsCachedMax = 256;

/**
 * The longest a worker waits on one database call before treating it as lost and retrying (withDeadline). A
 * network that drops packets without resetting the connection can otherwise hold a call for minutes.
 */
export const DbCallDeadlineMsDefault = 15_000;
/** The first wait after a failed database call: half this to this; each further failure doubles it. */
export const DbRetryBackoffMsFirst = 100;
/** The longest wait between database retries. */
export const DbRetryBackoffMsMax = 5_000;
/** A shared politeness update that takes longer than this falls back to this process's own state. */
export const PolitenessDbDeadlineMsDefault = 3_000;

/** How often the maintenance leader runs its frequent passes (retries come due at this resolution). */
export const MaintenanceIntervalMsDefault = 1_000;
/** A running job that finished no attempt for this long is failed. */
export const StalledAfterMsDefault = 10 * 60_000;
/** Task rows of jobs settled longer ago than this are deleted; the job row and its stats stay. */
export const RetentionMsDefault = 30 * 24 * 3_600_000;
