// Builds the report from the database once a job has stopped. Pages are the tasks that were attempted; tasks
// skipped before anyone fetched them (a cancelled or timed-out crawl) have nothing to report and are left out.
import type { Sql } from '../db/client.ts';
import { isUuid } from '../db/uuid.ts';
import { UnknownJobError } from '../queue/errors.ts';
import type { JobRow, JobStats } from '../queue/jobs.ts';
import type { TaskSource } from '../queue/tasks.ts';
import type { Report, ReportPage } from './types.ts';

interface TaskRow {
  url: string;
  status_code: number | null;
  cache_status: string | null;
  warm_cache_status: string | null;
  response_time_ms: number | null;
  warm_response_time_ms: number | null;
  redirect_url: string | null;
  error_code: string | null;
  error_message: string | null;
  source: TaskSource;
  found_on: string | null;
}

export async function loadReport(sql: Sql, jobId: string): Promise<Report> {
  if (!isUuid(jobId)) throw new UnknownJobError(jobId);
  // Stats are recomputed while the tasks exist, so a report of a job stopped with tasks still in flight (jobs.stats
  // comes once they have settled) covers what is done so far. Once retention has pruned the tasks, the stored
  // stats are all that is left.
  const [row] = await sql<Array<JobRow & { fresh_stats: JobStats | null }>>`
    select j.*, case when exists (select 1 from tasks t where t.job_id = j.id)
      then compute_job_stats(j.id) end as fresh_stats
    from jobs j where j.id = ${jobId}::uuid`;
  if (!row) throw new UnknownJobError(jobId);
  const tasks = await sql<TaskRow[]>`
    select url, status_code, cache_status, warm_cache_status, response_time_ms, warm_response_time_ms,
      redirect_url, error_code, error_message, source, found_on
    from tasks
    where job_id = ${jobId}::uuid
      and (status in ('completed', 'failed') or error_code is not null or status_code is not null)
    order by url`;
  return {
    job: {
      id: row.id,
      url: row.root_url,
      status: row.status,
      started_at: row.started_at?.toISOString() ?? null,
      completed_at: row.completed_at?.toISOString() ?? null,
      stats: row.fresh_stats ?? row.stats,
    },
    pages: tasks.map(toPage),
  };
}

function toPage(t: TaskRow): ReportPage {
  return {
    url: t.url,
    status_code: t.status_code,
    cache_status: t.cache_status,
    final_cache_status: t.warm_cache_status ?? t.cache_status,
    response_time_ms: t.response_time_ms,
    warm_response_time_ms: t.warm_response_time_ms,
    redirect_url: t.redirect_url,
    error: t.error_code ? { code: t.error_code, message: t.error_message } : null,
    source: t.source,
    found_on: t.found_on,
  };
}
