// What every route can reach: the database pool and the auth settings, plus per-request variables set by
// middleware (the request id and, on signed-in routes, the verified claims).
import { OpenAPIHono } from '@hono/zod-openapi';
import { DEFAULT_SESSION_MAX_AGE_SECONDS } from '../auth/gotrue/sessions.ts';
import type { TokenVerifier, UserClaims } from '../auth/jwt.ts';
import type { Sql } from '../db/client.ts';
import { ApiError, validationDetails } from './errors.ts';
import type { ExportLimits } from './jobs/export-limits.ts';

export interface AppDeps {
  sql: Sql;
  verifyToken: TokenVerifier;
  /** The HS256 secret when bbb issues tokens itself (standalone auth server); undefined with Supabase Auth. */
  jwtSecret?: string | undefined;
  jwtIssuer?: string | undefined;
  jwtExpirySeconds: number;
  /** A session's absolute lifetime from sign-in (BBB_SESSION_MAX_AGE); unset: the default, 30 days. */
  sessionMaxAgeSeconds?: number;
  authServer: boolean;
  loginRateLimit: number;
  /** Reverse proxies in front of us that append the client to X-Forwarded-For; 0 trusts only the socket. */
  trustProxyHops?: number;
  bodyLimitBytes: number;
  /** Time source, so tests can move the clock for expiries and rate-limit windows. */
  now?: () => number;
  /** The workers running in this process (`bbb serve`), whose readiness /health/ready includes. */
  workers?: { readiness(): { ready: boolean; unreadyForMs: number } };
  /** Changes to the export limits (src/api/jobs/export-limits.ts), such as a short idle deadline in tests. */
  exportLimits?: Partial<ExportLimits>;
}

export interface AppEnv {
  Variables: {
    requestId: string;
    claims: UserClaims;
  };
}

export const sessionMaxAge = (deps: AppDeps) => deps.sessionMaxAgeSeconds ?? DEFAULT_SESSION_MAX_AGE_SECONDS;

/** A router whose validation failures become our error body (400 validation_failed, with every issue). */
export function router(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        throw new ApiError(
          400,
          'validation_failed',
          'the request is not valid',
          validationDetails(result.error),
        );
      }
    },
  });
}
