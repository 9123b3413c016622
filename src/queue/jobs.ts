// Low-level job rows. The job service (validation, sitemap discovery, superseding) builds on these.
import type { Queryable } from '../db/client.ts';
import { mapQueueError } from './errors.ts';
import { JobOptionDefaults } from './job-options.ts';

export const JOB_STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
/** Who started a job: the API, a webhook, a schedule, or `bbb crawl`. */
export const JOB_SOURCES = ['manual', 'webhook', 'schedule', 'cli'] as const;
export type JobSource = (typeof JOB_SOURCES)[number];
export const DISCOVERY_STATUSES = ['pending', 'running', 'done', 'skipped', 'failed'] as const;
export type DiscoveryStatus = (typeof DISCOVERY_STATUSES)[number];

export interface JobRow {
  id: string;
  organisation_id: string;
  created_by: string | null;
  domain_id: number;
  root_url: string;
  source: JobSource;
  status: JobStatus;
  max_pages: number;
  concurrency: number;
  use_sitemap: boolean;
  find_links: boolean;
  include_patterns: string[];
  exclude_patterns: string[];
  max_attempts: number;
  total_tasks: number;
  pending_tasks: number;
  running_tasks: number;
  completed_tasks: number;
  failed_tasks: number;
  skipped_tasks: number;
  retrying_tasks: number;
  progress: string;
  /** Computed once the job has settled: stopped, with nothing left pending, retrying or running. */
  stats: JobStats | null;
  error_message: string | null;
  discovery_status: DiscoveryStatus;
  discovery_attempts: number;
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
}

/** jobs.stats, written once when the job finishes (compute_job_stats in SQL). */
export interface JobStats {
  pages: {
    ok: number;
    broken: number;
    redirected: number;
    skipped: number;
    errored: number;
    blocked_by_robots: number;
  };
  cache_hit_ratio: { before: number | null; after: number | null };
  response_time_ms: Record<'before' | 'after', Record<'p50' | 'p90' | 'p95' | 'p99', number | null>>;
  slowest: Array<{ url: string; response_time_ms: number; warm_response_time_ms: number | null }>;
  time_saved_ms: number;
}

export interface NewJob {
  organisationId: string;
  rootUrl: string;
  createdBy?: string | null;
  source?: JobSource;
  maxPages?: number;
  concurrency?: number;
  useSitemap?: boolean;
  findLinks?: boolean;
  includePatterns?: string[];
  excludePatterns?: string[];
  maxAttempts?: number;
  /** 'pending' queues sitemap discovery as a job step; the job service sets it from useSitemap. */
  discoveryStatus?: 'pending' | 'skipped';
}

export async function insertJob(sql: Queryable, job: NewJob): Promise<JobRow> {
  // No domain_id: a trigger derives it from root_url (jobs_set_domain), also when a tenant inserts as itself.
  const [row] = await sql<JobRow[]>`
    insert into jobs (organisation_id, created_by, root_url, source, max_pages, concurrency,
      use_sitemap, find_links, include_patterns, exclude_patterns, max_attempts, discovery_status)
    values (${job.organisationId}, ${job.createdBy ?? null}, ${job.rootUrl},
      ${job.source ?? 'manual'}, ${job.maxPages ?? JobOptionDefaults.maxPages},
      ${job.concurrency ?? JobOptionDefaults.concurrency}, ${job.useSitemap ?? JobOptionDefaults.useSitemap},
      ${job.findLinks ?? JobOptionDefaults.findLinks}, ${job.includePatterns ?? []}::text[],
      ${job.excludePatterns ?? []}::text[], ${job.maxAttempts ?? JobOptionDefaults.maxAttempts},
      ${job.discoveryStatus ?? 'skipped'})
    returning *`;
  return row!;
}

export async function startJob(sql: Queryable, jobId: string): Promise<JobRow> {
  const [row] = await sql<JobRow[]>`select * from start_job(${jobId}::uuid)`.catch((err) =>
    mapQueueError(err, jobId),
  );
  return row!;
}

export async function cancelJob(sql: Queryable, jobId: string): Promise<JobRow> {
  const [row] = await sql<JobRow[]>`select * from cancel_job(${jobId}::uuid)`.catch((err) =>
    mapQueueError(err, jobId),
  );
  return row!;
}

/**
 * Skips what a stopped job still has pending or retrying, in bounded batches, now rather than on maintenance's
 * next passes (`bbb crawl` reports right after cancelling). Running tasks are left to finish. Returns the job.
 */
export async function skipRemainingTasks(sql: Queryable, jobId: string): Promise<JobRow | undefined> {
  for (;;) {
    const [row] = await sql<{ n: number }[]>`select skip_stopped_tasks(array[${jobId}::uuid], 10000) as n`;
    if ((row?.n ?? 0) === 0) return getJob(sql, jobId);
  }
}

export async function getJob(sql: Queryable, jobId: string): Promise<JobRow | undefined> {
  const [row] = await sql<JobRow[]>`select * from jobs where id = ${jobId}::uuid`;
  return row;
}

export async function createOrganisation(sql: Queryable, name: string, planId = 'free'): Promise<string> {
  const [row] = await sql<{ id: string }[]>`
    insert into organisations (name, plan_id) values (${name}, ${planId}) returning id`;
  return row!.id;
}
