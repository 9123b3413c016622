// Download every task of a job as CSV or JSON, streamed (no row cap), within the limits of export-limits.ts.
import { createRoute, z } from '@hono/zod-openapi';
import { type AppDeps, router } from '../context.ts';
import { ExportGate } from '../jobs/export-gate.ts';
import { EXPORT_LIMITS, exportLimits } from '../jobs/export-limits.ts';
import { exportTasks } from '../jobs/export-stream.ts';
import { Task } from '../jobs/task-query.ts';
import { errorJson, JobIdParams } from '../openapi.ts';

const route = createRoute({
  method: 'get',
  path: '/jobs/{id}/export',
  tags: ['tasks'],
  summary: 'Download all of a job’s tasks as CSV (default) or a JSON array',
  description:
    'Every task, ordered by id, streamed. CSV follows RFC 4180; a cell that a spreadsheet would run as a formula starts with a quote character. ' +
    `A user may run ${EXPORT_LIMITS.perUser} exports at once and a server ${EXPORT_LIMITS.perProcess} (else 429 too_many_exports); ` +
    `a client that reads nothing for ${EXPORT_LIMITS.idleTimeoutMs / 1000} s is cut off, and the body ends early. ` +
    'If the database does not serve the export in time, it is 503 exports_busy before the body starts, or a body that ends early.',
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
    429: errorJson('Too many exports running, yours or the server’s (too_many_exports)'),
    503: errorJson('The database did not serve the export in time (exports_busy): try again in a minute'),
  },
});

export function exportRoutes(deps: AppDeps) {
  // One gate per app, and a process serves one app: the per-process limits and connection budget live here.
  const gate = new ExportGate(exportLimits(deps.sql, deps.exportLimits));
  const r = router();
  r.openapi(route, async (c) => {
    const { id } = c.req.valid('param');
    const { format } = c.req.valid('query');
    return exportTasks(deps, gate, c, id, format);
  });
  return r;
}
