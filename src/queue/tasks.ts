// Typed wrappers for the queue functions in supabase/migrations. Each is one round trip; the logic (dedupe,
// limits, leases, retries, counters) lives in SQL so every worker process shares it.
import type { Queryable } from '../db/client.ts';
import { mapQueueError } from './errors.ts';
import type { TaskErrorCode } from './task-error-codes.ts';

/** A run's lease when the caller names none: a task (claim_tasks, extend_leases) or a discovery (discovery.ts). */
export const LEASE_SECONDS_DEFAULT = 30;

export type TaskSource = 'root' | 'sitemap' | 'link';
/** pending: ready to claim; retrying: waits for run_after after a failed attempt (see docs/queue.md). */
export const TASK_STATUSES = ['pending', 'running', 'retrying', 'completed', 'failed', 'skipped'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export interface ClaimedTask {
  id: number;
  /** With `id`, the fencing token: every write about this run of the task names it. */
  job_id: string;
  url: string;
  priority: number;
  depth: number;
  source: TaskSource;
  found_on: string | null;
  attempts: number;
  max_attempts: number;
  locked_until: Date;
}

/** One run of a task: what heartbeats and releases are fenced by. */
export interface TaskAttempt {
  id: number;
  attempts: number;
}

export interface EnqueueResult {
  inserted: Array<{ id: number; url: string }>;
  rejected: Array<{ url: string; reason: string }>;
}

export interface TaskResult {
  id: number;
  attempt: number;
  status_code?: number | null;
  response_time_ms?: number | null;
  timing?: Record<string, number> | null;
  cache_status?: string | null;
  warm_cache_status?: string | null;
  warm_attempts?: number | null;
  warm_response_time_ms?: number | null;
  warm_results?: unknown;
  redirect_url?: string | null;
  content_type?: string | null;
  content_length?: number | null;
}

export interface TaskFailure
  extends Omit<TaskResult, 'warm_cache_status' | 'warm_attempts' | 'warm_response_time_ms' | 'warm_results'> {
  retryable: boolean;
  error_code: TaskErrorCode;
  error_message?: string;
  retry_after_ms?: number | null;
}

export async function enqueueUrls(
  sql: Queryable,
  jobId: string,
  urls: string[],
  options: { source?: TaskSource; foundOn?: string | null; priorities?: number[]; depth?: number } = {},
): Promise<EnqueueResult> {
  const rows = await sql<{ task_id: number | null; url: string; outcome: string; reason: string | null }[]>`
    select * from enqueue_urls(${jobId}::uuid, ${urls}::text[], ${options.source ?? 'link'},
      ${options.foundOn ?? null}, ${options.priorities ?? null}::integer[], ${options.depth ?? 0})
  `.catch((err) => mapQueueError(err, jobId));
  const result: EnqueueResult = { inserted: [], rejected: [] };
  for (const row of rows) {
    if (row.outcome === 'inserted') result.inserted.push({ id: row.task_id!, url: row.url });
    else result.rejected.push({ url: row.url, reason: row.reason ?? 'rejected' });
  }
  return result;
}

export interface LinkToEnqueue {
  url: string;
  foundOn: string | null;
  depth: number;
  priority: number;
}

export interface WrittenResults {
  links: number;
  completed: number;
  retried: number;
  failed: number;
  /** Entries no longer held by their attempt (the lease expired and the task ran again elsewhere). */
  lost: number;
}

/** A worker's whole result batch in one call and one transaction: links first, then completions and failures. */
export async function writeTaskResults(
  sql: Queryable,
  links: Array<LinkToEnqueue & { jobId: string }>,
  results: TaskResult[],
  failures: TaskFailure[],
): Promise<WrittenResults> {
  const linkRows = links.map((l) => ({
    job_id: l.jobId,
    url: l.url,
    found_on: l.foundOn,
    depth: l.depth,
    priority: l.priority,
  }));
  const [row] = await sql<WrittenResults[]>`
    select * from write_task_results(${sql.json(linkRows as never)}, ${sql.json(results as never)},
      ${sql.json(failures as never)})`;
  return row ?? { links: 0, completed: 0, retried: 0, failed: 0, lost: 0 };
}

export async function claimTasks(
  sql: Queryable,
  workerId: string,
  limit: number,
  leaseSeconds = LEASE_SECONDS_DEFAULT,
  /** Claim only from these jobs (bbb crawl); undefined: any running job. */
  jobIds?: string[],
): Promise<ClaimedTask[]> {
  return sql<ClaimedTask[]>`
    select id, job_id, url, priority, depth, source, found_on, attempts, max_attempts, locked_until
    from claim_tasks(${workerId}, ${limit}, make_interval(secs => ${leaseSeconds}), ${jobIds ?? null}::uuid[])
  `;
}

/** Returns the ids applied; a task missing from it was no longer held by this attempt. */
export async function completeTasks(sql: Queryable, results: TaskResult[]): Promise<number[]> {
  if (results.length === 0) return [];
  const rows = await sql<{ id: number }[]>`select id from complete_tasks(${sql.json(results as never)})`;
  return rows.map((r) => r.id);
}

export async function failTasks(
  sql: Queryable,
  failures: TaskFailure[],
): Promise<Array<{ id: number; status: TaskStatus; run_after: Date }>> {
  if (failures.length === 0) return [];
  return sql`select id, status, run_after from fail_tasks(${sql.json(failures as never)})`;
}

/**
 * Releases the tasks running under `workerId` that it does not hold (`known`): a claim that committed but whose
 * answer was lost with the connection. Returns the ids released.
 */
export async function releaseOrphanedTasks(
  sql: Queryable,
  workerId: string,
  known: number[],
): Promise<number[]> {
  const rows = await sql<
    { id: number }[]
  >`select id from release_orphaned_tasks(${workerId}, ${known}::bigint[])`;
  return rows.map((r) => r.id);
}

/** Expired leases: retried after a backoff, failed (lease_expired) when no attempt is left, skipped when the job stopped. */
export async function recoverExpiredLeases(sql: Queryable): Promise<{ recovered: number; failed: number }> {
  const [row] = await sql<{ recovered: number; failed: number }[]>`select * from recover_expired_leases()`;
  return row ?? { recovered: 0, failed: 0 };
}

/** Heartbeat: renews the leases of these runs. Returns the ids renewed; a missing one is no longer this run's. */
export async function extendLeases(
  sql: Queryable,
  runs: TaskAttempt[],
  leaseSeconds = LEASE_SECONDS_DEFAULT,
): Promise<number[]> {
  if (runs.length === 0) return [];
  const rows = await sql<{ id: number }[]>`
    select id from extend_leases(${runs.map((r) => r.id)}::bigint[], ${runs.map((r) => r.attempts)}::int[],
      make_interval(secs => ${leaseSeconds}))`;
  return rows.map((r) => r.id);
}

/** Hands runs back unrun (shutdown): pending again without using up an attempt, or skipped if the job stopped. */
export async function releaseTasks(sql: Queryable, runs: TaskAttempt[]): Promise<number[]> {
  if (runs.length === 0) return [];
  const rows = await sql<{ id: number }[]>`
    select id from release_tasks(${runs.map((r) => r.id)}::bigint[], ${runs.map((r) => r.attempts)}::int[])`;
  return rows.map((r) => r.id);
}
