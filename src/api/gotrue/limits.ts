// Guessing limits, in two kinds:
//   - per client address (an IPv6 /64 counts as one): BBB_LOGIN_RATE_LIMIT signups, and as many token grants,
//     per 5 minutes, so one client cannot try many accounts;
//   - per account and client: password grants for one email from one address get a growing delay after a
//     few failures (src/auth/login-delay.ts). Never a refusal for the email everywhere, which would let
//     anyone lock the owner out.
// Either way the answer is GoTrue's 429 over_request_rate_limit, with Retry-After.
import type { Context } from 'hono';
import { addressGroup } from '../../auth/address-group.ts';
import { GotrueError } from '../../auth/gotrue/errors.ts';
import { LoginDelays } from '../../auth/login-delay.ts';
import { RateLimiter, type RateLimitResult } from '../../auth/rate-limit.ts';
import type { AppDeps } from '../context.ts';
import { clientAddress } from './guards.ts';

const WINDOW_MS = 5 * 60 * 1000;

export type AttemptKind = 'signup' | 'token';

export interface AttemptLimiter {
  /** Counts a signup or token grant against the caller's address; throws 429 over the limit. */
  address(c: Context, kind: AttemptKind): void;
  /**
   * Counts a password attempt for `email` from the caller's address (and the address itself); throws 429
   * while that pair must wait. Call the returned function when the password was right.
   */
  password(c: Context, email: string): () => void;
}

function refuseUnless({ allowed, retryAfterMs }: RateLimitResult): void {
  if (allowed) return;
  throw new GotrueError(429, 'over_request_rate_limit', 'Request rate limit reached', {
    headers: { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) },
  });
}

export function attemptLimiter(deps: AppDeps): AttemptLimiter {
  const now = () => deps.now?.() ?? Date.now();
  // Separate tables, so address keys, which anyone can mint by the thousand, never evict a delay.
  const perAddress = new RateLimiter({ limit: deps.loginRateLimit, windowMs: WINDOW_MS, now });
  const perAccount = new LoginDelays({ now });
  const group = (c: Context) => addressGroup(clientAddress(c, deps.trustProxyHops));

  return {
    address(c, kind) {
      refuseUnless(perAddress.hit(`${kind}:${group(c)}`));
    },
    password(c, email) {
      const from = group(c);
      refuseUnless(perAddress.hit(`token:${from}`));
      const key = `${email.trim().toLowerCase()} ${from}`;
      refuseUnless(perAccount.hit(key));
      return () => perAccount.reset(key);
    },
  };
}
