// An organisation's dashboard numbers over a recent window, read inside the caller's transaction (RLS
// applies): one aggregate over its jobs created in the window, an index range on jobs (organisation_id,
// created_at). Page and cache numbers come from each job's counters and its `stats` (computed once when the
// job finished), so nothing here reads tasks.
import type { TxSql } from '../../db/client.ts';

/** The windows the dashboard offers, as PostgreSQL intervals. */
export const DASHBOARD_RANGES = {
  '24h': '24 hours',
  '7d': '7 days',
  '30d': '30 days',
  '90d': '90 days',
} as const;
export type DashboardRange = keyof typeof DASHBOARD_RANGES;

export interface DashboardStatsRow {
  from: Date;
  to: Date;
  total: number;
  completed: number;
  failed: number;
  cancelled: number;
  running: number;
  crawled: number;
  broken: number;
  before: number | null;
  after: number | null;
  time_saved_ms: number;
}

export async function dashboardStats(
  tx: TxSql,
  orgId: string,
  range: DashboardRange,
): Promise<DashboardStatsRow> {
  const window = DASHBOARD_RANGES[range];
  // A job's cache ratio counts in proportion to its crawled pages; jobs without a ratio (no cache data, or
  // not finished) are left out of both the numerator and the weights.
  const [row] = await tx<DashboardStatsRow[]>`
    with j as (
      select j.status, j.completed_tasks + j.failed_tasks as pages, j.stats,
        (j.stats -> 'cache_hit_ratio' ->> 'before')::float8 as before,
        (j.stats -> 'cache_hit_ratio' ->> 'after')::float8 as after
      from public.jobs j
      where j.organisation_id = ${orgId} and j.created_at >= now() - ${window}::interval
    )
    select now() - ${window}::interval as from, now() as to,
      count(*)::int as total,
      count(*) filter (where status = 'completed')::int as completed,
      count(*) filter (where status = 'failed')::int as failed,
      count(*) filter (where status = 'cancelled')::int as cancelled,
      count(*) filter (where status = 'running')::int as running,
      coalesce(sum(pages), 0)::bigint as crawled,
      coalesce(sum((stats -> 'pages' ->> 'broken')::bigint), 0)::bigint as broken,
      round((sum(before * pages) / nullif(sum(pages) filter (where before is not null), 0))::numeric, 4)
        ::float8 as before,
      round((sum(after * pages) / nullif(sum(pages) filter (where after is not null), 0))::numeric, 4)
        ::float8 as after,
      coalesce(sum((stats ->> 'time_saved_ms')::bigint), 0)::bigint as time_saved_ms
    from j`;
  return row!;
}
