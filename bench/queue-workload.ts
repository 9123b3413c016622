// The mixed workload bench:queue measures, driven through the real queue functions: worker connections each
// looping claim_tasks(batch) → write_task_results(links, results, failures), with per-worker heartbeats
// (extend_leases of the runs held) and a maintenance loop like the elected leader's (promote due retries,
// recover expired leases and complete idle jobs every second; prune finished jobs' tasks on its own timer).
// Outcomes are drawn per task: mostly completions whose page found links (a few new URLs for the same job,
// plus navigation links every page repeats, so enqueueing through results meets both new URLs and
// duplicates, and max_pages), a few retryable failures (retrying → promoted back when due), a few permanent
// ones, and a few runs the worker "loses" (never written or renewed), which only lease recovery brings back.
import { performance } from 'node:perf_hooks';
import { connect, type Sql } from '../src/db/client.ts';
import { linkPriority } from '../src/queue/priorities.ts';
import type { LinkToEnqueue, TaskFailure, TaskResult } from '../src/queue/tasks.ts';
import type { ClaimedTask, QueueApi, TaskAttempt } from './queue-api.ts';
import { sleep } from './queue-stats.ts';

export interface WorkloadOptions {
  workers: number;
  batch: number;
  leaseSeconds: number;
  /** Shares of claimed tasks: retryable failure, permanent failure, run lost by its worker. */
  retryable: number;
  permanent: number;
  lost: number;
  /** Per completed page: URLs new to the job, and links every page of the job repeats. */
  newLinks: number;
  navLinks: number;
  maintenanceMs: number;
  pruneEveryMs: number;
  retentionMs: number;
}

export const DEFAULT_WORKLOAD: WorkloadOptions = {
  workers: 4,
  batch: 100,
  // Short, so lost runs come back within a rep; heartbeats every third of it, as the pool does.
  leaseSeconds: 6,
  retryable: 0.03,
  permanent: 0.01,
  lost: 0.001,
  newLinks: 3,
  navLinks: 2,
  maintenanceMs: 1_000,
  // The leader prunes every minute with a 30-day retention; seconds here, so rows really get deleted.
  pruneEveryMs: 2_000,
  retentionMs: 2_000,
};

export interface WorkloadCounters {
  claims: number;
  claimed: number;
  /** Distinct jobs per non-empty claim, summed (÷ non-empty claims = how many jobs a batch spans). */
  jobsInClaims: number;
  nonEmptyClaims: number;
  finished: number;
  retried: number;
  lost: number;
  links: number;
  heartbeats: number;
  extended: number;
  promoted: number;
  recovered: number;
  pruned: number;
  errors: number;
}

export interface WorkloadSample {
  counters: WorkloadCounters;
  claimMs: number[];
  writeMs: number[];
  seconds: number;
}

const zeroCounters = (): WorkloadCounters => ({
  claims: 0,
  claimed: 0,
  jobsInClaims: 0,
  nonEmptyClaims: 0,
  finished: 0,
  retried: 0,
  lost: 0,
  links: 0,
  heartbeats: 0,
  extended: 0,
  promoted: 0,
  recovered: 0,
  pruned: 0,
  errors: 0,
});

// What a crawled page's result looks like on the wire (sizes matter: they decide whether updates stay HOT).
function result(task: ClaimedTask): TaskResult {
  const ms = 20 + Math.round(Math.random() * 400);
  return {
    id: task.id,
    attempt: task.attempts,
    status_code: 200,
    response_time_ms: ms,
    timing: { dns: 1, connect: 3, tls: 8, ttfb: ms - 15, download: 3 },
    cache_status: 'HIT',
    content_type: 'text/html; charset=utf-8',
    content_length: 20_000 + Math.round(Math.random() * 30_000),
    warm_attempts: 0,
  };
}

/** Workers and maintenance running against `url` until stop(); counters and latencies only while recording. */
export class Workload {
  private stopping = false;
  private recording = false;
  private recordStart = 0;
  private counters = zeroCounters();
  private claimMs: number[] = [];
  private writeMs: number[] = [];
  private readonly held: TaskAttempt[][];
  private readonly conns: Sql[];
  private readonly control: Sql;
  private readonly loops: Promise<void>[];

  constructor(
    private readonly api: QueueApi,
    url: string,
    private readonly o: WorkloadOptions,
  ) {
    this.conns = Array.from({ length: o.workers }, () =>
      connect(url, { max: 1, applicationName: 'bench-worker' }),
    );
    this.control = connect(url, { max: 2, applicationName: 'bench-maintenance' });
    this.held = this.conns.map(() => []);
    this.loops = [
      ...this.conns.map((_, w) => this.guard(() => this.worker(w))),
      this.guard(() => this.heartbeat()),
    ];
    this.loops.push(this.guard(() => this.maintenance()));
  }

