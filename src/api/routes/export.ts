// Download every task of a job as CSV or JSON, streamed (no row cap).
import { createRoute, z } from '@hono/zod-openapi';
import { type AppDeps, router } from '../context.ts';
import { exportTasks } from '../jobs/export-stream.ts';
import { Task } from '../jobs/task-query.ts';
import { errorJson, JobIdParams } from '../openapi.ts';

const route = createRoute({
  method: 'get',
  path: '/jobs/{id}/export',
  tags: ['tasks'],
  summary: 'Download all of a job’s tasks as CSV (default) or a JSON array',
  description:
    'Every task, ordered by id, streamed. CSV follows RFC 4180; a cell that a spreadsheet would run as a formula starts with a quote character.',
  request: {
    params: JobIdParams,
    query: z.object({
      format: z.enum(['csv', 'json'], 'format is csv or json').default('csv'),
    }),
  },
  responses: {
    200: {
      description: 'The tasks, as an attachment',
      content: {
        'text/csv': { schema: z.string() },
        'application/json': { schema: z.array(Task) },
      },
    },
    400: errorJson('format is not csv or json'),
    404: errorJson('No such job (or not yours)'),
  },
});

export function exportRoutes(deps: AppDeps) {
  const r = router();
  r.openapi(route, async (c) => {
    const { id } = c.req.valid('param');
    const { format } = c.req.valid('query');
    return exportTasks(deps, c, id, format);
  });
  return r;
}
