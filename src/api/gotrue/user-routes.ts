// GET /user and POST /logout: the signed-in calls supabase-js makes for getUser and signOut. Both refuse an
// access token whose session has been logged out or is past BBB_SESSION_MAX_AGE (403 session_not_found,
// which makes auth-js drop it). A logout also ends the sessions' access tokens on /v1.
import { createRoute } from '@hono/zod-openapi';
import { endSessions } from '../../auth/gotrue/sessions.ts';
import { userJson } from '../../auth/gotrue/users.ts';
import { sessionCache } from '../auth-middleware.ts';
import { type AppDeps, router } from '../context.ts';
import { json } from '../openapi.ts';
import { signedIn } from './guards.ts';
import { gotrueErrors, LogoutQuery, UserSchema } from './schemas.ts';

const security = [{ apikey: [], bearer: [] }];
const refusals = gotrueErrors({
  401: 'No Bearer token (no_authorization)',
  403: 'The token is not valid (bad_jwt), or its user or session is gone (user_not_found, session_not_found)',
});

const getUser = createRoute({
  method: 'get',
  path: '/user',
  tags: ['auth'],
  summary: 'The signed-in user',
  security,
  responses: {
    200: json(UserSchema, 'The user'),
    ...refusals,
  },
});

const logout = createRoute({
  method: 'post',
  path: '/logout',
  tags: ['auth'],
  summary: 'End sessions: their refresh tokens stop working',
  security,
  request: { query: LogoutQuery },
  responses: { 204: { description: 'Signed out' }, ...refusals },
});

export function userRoutes(deps: AppDeps) {
  const r = router();
  const clock = () => new Date(deps.now?.() ?? Date.now());

  r.openapi(getUser, async (c) => {
    const { user } = await signedIn(deps, c, clock());
    return c.json(userJson(user), 200);
  });

  r.openapi(logout, async (c) => {
    const { scope = 'global' } = c.req.valid('query');
    const { user, session } = await signedIn(deps, c, clock());
    // Dropped from /v1's cache too, so the ended sessions' access tokens stop working here at once.
    sessionCache(deps).forget(await endSessions(deps.sql, user.id, session?.id, scope));
    return c.body(null, 204);
  });

  return r;
}
