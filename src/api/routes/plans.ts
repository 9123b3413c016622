// The price list (public) and an organisation's usage against its plan (signed-in); the queries are in
// src/api/orgs/plan-queries.ts.
import { createRoute, z } from '@hono/zod-openapi';
import { asUser } from '../../db/as-user.ts';
import { type AppDeps, router } from '../context.ts';
import { commonErrors, json, uuidSchema } from '../openapi.ts';
import { targetOrganisation } from '../orgs/access.ts';
import { listPlans, planUsage } from '../orgs/plan-queries.ts';
import { userTx } from '../user-db.ts';

const planSchema = z
  .object({
    id: z.string().openapi({ example: 'pro' }),
    name: z.string(),
    daily_page_quota: z.number().int().openapi({ description: 'pages crawled per UTC day' }),
    jobs_per_30_days: z.number().int(),
    max_pages_per_job: z.number().int(),
  })
  .openapi('Plan');

const plans = createRoute({
  method: 'get',
  path: '/plans',
  tags: ['plans'],
  summary: 'The plans an organisation can choose (no sign-in needed)',
  security: [],
  responses: { 200: json(z.object({ data: z.array(planSchema) }), 'Plans, smallest first') },
});

const usage = createRoute({
  method: 'get',
  path: '/usage',
  tags: ['plans'],
  summary: "An organisation's use of its plan: jobs in the last 30 days and pages today",
  request: {
    query: z.object({
      organisation_id: uuidSchema('organisation id')
        .optional()
        .openapi({ description: 'defaults to your active organisation' }),
    }),
  },
  responses: {
    200: json(
      z.object({
        organisation_id: z.uuid(),
        plan: planSchema,
        jobs: z.object({ used_last_30_days: z.number().int(), limit: z.number().int() }),
        pages: z.object({
          used_today: z.number().int(),
          daily_quota: z.number().int(),
          remaining_today: z.number().int(),
          resets_at: z.string().openapi({ format: 'date-time', description: 'the next UTC midnight' }),
        }),
      }),
      'Usage',
    ),
    ...commonErrors(400, 404),
  },
});

/** Public: GET /v1/plans. */
export function planRoutes(deps: AppDeps) {
  const r = router();
  r.openapi(plans, async (c) => {
    // As `anon`, so the plans_read policy decides what is for sale (not the unlisted operator plan).
    const data = await asUser(deps.sql, { role: 'anon' }, listPlans);
    return c.json({ data }, 200);
  });
  return r;
}

/** Signed-in: GET /v1/usage. */
export function usageRoutes(deps: AppDeps) {
  const r = router();
  r.openapi(usage, async (c) => {
    const { organisation_id } = c.req.valid('query');
    const row = await userTx(deps, c, async (tx) => {
      const orgId = await targetOrganisation(tx, organisation_id);
      return { orgId, ...(await planUsage(tx, orgId)) };
    });
    const { orgId, jobs_used, pages_used, resets_at, ...plan } = row;
    return c.json(
      {
        organisation_id: orgId,
        plan,
        jobs: { used_last_30_days: jobs_used, limit: plan.jobs_per_30_days },
        pages: {
          used_today: pages_used,
          daily_quota: plan.daily_page_quota,
          remaining_today: Math.max(plan.daily_page_quota - pages_used, 0),
          resets_at: resets_at.toISOString(),
        },
      },
      200,
    );
  });
  return r;
}
