// Access-token verification the way Supabase does it: HS256 with the project's JWT secret (the legacy
// scheme, and what `bbb serve` issues), and/or asymmetric keys from a JWKS URL (Supabase's
// /auth/v1/.well-known/jwks.json). The algorithm in the token's header only picks which key to try: each key
// is used with its own fixed algorithm list, so `alg: none` and HS256-signed-with-a-public-key are refused.

import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  type JWTPayload,
  errors as joseErrors,
  jwtVerify,
  SignJWT,
} from 'jose';
import { ExpectedError } from '../errors.ts';

const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA'];
const JWKS_TIMEOUT_MS = 5_000;

export interface UserClaims extends JWTPayload {
  sub: string;
  role: 'authenticated';
  aud: string | string[];
  email?: string;
  session_id?: string;
}

export class InvalidTokenError extends ExpectedError {
  override name = 'InvalidTokenError';
  override readonly httpStatus = 401;
  override readonly code = 'invalid_token';
}

export interface TokenVerifierOptions {
  secret?: string | undefined;
  jwksUrl?: string | undefined;
  issuer?: string | undefined;
}

export type TokenVerifier = (token: string) => Promise<UserClaims>;

export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  if (!options.secret && !options.jwksUrl) {
    throw new Error('token verification needs a JWT secret or a JWKS URL');
  }
  const secret = options.secret ? new TextEncoder().encode(options.secret) : undefined;
  // jose caches the key set, refetches on an unknown kid (at most every 30 s) and times out each fetch.
  const jwks = options.jwksUrl
    ? createRemoteJWKSet(new URL(options.jwksUrl), { timeoutDuration: JWKS_TIMEOUT_MS })
    : undefined;
  const common = {
    audience: 'authenticated',
    requiredClaims: ['exp', 'sub'],
    ...(options.issuer ? { issuer: options.issuer } : {}),
  };

  return async (token) => {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new InvalidTokenError('the token is not a JWT');
    }
    let payload: JWTPayload;
    try {
      if (alg === 'HS256' && secret) {
        payload = (await jwtVerify(token, secret, { ...common, algorithms: ['HS256'] })).payload;
      } else if (alg && ASYMMETRIC.includes(alg) && jwks) {
        payload = (await jwtVerify(token, jwks, { ...common, algorithms: ASYMMETRIC })).payload;
      } else {
        throw new InvalidTokenError(`tokens signed with ${alg ?? 'no algorithm'} are not accepted`);
      }
    } catch (err) {
      throw toInvalid(err);
    }
    if (payload.role !== 'authenticated') {
      throw new InvalidTokenError('the token is not a signed-in user’s token (role must be authenticated)');
    }
    if (typeof payload.sub !== 'string' || !/^[0-9a-f-]{36}$/i.test(payload.sub)) {
      throw new InvalidTokenError('the token’s subject is not a user id');
    }
    return payload as UserClaims;
  };
}

function toInvalid(err: unknown): InvalidTokenError {
  if (err instanceof InvalidTokenError) return err;
  if (err instanceof joseErrors.JWTExpired)
    return new InvalidTokenError('the token has expired: sign in again');
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    return new InvalidTokenError(`the token’s ${err.claim} claim is not accepted`);
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) {
    return new InvalidTokenError('the token’s signature is not valid');
  }
  if (err instanceof joseErrors.JWKSNoMatchingKey) return new InvalidTokenError('no key matches the token');
  if (err instanceof joseErrors.JOSEError)
    return new InvalidTokenError(`the token is not valid (${err.code})`);
  return new InvalidTokenError('the token could not be verified');
}

/**
 * Signs HS256 tokens with the project secret: access tokens, and the anon and service-role keys. `now` (Unix
 * seconds) lets the caller's clock set iat and exp, so they match the expires_at it reports.
 */
export async function signHs256(
  secret: string,
  claims: JWTPayload,
  expiresInSeconds: number,
  now = Math.floor(Date.now() / 1000),
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt(now)
    .setExpirationTime(now + expiresInSeconds)
    .sign(new TextEncoder().encode(secret));
}

const TEN_YEARS = 10 * 365 * 24 * 3600;

/** The anon and service-role API keys, shaped as Supabase's: long-lived JWTs with only a role. */
export async function apiKeys(
  secret: string,
  issuer = 'bbb',
): Promise<{ anon: string; serviceRole: string }> {
  const [anon, serviceRole] = await Promise.all([
    signHs256(secret, { iss: issuer, role: 'anon' }, TEN_YEARS),
    signHs256(secret, { iss: issuer, role: 'service_role' }, TEN_YEARS),
  ]);
  return { anon: anon!, serviceRole: serviceRole! };
}

/** Verifies an `apikey` header value: any of our keys (anon or service role), signed with the secret. */
export async function verifyApiKey(secret: string, key: string): Promise<'anon' | 'service_role'> {
  try {
    const { payload } = await jwtVerify(key, new TextEncoder().encode(secret), { algorithms: ['HS256'] });
    if (payload.role === 'anon' || payload.role === 'service_role') return payload.role;
  } catch {
    // fall through
  }
  throw new InvalidTokenError('the apikey is not valid for this project');
}
