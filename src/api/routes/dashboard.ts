// GET /v1/dashboard/stats: totals for the jobs an organisation created in a recent window (the query is in
// src/api/orgs/dashboard-queries.ts).
import { createRoute, z } from '@hono/zod-openapi';
import { type AppDeps, router } from '../context.ts';
import { commonErrors, json, uuidSchema } from '../openapi.ts';
import { targetOrganisation } from '../orgs/access.ts';
import { DASHBOARD_RANGES, type DashboardRange, dashboardStats } from '../orgs/dashboard-queries.ts';
import { userTx } from '../user-db.ts';

const RANGES = Object.keys(DASHBOARD_RANGES) as [DashboardRange, ...DashboardRange[]];

const ratio = z.number().nullable().openapi({ description: 'null when no finished job has cache data' });

const statsSchema = z
  .object({
    range: z.enum(RANGES),
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
      range: z.enum(RANGES, { error: 'range is one of 24h, 7d, 30d or 90d' }).default('7d'),
      organisation_id: uuidSchema('organisation id')
        .optional()
        .openapi({ description: 'defaults to your active organisation' }),
    }),
  },
  responses: { 200: json(statsSchema, 'Dashboard totals'), ...commonErrors(400, 404) },
});

export function dashboardRoutes(deps: AppDeps) {
  const r = router();
  r.openapi(stats, async (c) => {
    const { range, organisation_id } = c.req.valid('query');
    const row = await userTx(deps, c, async (tx) =>
      dashboardStats(tx, await targetOrganisation(tx, organisation_id), range),
    );
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
