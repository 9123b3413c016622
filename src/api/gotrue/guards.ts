// Who is calling /auth/v1: the project's API key on every request (Supabase's gateway refuses requests
// without one before GoTrue sees them), a signed-in user's access token where GoTrue requires one, and the
// client's address for rate limits.
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, MiddlewareHandler } from 'hono';
import { GotrueError } from '../../auth/gotrue/errors.ts';
import { findLiveSession, isSessionId, type SessionRow } from '../../auth/gotrue/sessions.ts';
import { findUserById, type UserRow } from '../../auth/gotrue/users.ts';
import { type UserClaims, verifyApiKey } from '../../auth/jwt.ts';
import { errorMessage } from '../../errors.ts';
import { type AppDeps, type AppEnv, sessionMaxAge } from '../context.ts';

/** Requires `apikey` (header, or query for clients that cannot set headers) to be the anon or service key. */
export function requireApiKey(deps: AppDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const key = c.req.header('apikey') ?? c.req.query('apikey');
    if (!key) throw new GotrueError(401, 'no_api_key', 'No API key found in request');
    try {
      await verifyApiKey(deps.jwtSecret!, key);
    } catch {
      throw new GotrueError(401, 'invalid_api_key', 'Invalid API key');
    }
    await next();
  };
}

export interface SignedIn {
  claims: UserClaims;
  user: UserRow;
  /** Undefined for tokens without a session_id claim (GoTrue accepts those too). */
  session: SessionRow | undefined;
}

/** GoTrue's requireAuthentication: a valid access token whose user exists and whose session is still live. */
export async function signedIn(deps: AppDeps, c: Context<AppEnv>, at: Date): Promise<SignedIn> {
  const match = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '');
  if (!match) throw new GotrueError(401, 'no_authorization', 'This endpoint requires a valid Bearer token');
  let claims: UserClaims;
  try {
    claims = await deps.verifyToken(match[1]!);
  } catch (err) {
    throw new GotrueError(403, 'bad_jwt', `invalid JWT: ${errorMessage(err)}`);
  }
  const user = await findUserById(deps.sql, claims.sub);
  if (!user) throw new GotrueError(403, 'user_not_found', 'User from sub claim in JWT does not exist');
  let session: SessionRow | undefined;
  if (claims.session_id !== undefined) {
    const id = String(claims.session_id);
    if (!isSessionId(id)) {
      throw new GotrueError(403, 'bad_jwt', 'invalid claim: session_id claim must be a UUID');
    }
    session = await findLiveSession(deps.sql, id, at, sessionMaxAge(deps));
    if (!session || session.user_id !== user.id) {
      throw new GotrueError(403, 'session_not_found', 'Session from session_id claim in JWT does not exist');
    }
  }
  return { claims, user, session };
}

/**
 * The client's address for rate limiting. Only the socket is trusted unless `trustProxyHops` says how many
 * proxies append to X-Forwarded-For: then the entry that many places from the right is the client (entries
 * further left were written by the client and could be anything). Requests with no socket (app.request() in
 * tests) share one key.
 */
export function clientAddress(c: Context, trustProxyHops = 0): string {
  if (trustProxyHops > 0) {
    const hops = (c.req.header('x-forwarded-for') ?? '')
      .split(',')
      .map((h) => h.trim())
      .filter(Boolean);
    const client = hops[hops.length - trustProxyHops];
    if (client) return client;
  }
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    return 'local';
  }
}
