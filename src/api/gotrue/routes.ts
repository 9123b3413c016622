// The GoTrue-compatible auth server at /auth/v1 (standalone bbb only): email + password signup and sign-in,
// refresh-token rotation, the user, logout, and the two cheap discovery calls clients make. Unmodified
// supabase-js talks to it as it talks to Supabase Auth. Errors here are GoTrue's shape (see error-response.ts), so
// this router renders its own instead of the product API's {error:{...}}.
import { createRoute, z } from '@hono/zod-openapi';
import { type AppDeps, router } from '../context.ts';
import { json } from '../openapi.ts';
import { limitBodyDepth } from './body-depth.ts';
import { gotrueErrorResponse } from './error-response.ts';
import { requireApiKey } from './guards.ts';
import { attemptLimiter } from './limits.ts';
import { tokenRoutes } from './token-routes.ts';
import { userRoutes } from './user-routes.ts';

const jwks = createRoute({
  method: 'get',
  path: '/.well-known/jwks.json',
  tags: ['auth'],
  summary: 'Public keys for verifying access tokens',
  description:
    'Empty: bbb signs with the shared HS256 secret, which is never published. Public, as on Supabase, ' +
    'so token verifiers can fetch it without a key.',
  security: [],
  responses: {
    200: json(z.object({ keys: z.array(z.record(z.string(), z.unknown())) }), 'The key set'),
  },
});

const SettingsSchema = z
  .object({
    external: z.record(z.string(), z.boolean()),
    disable_signup: z.boolean(),
    mailer_autoconfirm: z.boolean(),
    phone_autoconfirm: z.boolean(),
    sms_provider: z.string(),
    saml_enabled: z.boolean(),
  })
  .openapi('AuthSettings');

const settings = createRoute({
  method: 'get',
  path: '/settings',
  tags: ['auth'],
  summary: 'Which sign-in methods this server offers',
  security: [{ apikey: [] }],
  responses: {
    200: json(SettingsSchema, 'Email sign-in only'),
  },
});

export function gotrueRoutes(deps: AppDeps) {
  const r = router();
  r.onError((err, c) => gotrueErrorResponse(err, c));
  r.openAPIRegistry.registerComponent('securitySchemes', 'apikey', {
    type: 'apiKey',
    in: 'header',
    name: 'apikey',
    description: 'The anon or service-role key (`bbb keys` prints them)',
  });

  // Registered before the API key check, which therefore never runs for it.
  r.openapi(jwks, (c) => {
    c.header('Cache-Control', 'public, max-age=600');
    return c.json({ keys: [] }, 200);
  });

  r.use('*', requireApiKey(deps));
  r.use('*', limitBodyDepth());
  r.openapi(settings, (c) =>
    c.json(
      {
        external: { email: true, phone: false, anonymous_users: false },
        disable_signup: false,
        mailer_autoconfirm: true,
        phone_autoconfirm: false,
        sms_provider: '',
        saml_enabled: false,
      },
      200,
    ),
  );
  r.route('/', tokenRoutes(deps, attemptLimiter(deps)));
  r.route('/', userRoutes(deps));
  return r;
}
