// Who a realtime client is: the `apikey` it connects with and the access token each channel joins with, checked
// as Supabase Realtime checks them (a JWT with `role` and `exp`, its messages word for word) but verified with
// the API's own code: a signed-in user's token by the API's TokenVerifier (and its session, as /v1 requires),
// the anon and service-role keys by verifyApiKey with the project secret.
import { decodeJwt } from 'jose';
import type { SessionCache } from '../auth/gotrue/session-cache.ts';
import { isSessionId } from '../auth/gotrue/sessions.ts';
import { type TokenVerifier, verifyApiKey } from '../auth/jwt.ts';
import { errorMessage } from '../errors.ts';
import type { Audience } from './types.ts';

export type Role = Audience['role'];

export interface Authorised {
  role: Role;
  /** The verified claims, which become request.jwt.claims for this subscriber's RLS checks. */
  claims: Record<string, unknown>;
  /** Expiry, Unix seconds. */
  exp: number;
}

/** A token refused; `code` prefixes the join's error reason as Supabase's does, `message` stands alone. */
export class TokenRefused extends Error {
  override name = 'TokenRefused';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface TokenDeps {
  verifyToken: TokenVerifier;
  /** The project's HS256 secret; without it anon and service-role keys cannot be checked. */
  jwtSecret?: string | undefined;
  sessions: SessionCache;
}

export type Authorise = (token: string) => Promise<Authorised>;

export function tokenAuthority(deps: TokenDeps): Authorise {
  return async (token) => {
    let claims: Record<string, unknown>;
    try {
      claims = decodeJwt(token) as Record<string, unknown>;
    } catch {
      throw new TokenRefused('MalformedJWT', 'The token provided is not a valid JWT');
    }
    const { role, exp } = claims;
    if (role === undefined || typeof exp !== 'number') {
      throw new TokenRefused('InvalidJWTToken', 'Fields `role` and `exp` are required in JWT');
    }
    const now = Math.floor(Date.now() / 1000);
    if (exp <= now) {
      throw new TokenRefused('InvalidJWTToken', `Token has expired ${now - Math.round(exp)} seconds ago`);
    }
    if (role === 'authenticated') {
      const user = await deps.verifyToken(token).catch((err) => {
        throw new TokenRefused('InvalidJWTToken', errorMessage(err));
      });
      await requireLiveSession(deps.sessions, user.session_id, user.sub);
      return { role, claims: user, exp };
    }
    if (role === 'anon' || role === 'service_role') {
      if (!deps.jwtSecret) {
        throw new TokenRefused(
          'InvalidJWTToken',
          'anon and service-role keys cannot be checked here: bbb has no JWT secret (BBB_JWT_SECRET)',
        );
      }
      await verifyApiKey(deps.jwtSecret, token).catch(() => {
        throw new TokenRefused('JwtSignatureError', 'Failed to validate JWT signature');
      });
      return { role, claims, exp };
    }
    throw new TokenRefused(
      'Unauthorized',
      `the token's role must be anon, authenticated or service_role, not ${JSON.stringify(role)}`,
    );
  };
}

async function requireLiveSession(sessions: SessionCache, sessionId: unknown, userId: string): Promise<void> {
  if (sessionId === undefined) return;
  const id = String(sessionId);
  if (!isSessionId(id))
    throw new TokenRefused('InvalidJWTToken', 'the token’s session_id claim is not a session id');
  let live: boolean;
  try {
    live = await sessions.isLive(id, userId);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code !== '42501' && code !== '42P01') throw err;
    throw new Error(
      "bbb's database role cannot read auth.sessions, so no signed-in token can be checked; " +
        'connect as a role that can (docs/supabase.md#the-database-role)',
      { cause: err },
    );
  }
  if (!live) {
    throw new TokenRefused(
      'InvalidJWTToken',
      'the token’s session has ended (signed out, revoked or too old): sign in again',
    );
  }
}
