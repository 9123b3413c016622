// Guessing limits: signups and token grants per client address, and password grants also per email, so
// neither one address trying many accounts nor many addresses trying one account get far.
// BBB_LOGIN_RATE_LIMIT attempts per 5 minutes each; over it, 429 over_request_rate_limit as GoTrue answers.
import type { Context } from 'hono';
import { GotrueError } from '../../auth/gotrue/errors.ts';
import { RateLimiter } from '../../auth/rate-limit.ts';
import type { AppDeps } from '../context.ts';
import { clientAddress } from './guards.ts';

const WINDOW_MS = 5 * 60 * 1000;

export type AttemptKind = 'signup' | 'token';

export type AttemptLimiter = (c: Context, kind: AttemptKind, email?: string) => void;

export function attemptLimiter(deps: AppDeps): AttemptLimiter {
  const limiter = new RateLimiter({
    limit: deps.loginRateLimit,
    windowMs: WINDOW_MS,
    now: () => deps.now?.() ?? Date.now(),
  });
  return (c, kind, email) => {
    const keys = [`${kind}:${clientAddress(c, deps.trustProxyHops)}`];
    if (email !== undefined) keys.push(`email:${email.trim().toLowerCase()}`);
    for (const key of keys) {
      const { allowed, retryAfterMs } = limiter.hit(key);
      if (!allowed) {
        throw new GotrueError(429, 'over_request_rate_limit', 'Request rate limit reached', {
          headers: { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) },
        });
      }
    }
  };
}
