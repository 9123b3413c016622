// Signed-in routes: the identity comes only from a verified Bearer JWT. A signature outlives a logout, so a
// token that names its session (session_id, as bbb's and Supabase Auth's tokens do) is accepted only while
// that auth.sessions row exists, is not revoked and is younger than BBB_SESSION_MAX_AGE; SessionCache keeps
// that to one indexed lookup per session every few seconds.
import type { MiddlewareHandler } from 'hono';
import { SessionCache } from '../auth/gotrue/session-cache.ts';
import { isSessionId } from '../auth/gotrue/sessions.ts';
import { InvalidTokenError } from '../auth/jwt.ts';
import { type AppDeps, type AppEnv, sessionMaxAge } from './context.ts';
import { ApiError } from './errors.ts';

// One cache per app (per deps object), shared with /auth/v1's logout, which drops what it ends.
const caches = new WeakMap<AppDeps, SessionCache>();

export function sessionCache(deps: AppDeps): SessionCache {
  let cache = caches.get(deps);
  if (!cache) {
    cache = new SessionCache({
      sql: deps.sql,
      maxAgeSeconds: sessionMaxAge(deps),
      now: () => deps.now?.() ?? Date.now(),
    });
    caches.set(deps, cache);
  }
  return cache;
}

export function requireUser(deps: AppDeps): MiddlewareHandler<AppEnv> {
  const sessions = sessionCache(deps);
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) {
      throw new ApiError(
        401,
        'unauthorized',
        'send `Authorization: Bearer <access token>` from a signed-in user',
      );
    }
    const claims = await deps.verifyToken(match[1]!);
    if (claims.session_id !== undefined) {
      const id = String(claims.session_id);
      if (!isSessionId(id)) throw new InvalidTokenError('the token’s session_id claim is not a session id');
      if (!(await sessions.isLive(id, claims.sub))) {
        throw new InvalidTokenError(
          'the token’s session has ended (signed out, revoked or too old): sign in again',
        );
      }
    }
    c.set('claims', claims);
    await next();
  };
}
