// The worker's tuning values, each defined once, in the style of River's *Default constants. The pool, the
// maintenance loop, the commands and config.ts all read them from here.

/** Pages (and sitemap discoveries) a process crawls at once across all jobs (BBB_WORKER_CONCURRENCY). */
export const ConcurrencyDefault = 16;
/** Most tasks per claim and per result write. */
export const BatchSizeDefault = 50;
/** Task and discovery lease; renewed every third of it while the work runs. */
export const LeaseSecondsDefault = 30;
/** Idle polling base interval, jittered 0.5×–2×, for when no notification arrives. */
export const PollMsDefault = 500;
/** How long a finished result may wait for its batch to fill. */
export const FlushMsDefault = 100;
/**
 * How long in-flight pages may run on after a stop is asked for, before they are handed back unrun. Buffered
 * results then get at least 5 s more, so an orchestrator should allow about 15 s (Kubernetes' default 30 s
 * grace does; `docker stop` needs `--time 15`).
 */
export const StopDeadlineMsDefault = 10_000;
/** Results buffered beyond this many batches mean the database is not taking writes: stop claiming more. */
export const BacklogBatchesMax = 10;
/** Sitemap discoveries a process runs at once. */
export const DiscoveriesMax = 2;

/** How often the maintenance leader runs its frequent passes (retries come due at this resolution). */
export const MaintenanceIntervalMsDefault = 1_000;
/** A running job that finished no attempt for this long is failed. */
export const StalledAfterMsDefault = 10 * 60_000;
/** Task rows of jobs settled longer ago than this are deleted; the job row and its stats stay. */
export const RetentionMsDefault = 30 * 24 * 3_600_000;
