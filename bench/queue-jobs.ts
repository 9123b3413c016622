// Jobs for the queue benchmarks. A feeder keeps a number of jobs running in one organisation (as a busy
// service would: jobs finish, new ones start, finished ones get pruned), and the fill phase pushes about a
// million tasks through enqueue → claim → write so the "large table" run reads rows that went the real path.
import { performance } from 'node:perf_hooks';
import { connect, type Sql } from '../src/db/client.ts';
import { SITEMAP_PRIORITY_BASE } from '../src/queue/priorities.ts';
import type { QueueApi } from './queue-api.ts';
import { sleep } from './queue-stats.ts';
import { Workload, type WorkloadOptions } from './queue-workload.ts';

export interface JobShape {
  concurrency: number;
  /** max_pages is drawn from this range per job, so jobs of one generation do not all finish together. */
  minPages: number;
  maxPages: number;
  /** URLs enqueued from the "sitemap" when the job starts (the root page among them)... */
  seeds: number;
  /** ...in calls of this many URLs (sitemap discovery: 500, SitemapEnqueueBatchDefault in src/worker/defaults.ts). */
  enqueueBatch: number;
}

/** The running jobs of bench:queue: concurrency below the batch size, so one claim has to span several jobs. */
// Small sites (100-500 pages), so jobs finish, settle and get pruned within one rep.
export const DEFAULT_SHAPE: JobShape = {
  concurrency: 20,
  minPages: 100,
  maxPages: 500,
  seeds: 20,
  enqueueBatch: 500,
};

let hosts = 0;

export async function startJob(
  api: QueueApi,
  sql: Sql,
  org: string,
  prefix: string,
  shape: JobShape,
): Promise<string> {
  const root = `https://${prefix}-${++hosts}.bench/`;
  const maxPages = shape.minPages + Math.floor(Math.random() * (shape.maxPages - shape.minPages + 1));
  const job = await api.insertJob(sql, {
    organisationId: org,
    rootUrl: root,
    maxPages,
    concurrency: shape.concurrency,
  });
  const urls = [
    root,
    ...Array.from({ length: Math.min(shape.seeds, maxPages) - 1 }, (_, i) => `${root}s/${i}`),
  ];
  for (let i = 0; i < urls.length; i += shape.enqueueBatch) {
    const chunk = urls.slice(i, i + shape.enqueueBatch);
    await api.enqueueUrls(sql, job.id, chunk, {
      source: 'sitemap',
      priorities: chunk.map(() => SITEMAP_PRIORITY_BASE),
    });
  }
  await api.startJob(sql, job.id);
  return job.id;
}

async function runningJobs(sql: Sql, org: string): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    select count(*)::int as n from jobs where organisation_id = ${org} and status = 'running'`;
  return row!.n;
}

// Jobs with tasks ready or running. A job whose last tasks wait for a retry (up to e^2 ≈ 7 s for the second)
// stays running with nothing to hand out; counting those would starve the workers rather than the queue.
async function busyJobs(sql: Sql, org: string): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    select count(*)::int as n from jobs
    where organisation_id = ${org} and status = 'running' and pending_tasks + running_tasks > 0`;
  return row!.n;
}

/** Keeps `target` jobs busy in `org` (checked every 250 ms) until stop(), or until `limit` were started. */
export class JobFeeder {
  started = 0;
  private stopping = false;
  private readonly loop: Promise<void>;
  private markReady!: () => void;
  private readonly firstPass = new Promise<void>((resolve) => {
    this.markReady = resolve;
  });

  constructor(
    private readonly api: QueueApi,
    private readonly sql: Sql,
    private readonly org: string,
    private readonly target: number,
    private readonly shape: JobShape,
    private readonly prefix: string,
    private readonly limit = Number.POSITIVE_INFINITY,
  ) {
    this.loop = this.run();
  }

  /** Resolves once the first top-up is done, so a measurement never starts on an empty queue. */
  ready(): Promise<void> {
    return this.firstPass;
  }

  get exhausted(): boolean {
    return this.started >= this.limit;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop;
  }

  private async run(): Promise<void> {
    try {
      await this.topUp();
    } finally {
      this.markReady();
    }
  }

  private async topUp(): Promise<void> {
    while (!this.stopping && !this.exhausted) {
      const missing = this.target - (await busyJobs(this.sql, this.org));
      for (let i = 0; i < missing && !this.stopping && !this.exhausted; i++) {
        await startJob(this.api, this.sql, this.org, this.prefix, this.shape);
        this.started++;
      }
      this.markReady();
      await sleep(250);
    }
  }
}

/**
 * About `total` tasks through the real path: jobs of `pagesPerJob` sitemap URLs, claimed and written by the
 * workload (completions, 1% permanent failures, no links), with pruning off. Returns the job-history size.
 * The finished jobs are then marked as pruned-already: the retention of the measured runs is seconds long so
 * that pruning has work, and it must delete rows of jobs finished during those runs, not this history (which
 * with the default 30-day retention would simply be within it).
 */
export async function fillHistory(
  api: QueueApi,
  url: string,
  org: string,
  total: number,
  workload: WorkloadOptions,
  pagesPerJob = 2_000,
): Promise<{ tasks: number; seconds: number }> {
  const sql = connect(url, { max: 1 });
  const t0 = performance.now();
  // 100 URLs per enqueue call: enqueue_tasks' cost grows with the square of its batch (a join of two CTEs
  // planned as a nested loop), which at discovery's 500 made the fill twice as long. The fill is not measured.
  const shape = {
    concurrency: 200,
    minPages: pagesPerJob,
    maxPages: pagesPerJob,
    seeds: pagesPerJob,
    enqueueBatch: 100,
  };
  const feeder = new JobFeeder(api, sql, org, 20, shape, 'history', Math.ceil(total / pagesPerJob));
  const work = new Workload(api, url, {
    ...workload,
    batch: Math.max(workload.batch, 200),
    retryable: 0,
    permanent: 0.01,
    lost: 0,
    newLinks: 0,
    navLinks: 0,
    pruneEveryMs: Number.POSITIVE_INFINITY,
  });
  let lastLog = performance.now();
  while (!feeder.exhausted || (await runningJobs(sql, org)) > 0) {
    await sleep(500);
    if (performance.now() - lastLog > 15_000) {
      lastLog = performance.now();
      const [row] = await sql<{ n: number }[]>`
        select coalesce(sum(completed_tasks + failed_tasks), 0)::int as n from jobs where organisation_id = ${org}`;
      console.log(`  fill: ${row!.n.toLocaleString('en-US')} tasks finished`);
    }
  }
  await Promise.all([feeder.stop(), work.stop()]);
  await sql`update jobs set tasks_pruned_at = now() where organisation_id = ${org} and status = 'completed'`;
  const [row] = await sql<{ n: number }[]>`
    select coalesce(sum(total_tasks), 0)::int as n from jobs where organisation_id = ${org}`;
  await sql.end();
  return { tasks: row!.n, seconds: (performance.now() - t0) / 1000 };
}
