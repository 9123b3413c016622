// Dashboard numbers for one organisation over a recent window: one aggregate over its jobs created in the
// window (an index range on jobs (organisation_id, created_at)), run as the caller so RLS applies. Page and
// cache numbers come from each job's counters and its `stats` (computed once when the job finished), so
// nothing here reads tasks.
import { createRoute, z } from '@hono/zod-openapi';
import { type AppDeps, router } from '../context.ts';
import { commonErrors, json, uuidSchema } from '../openapi.ts';
import { targetOrganisation } from '../orgs/access.ts';
import { userTx } from '../user-db.ts';

const RANGES = { '24h': '24 hours', '7d': '7 days', '30d': '30 days', '90d': '90 days' } as const;
type Range = keyof typeof RANGES;

const ratio = z.number().nullable().openapi({ description: 'null when no finished job has cache data' });

const statsSchema = z
  .object({
    range: z.enum(Object.keys(RANGES) as [Range, ...Range[]]),
    from: z.string().openapi({ format: 'date-time' }),
    to: z.string().openapi({ format: 'date-time' }),
    jobs: z.object({
      total: z.number().int(),
      completed: z.number().int(),
      failed: z.number().int(),
      cancelled: z.number().int(),
      running: z.number().int(),
    }),
    pages: z.object({
      crawled: z.number().int().openapi({ description: 'pages whose crawl ended (completed or failed)' }),
      broken: z.number().int().openapi({ description: 'pages answering 4xx/5xx, in finished jobs' }),
    }),
    cache_hit_ratio: z
      .object({ before: ratio, after: ratio })
      .openapi({ description: "finished jobs' ratios, weighted by their crawled pages" }),
    time_saved_ms: z.number().int(),
  })
  .openapi('DashboardStats');

const stats = createRoute({
  method: 'get',
  path: '/dashboard/stats',
  tags: ['dashboard'],
  summary: 'Totals for the jobs an organisation created in a recent window',
  request: {
    query: z.object({
      range: z
        .enum(Object.keys(RANGES) as [Range, ...Range[]], { error: 'range is one of 24h, 7d, 30d or 90d' })
        .default('7d'),
      organisation_id: uuidSchema('organisation id')
        .optional()
        .openapi({ description: 'defaults to your active organisation' }),
    }),
  },
  responses: { 200: json(statsSchema, 'Dashboard totals'), ...commonErrors(400, 404) },
});

interface StatsRow {
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

export function dashboardRoutes(deps: AppDeps) {
  const r = router();
  r.openapi(stats, async (c) => {
    const { range, organisation_id } = c.req.valid('query');
    const row = await userTx(deps, c, async (tx) => {
      const orgId = await targetOrganisation(tx, organisation_id);
      // A job's cache ratio counts in proportion to its crawled pages; jobs without a ratio (no cache data,
      // or not finished) are left out of both the numerator and the weights.
      const [found] = await tx<StatsRow[]>`
        with j as (
          select j.status, j.completed_tasks + j.failed_tasks as pages, j.stats,
            (j.stats -> 'cache_hit_ratio' ->> 'before')::float8 as before,
            (j.stats -> 'cache_hit_ratio' ->> 'after')::float8 as after
          from public.jobs j
          where j.organisation_id = ${orgId} and j.created_at >= now() - ${RANGES[range]}::interval
        )
        select now() - ${RANGES[range]}::interval as from, now() as to,
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
      return found!;
    });
    return c.json(
      {
        range,
        from: row.from.toISOString(),
        to: row.to.toISOString(),
        jobs: {
          total: row.total,
          completed: row.completed,
          failed: row.failed,
          cancelled: row.cancelled,
          running: row.running,
        },
        pages: { crawled: row.crawled, broken: row.broken },
        cache_hit_ratio: { before: row.before, after: row.after },
        time_saved_ms: row.time_saved_ms,
      },
      200,
    );
  });
  return r;
}
