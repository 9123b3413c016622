// The worker pool: claims tasks (only as many as it has free slots), crawls up to `concurrency` pages at once,
// writes results in batches, runs sitemap discovery when it has room, and keeps its leases alive. Any number
// of pools, in any number of processes, share one database and coordinate only through it.
//
// It never throws and never crash-loops: a lost database connection is waited out with capped backoff, and
// results that could not be written stay buffered until they can be (see BatchWriter).
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { type CrawlOptions, createRobotsCache } from '../crawler/crawl-context.ts';
import { crawlPage } from '../crawler/crawl-page.ts';
import { Politeness } from '../crawler/politeness.ts';
import { poolHealth, type Sql } from '../db/client.ts';
import { claimDiscovery } from '../queue/discovery.ts';
import type { JobRow } from '../queue/jobs.ts';
import { type ClaimedTask, claimTasks, releaseOrphanedTasks, releaseTasks } from '../queue/tasks.ts';
import { BatchWriter } from './batch-writer.ts';
import { backoffMs, isConnectionError, pause, withDbRetry, withDeadline } from './db-retry.ts';
import {
  BacklogBatchesMax,
  BatchSizeDefault,
  ConcurrencyDefault,
  DiscoveriesMax,
  FlushMsDefault,
  LeaseSecondsDefault,
  PollMsDefault,
  StopDeadlineMsDefault,
  StopWritesMsMin,
} from './defaults.ts';
import { runDiscovery } from './discovery-step.ts';
import { startHeartbeat } from './heartbeat.ts';
import { JobContexts } from './job-contexts.ts';
import { PgHostStateStore } from './pg-host-store.ts';
import { outcomeFor, workerFailure } from './task-outcome.ts';
import { emptyStats, type WorkerEvent, type WorkerStats } from './types.ts';
import { jitteredPoll, Wake } from './wake.ts';

export interface WorkerPoolOptions {
  sql: Sql;
  /** Recorded as tasks.locked_by. Default: host-pid-random. */
  workerId?: string;
  /** Defaults for these five: src/worker/defaults.ts. */
  concurrency?: number;
  batchSize?: number;
  leaseSeconds?: number;
  pollMs?: number;
  flushMs?: number;
  /**
   * Work only on these jobs. `bbb crawl` sets it: its pool may reach private networks, so it must never pick
   * up a tenant's job from a shared database.
   */
  jobIds?: string[];
  /** Crawl settings for every job. politeness.store defaults to the shared PostgreSQL store. */
  crawl?: CrawlOptions;
  onEvent?: (event: WorkerEvent) => void;
}

/** Whether the pool can reach its database: false from the first failed call until one is answered again. */
export interface WorkerReadiness {
  ready: boolean;
  /** Epoch ms of the pool's last answered query (null before the first). */
  lastDbOkAt: number | null;
  /** How long it has been unable to reach the database (0 when ready). */
  unreadyForMs: number;
}

export interface WorkerPool {
  readonly workerId: string;
  readonly stats: Readonly<WorkerStats>;
  readiness(): WorkerReadiness;
  /** Tasks being crawled right now. */
  readonly inFlight: number;
  /**
   * Stops claiming, lets in-flight pages finish for up to `deadlineMs` (StopDeadlineMsDefault), aborts the rest
   * and hands them back unrun (release_tasks), and writes every buffered result it can. Safe to call twice.
   */
  stop(options?: { deadlineMs?: number }): Promise<void>;
}

