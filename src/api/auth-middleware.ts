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
      if (!(await sessionIsLive(sessions, id, claims.sub))) {
        throw new InvalidTokenError(
          'the token’s session has ended (signed out, revoked or too old): sign in again',
        );
      }
    }
    c.set('claims', claims);
    await next();
  };
}

/**
 * The session lookup reads auth.sessions as bbb's own database role. A role that may not (a dedicated role on a
 * Supabase project) would otherwise surface as 403 "not allowed" on every signed-in request: say what is wrong.
 */
async function sessionIsLive(sessions: SessionCache, id: string, userId: string): Promise<boolean> {
  try {
    return await sessions.isLive(id, userId);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code !== '42501' && code !== '42P01') throw err;
    throw new ApiError(
      500,
      'session_check_failed',
      "bbb's database role cannot read auth.sessions, so no signed-in request can be checked; " +
        'connect as a role that can (docs/supabase.md#the-database-role)',
      undefined,
      { cause: err },
    );
  }
}