  /** Starts a measurement window: counters and latencies from now on. */
  record(): void {
    this.counters = zeroCounters();
    this.claimMs = [];
    this.writeMs = [];
    this.recording = true;
    this.recordStart = performance.now();
  }

  sample(): WorkloadSample {
    return {
      counters: { ...this.counters },
      claimMs: [...this.claimMs],
      writeMs: [...this.writeMs],
      seconds: (performance.now() - this.recordStart) / 1000,
    };
  }

  /** Stops claiming, lets every worker write what it holds, and closes the connections. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
    await Promise.all([...this.conns, this.control].map((c) => c.end({ timeout: 5 })));
  }

  private async guard(loop: () => Promise<void>): Promise<void> {
    while (!this.stopping) {
      try {
        await loop();
      } catch (err) {
        // A deadlock or serialisation error would be a finding: count it, say it, keep the workload going.
        this.counters.errors++;
        console.error(`bench workload (${this.api.label}):`, err instanceof Error ? err.message : err);
        await sleep(100);
      }
    }
  }

  private async worker(w: number): Promise<void> {
    const sql = this.conns[w]!;
    const workerId = `bench-${w}`;
    while (!this.stopping) {
      const t0 = performance.now();
      const claimed = await this.api.claimTasks(sql, workerId, this.o.batch, this.o.leaseSeconds);
      const t1 = performance.now();
      if (this.recording) {
        this.claimMs.push(t1 - t0);
        this.counters.claims++;
        this.counters.claimed += claimed.length;
        if (claimed.length > 0) {
          this.counters.nonEmptyClaims++;
          this.counters.jobsInClaims += new Set(claimed.map((t) => t.job_id)).size;
        }
      }
      if (claimed.length === 0) {
        // Nothing ready (retries waiting, the feeder between jobs): poll as the pool would after a wake-up.
        await sleep(20);
        continue;
      }
      const links: Array<LinkToEnqueue & { jobId: string }> = [];
      const results: TaskResult[] = [];
      const failures: TaskFailure[] = [];
      const kept: ClaimedTask[] = [];
      for (const task of claimed) {
        const r = Math.random();
        if (r < this.o.lost) {
          if (this.recording) this.counters.lost++;
          continue;
        }
        kept.push(task);
        if (r < this.o.lost + this.o.retryable) {
          failures.push({
            ...result(task),
            retryable: true,
            error_code: 'timeout_total',
            error_message: 'bench',
          });
        } else if (r < this.o.lost + this.o.retryable + this.o.permanent) {
          failures.push({ id: task.id, attempt: task.attempts, retryable: false, error_code: 'http_4xx' });
        } else {
          results.push(result(task));
          const root = task.url.slice(0, task.url.indexOf('/', 8) + 1);
          const urls = [
            ...Array.from({ length: this.o.navLinks }, (_, k) => `${root}nav/${k}`),
            ...Array.from({ length: this.o.newLinks }, (_, k) => `${root}p/${task.id}-${k}`),
          ];
          const depth = task.depth + 1;
          for (const u of urls)
            links.push({
              jobId: task.job_id,
              url: u,
              foundOn: task.url,
              depth,
              priority: linkPriority(depth),
            });
        }
      }
      this.held[w] = kept;
      const w0 = performance.now();
      const written = await this.api.writeTaskResults(sql, links, results, failures);
      const w1 = performance.now();
      this.held[w] = [];
      if (this.recording) {
        this.writeMs.push(w1 - w0);
        this.counters.finished += written.completed + written.failed;
        this.counters.retried += written.retried;
        this.counters.links += written.links;
      }
    }
  }

  // One heartbeat per worker, a third of the lease apart, as src/worker/heartbeat.ts does per pool.
  private async heartbeat(): Promise<void> {
    while (!this.stopping) {
      await sleep((this.o.leaseSeconds * 1000) / 3);
      for (let w = 0; w < this.held.length; w++) {
        const runs = this.held[w]!;
        if (runs.length === 0) continue;
        const ids = await this.api.extendLeases(this.control, `bench-${w}`, runs, this.o.leaseSeconds);
        if (this.recording) {
          this.counters.heartbeats++;
          this.counters.extended += ids.length;
        }
      }
    }
  }

  private async maintenance(): Promise<void> {
    let lastPrune = performance.now();
    while (!this.stopping) {
      await sleep(this.o.maintenanceMs);
      const promoted = await this.api.promoteDueRetries(this.control);
      const { recovered } = await this.api.recoverExpiredLeases(this.control);
      await this.api.completeIdleJobs(this.control);
      let pruned = 0;
      if (performance.now() - lastPrune >= this.o.pruneEveryMs) {
        lastPrune = performance.now();
        pruned = await this.api.pruneTasks(this.control, this.o.retentionMs, 10_000);
      }
      if (this.recording) {
        this.counters.promoted += promoted;
        this.counters.recovered += recovered;
        this.counters.pruned += pruned;
      }
    }
  }
}
