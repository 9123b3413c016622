// The HTTP API: one Hono app, served by `bbb serve` and tested in-process with app.request().
//   /health, /health/ready          liveness and database readiness
//   /auth/v1/*                      GoTrue-compatible password auth (standalone only)
//   /v1/*                           the product API, signed-in except /v1/plans and /v1/shared/:token
//   /v1/openapi.json                generated from the same zod schemas that validate requests
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { requestId } from 'hono/request-id';
import { requireUser } from './auth-middleware.ts';
import { type AppDeps, router } from './context.ts';
import { ApiError, toErrorResponse } from './errors.ts';
import { gotrueRoutes } from './gotrue/routes.ts';
import { dashboardRoutes } from './routes/dashboard.ts';
import { exportRoutes } from './routes/export.ts';
import { healthRoutes } from './routes/health.ts';
import { jobRoutes } from './routes/jobs.ts';
import { organisationRoutes } from './routes/organisations.ts';
import { planRoutes, usageRoutes } from './routes/plans.ts';
import { sharedRoutes, shareLinkRoutes } from './routes/share-links.ts';
import { taskRoutes } from './routes/tasks.ts';

export function createApp(deps: AppDeps) {
  const app = router();
  app.use(
    '*',
    requestId({
      // A caller's id is kept only if it looks like one; anything else is replaced, never echoed.
      generator: (c) => {
        const given = c.req.header('x-request-id');
        return given && /^[A-Za-z0-9._-]{8,128}$/.test(given) ? given : crypto.randomUUID();
      },
    }),
  );
  // Credentials travel in headers (Bearer, apikey), never cookies, so any origin may call, as on Supabase:
  // a dashboard or supabase-js in a browser on another origin needs the preflight answered.
  app.use(
    '*',
    cors({
      origin: '*',
      allowHeaders: [
        'authorization',
        'apikey',
        'content-type',
        'x-client-info',
        'x-supabase-api-version',
        'x-request-id',
        'x-share-token',
      ],
      exposeHeaders: ['x-request-id', 'x-supabase-api-version', 'retry-after', 'content-disposition'],
      maxAge: 86400,
    }),
  );
  app.use(
    '*',
    bodyLimit({
      maxSize: deps.bodyLimitBytes,
      onError: () => {
        throw new ApiError(
          413,
          'payload_too_large',
          `request bodies are limited to ${deps.bodyLimitBytes} bytes`,
        );
      },
    }),
  );
  app.onError((err, c) => toErrorResponse(err, c));
  app.notFound((c) =>
    toErrorResponse(new ApiError(404, 'not_found', `no route for ${c.req.method} ${c.req.path}`), c),
  );

  app.route('/', healthRoutes(deps));
  if (deps.authServer && deps.jwtSecret) app.route('/auth/v1', gotrueRoutes(deps));

  // Public: the price list, shared jobs (a share token is the only credential) and this document. Hono runs
  // matching handlers in registration order, so these must come before the signed-in /v1/* middleware.
  app.route('/v1', planRoutes(deps));
  app.route('/v1', sharedRoutes(deps));
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
  app.doc31('/v1/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Blue Banded Bee API',
      version: '1',
      description: 'Crawl and warm sites, and read the results. Errors are {error:{code,message,details?}}.',
    },
    security: [{ bearer: [] }],
  });

  const v1 = router();
  v1.use('*', requireUser(deps));
  v1.route('/', jobRoutes(deps));
  v1.route('/', taskRoutes(deps));
  v1.route('/', exportRoutes(deps));
  v1.route('/', shareLinkRoutes(deps));
  v1.route('/', dashboardRoutes(deps));
  v1.route('/', organisationRoutes(deps));
  v1.route('/', usageRoutes(deps));
  app.route('/v1', v1);
  return app;
}

export type App = ReturnType<typeof createApp>;
