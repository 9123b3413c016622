// Reading jobs for the API and turning rows into the Job JSON. Every query here runs inside the caller's
// transaction (a user's or a share link's), so Row Level Security decides which rows exist.
import type { TxSql } from '../../db/client.ts';
import { isUuid } from '../../db/uuid.ts';
import type { JobRow } from '../../queue/jobs.ts';
import { decodeCursor, invalidCursor, page } from '../pagination.ts';
import { type JobJson, type JobListFilters, likeContains, type SharedJobJson } from './schemas.ts';

export interface JobViewRow extends JobRow {
  error_message: string | null;
  updated_at: Date;
  paused_reason: 'daily_page_quota' | null;
  /** created_at to the microsecond, for the keyset cursor (a Date keeps only milliseconds). */
  created_key: string;
}

const KEY = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

// Paused: the organisation's pages for today are used (org_pages_remaining() = 0, which is the queue's only;
// members read their own usage, organisation and plan). Evaluated for running jobs only.
function selectJobs(tx: TxSql, withPause: boolean) {
  return tx`
    select j.*,
      ${
        withPause
          ? tx`case when j.status = 'running' and exists (
                select 1 from organisation_page_usage u
                join organisations o on o.id = u.organisation_id
                join plans p on p.id = o.plan_id
                where u.organisation_id = j.organisation_id and u.day = public.utc_today()
                  and u.pages >= p.daily_page_quota)
              then 'daily_page_quota' end`
          : tx`null::text`
      } as paused_reason,
      to_char(j.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as created_key
    from jobs j`;
}

/** The job if the caller can see it. */
export async function findJob(tx: TxSql, id: string): Promise<JobViewRow | undefined> {
  const [row] = await tx<JobViewRow[]>`${selectJobs(tx, true)} where j.id = ${id}::uuid`;
  return row;
}

/** Whether the caller can see the job: the check before reading its tasks or links. */
export async function jobVisible(tx: TxSql, id: string): Promise<boolean> {
  const [row] = await tx`select 1 from jobs where id = ${id}::uuid`;
  return row !== undefined;
}

/** The job the transaction's share token opens (see sharedTx), if the token is current. */
export async function findSharedJob(tx: TxSql): Promise<JobViewRow | undefined> {
  const [row] = await tx<JobViewRow[]>`
    ${selectJobs(tx, false)} where j.id = (select public.shared_job_id())`;
  return row;
}

export async function listJobs(tx: TxSql, organisationId: string, f: JobListFilters) {
  const cursor = decodeCursor(f.cursor);
  if (
    cursor &&
    !(
      typeof cursor.v === 'string' &&
      KEY.test(cursor.v) &&
      !Number.isNaN(Date.parse(cursor.v)) &&
      isUuid(String(cursor.id))
    )
  ) {
    throw invalidCursor();
  }
  // Times go in as text: a timestamptz parameter passes through a JS Date, which drops the microseconds.
  const rows = await tx<JobViewRow[]>`
    ${selectJobs(tx, true)}
    where j.organisation_id = ${organisationId}::uuid
      ${f.status ? tx`and j.status = any (${f.status}::text[])` : tx``}
      ${
        f.domain
          ? tx`and j.domain_id in (select id from domains where host = ${f.domain.toLowerCase()})`
          : tx``
      }
      ${f.q ? tx`and j.root_url ilike ${likeContains(f.q)} escape '\\'` : tx``}
      ${f.created_after ? tx`and j.created_at > ${f.created_after}::text::timestamptz` : tx``}
      ${f.created_before ? tx`and j.created_at < ${f.created_before}::text::timestamptz` : tx``}
      ${cursor ? tx`and (j.created_at, j.id) < (${cursor.v}::text::timestamptz, ${cursor.id}::uuid)` : tx``}
    order by j.created_at desc, j.id desc
    limit ${f.limit + 1}`;
  const result = page(rows, f.limit, (r) => ({ v: r.created_key, id: r.id }));
  return { data: result.data.map(jobJson), next_cursor: result.next_cursor };
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function jobJson(row: JobViewRow): JobJson {
  return {
    id: row.id,
    organisation_id: row.organisation_id,
    created_by: row.created_by,
    root_url: row.root_url,
    domain: new URL(row.root_url).hostname,
    source: row.source,
    status: row.status,
    paused_reason: row.paused_reason,
    error_message: row.error_message,
    options: {
      max_pages: row.max_pages,
      concurrency: row.concurrency,
      use_sitemap: row.use_sitemap,
      find_links: row.find_links,
      include: row.include_patterns,
      exclude: row.exclude_patterns,
      max_attempts: row.max_attempts,
    },
    tasks: {
      total: row.total_tasks,
      pending: row.pending_tasks,
      retrying: row.retrying_tasks,
      running: row.running_tasks,
      completed: row.completed_tasks,
      failed: row.failed_tasks,
      skipped: row.skipped_tasks,
    },
    progress: Number(row.progress),
    discovery_status: row.discovery_status,
    stats: row.stats,
    created_at: row.created_at.toISOString(),
    started_at: iso(row.started_at),
    completed_at: iso(row.completed_at),
    updated_at: row.updated_at.toISOString(),
  };
}

export function sharedJobJson(row: JobViewRow): SharedJobJson {
  const { organisation_id: _o, created_by: _c, paused_reason: _p, ...shared } = jobJson(row);
  return shared;
}