export function startWorkerPool(options: WorkerPoolOptions): WorkerPool {
  const { sql } = options;
  const workerId = options.workerId ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  const concurrency = Math.max(1, options.concurrency ?? ConcurrencyDefault);
  const batchSize = Math.max(1, options.batchSize ?? BatchSizeDefault);
  const leaseSeconds = options.leaseSeconds ?? LeaseSecondsDefault;
  const pollMs = options.pollMs ?? PollMsDefault;
  const stats = emptyStats();
  const wake = new Wake(sql);
  const emit = (event: WorkerEvent) => {
    if (event.type === 'db_error') stats.dbErrors++;
    // A write ends the transaction that held its job's row, which claims skip while it is locked, and may
    // have added links without a NOTIFY (all duplicates): either way, try claiming again now.
    if (event.type === 'written') wake.notify();
    try {
      options.onEvent?.(event);
    } catch {
      // A listener's bug must not stop the pool.
    }
  };

  const crawl = options.crawl ?? {};
  const politeness = new Politeness({
    ...crawl.politeness,
    store: crawl.politeness?.store ?? new PgHostStateStore(sql),
  });
  const robots = createRobotsCache(crawl);
  const contexts = new JobContexts(sql, crawl, { robots, politeness });
  const writer = new BatchWriter(sql, { batchSize, flushMs: options.flushMs ?? FlushMsDefault, stats, emit });
  // `stopping` ends claiming; `hardStop` aborts work still running at the shutdown deadline.
  const stopping = new AbortController();
  const hardStop = new AbortController();
  const tasks = new Map<number, { task: ClaimedTask; done: Promise<void> }>();
  const unrun = new Map<number, ClaimedTask>();
  const discoveries = new Set<Promise<void>>();
  const busy = () => tasks.size + discoveries.size;

  const heartbeat = startHeartbeat({
    sql,
    leaseSeconds,
    runs: () => [...[...tasks.values()].map((t) => t.task), ...writer.pendingRuns()],
    onError: (error) => emit({ type: 'db_error', during: 'extend leases', error, retryInMs: 0 }),
  });

  async function runTask(task: ClaimedTask): Promise<void> {
    const signal = hardStop.signal;
    try {
      const job = await withDbRetry(() => contexts.get(task.job_id), {
        signal,
        onRetry: (error, retryInMs) => emit({ type: 'db_error', during: 'load job', error, retryInMs }),
      });
      if (job === undefined) return; // The job was deleted, and its tasks with it.
      if (job instanceof Error) {
        writer.add(workerFailure(task, 'invalid_job', job, false));
        return;
      }
      const page = await crawlPage(task.url, job.ctx, { signal });
      writer.add(outcomeFor(task, page, job.findLinks));
      emit({
        type: 'crawled',
        task,
        statusCode: page.statusCode,
        errorCode: page.error?.code,
        responseTimeMs: page.responseTimeMs,
      });
    } catch (err) {
      if (signal.aborted) unrun.set(task.id, task);
      // Not a site's doing (crawlPage reports those as results): retry later, elsewhere if need be.
      else
        writer.add(
          workerFailure(task, isConnectionError(err) ? 'worker_db_error' : 'worker_error', err, true),
        );
    }
  }

  function start(task: ClaimedTask): void {
    const done = runTask(task).finally(() => {
      tasks.delete(task.id);
      wake.notify();
    });
    tasks.set(task.id, { task, done });
  }

  function startDiscovery(job: JobRow): void {
    const done: Promise<void> = runDiscovery(job, {
      sql,
      workerId,
      contexts,
      stats,
      signal: hardStop.signal,
      emit,
      leaseSeconds,
    })
      .catch((error) => emit({ type: 'error', during: 'sitemap discovery', error }))
      .finally(() => {
        discoveries.delete(done);
        wake.notify();
      });
    discoveries.add(done);
  }

  // After a claim failed for want of a connection, its commit may still have happened: the tasks it took run
  // under this worker's id unknown to it. Hand them back before claiming again.
  let claimMayHaveCommitted = false;
  async function releaseOrphans(): Promise<void> {
    const known = [...tasks.keys(), ...writer.pendingRuns().map((r) => r.id), ...unrun.keys()];
    const released = await withDeadline(releaseOrphanedTasks(sql, workerId, known));
    claimMayHaveCommitted = false;
    if (released.length > 0) {
      stats.released += released.length;
      emit({ type: 'released', taskIds: released });
    }
  }

  async function loop(): Promise<void> {
    let failures = 0;
    while (!stopping.signal.aborted) {
      let filled = false;
      const free = concurrency - busy();
      if (free > 0 && writer.size < batchSize * BacklogBatchesMax) {
        try {
          if (claimMayHaveCommitted) await releaseOrphans();
          const want = Math.min(free, batchSize);
          const claimed = await withDeadline(claimTasks(sql, workerId, want, leaseSeconds, options.jobIds));
          stats.claimed += claimed.length;
          for (const task of claimed) start(task);
          filled = claimed.length === want;
          if (busy() < concurrency && discoveries.size < DiscoveriesMax && !stopping.signal.aborted) {
            for (const job of await withDeadline(
              claimDiscovery(sql, workerId, 1, leaseSeconds, options.jobIds),
            ))
              startDiscovery(job);
          }
          failures = 0;
        } catch (error) {
          if (isConnectionError(error)) claimMayHaveCommitted = true;
          const retryInMs = backoffMs(failures++);
          emit({ type: 'db_error', during: 'claim', error, retryInMs });
          await pause(retryInMs, stopping.signal);
          continue;
        }
      }
      if (filled && busy() < concurrency) continue;
      // Full: a finishing task wakes us. Idle: a notification or the next poll does.
      await wake.wait(busy() >= concurrency ? undefined : jitteredPoll(pollMs));
    }
  }

  const looping = loop().catch((error) => emit({ type: 'error', during: 'claim loop', error }));
  let stopped: Promise<void> | undefined;

  async function shutdown(deadlineMs: number): Promise<void> {
    const started = Date.now();
    stopping.abort();
    wake.notify();
    await looping;
    const running = () => [...[...tasks.values()].map((t) => t.done), ...discoveries];
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(running()),
      new Promise((resolve) => {
        timer = setTimeout(resolve, deadlineMs);
      }),
    ]);
    clearTimeout(timer);
    if (busy() > 0) {
      hardStop.abort(new Error('worker pool stopped'));
      await Promise.allSettled(running());
    }
    // Results first: a task whose result is written is not one to release.
    await writer.flush(Math.max(StopWritesMsMin, deadlineMs - (Date.now() - started)));
    if (unrun.size > 0) {
      const runs = [...unrun.values()];
      const giveUp = AbortSignal.timeout(StopWritesMsMin);
      try {
        const released = await withDbRetry(() => releaseTasks(sql, runs), { signal: giveUp });
        stats.released += released.length;
        emit({ type: 'released', taskIds: released });
      } catch (error) {
        // Their leases expire and maintenance hands them out again, attempt counted.
        emit({ type: 'error', during: 'release tasks', error });
      }
    }
    heartbeat.stop();
    await wake.close();
  }

  const startedAt = Date.now();
  return {
    workerId,
    stats,
    readiness() {
      const health = poolHealth(sql);
      const ready = health.consecutiveFailures === 0;
      return {
        ready,
        lastDbOkAt: health.lastOkAt,
        unreadyForMs: ready ? 0 : Date.now() - (health.lastOkAt ?? startedAt),
      };
    },
    get inFlight() {
      return tasks.size;
    },
    stop(stopOptions = {}) {
      stopped ??= shutdown(stopOptions.deadlineMs ?? StopDeadlineMsDefault).catch((error) =>
        emit({ type: 'error', during: 'stop', error }),
      );
      return stopped;
    },
  };
}
