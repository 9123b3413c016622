// Liveness (the process answers) and readiness (the database answers within a deadline, and this process's
// workers, if it runs any, can reach it), so an orchestrator takes a server that lost its database out of rotation.
import { createRoute, z } from '@hono/zod-openapi';
import { type AppDeps, router } from '../context.ts';
import { errorJson, json } from '../openapi.ts';

const READY_TIMEOUT_MS = 2_000;

const health = createRoute({
  method: 'get',
  path: '/health',
  tags: ['health'],
  responses: {
    200: json(z.object({ status: z.literal('ok') }), 'The process is up'),
  },
});

const ready = createRoute({
  method: 'get',
  path: '/health/ready',
  tags: ['health'],
  responses: {
    200: json(z.object({ status: z.literal('ready') }), 'The database answers'),
    503: errorJson("The database does not answer, or this process's workers cannot reach it (not_ready)"),
  },
});

export function healthRoutes(deps: AppDeps) {
  const r = router();
  r.openapi(health, (c) => c.json({ status: 'ok' as const }, 200));
  r.openapi(ready, async (c) => {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), READY_TIMEOUT_MS);
    });
    try {
      await Promise.race([deps.sql`select 1`, deadline]);
    } catch {
      return c.json({ error: { code: 'not_ready', message: 'the database is not answering' } }, 503);
    } finally {
      clearTimeout(timer);
    }
    const workers = deps.workers?.readiness();
    if (workers && !workers.ready) {
      const message = `the workers have not reached the database for ${Math.round(workers.unreadyForMs / 1000)} s`;
      return c.json({ error: { code: 'not_ready', message } }, 503);
    }
    return c.json({ status: 'ready' as const }, 200);
  });
  return r;
}
