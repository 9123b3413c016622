// POST /signup and POST /token (grant_type password | refresh_token): the calls supabase-js makes for
// signUp, signInWithPassword and refreshSession. Each answers with a session.
import { createRoute } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { GotrueError, validationFailed } from '../../auth/gotrue/errors.ts';
import { checkUserMetadata } from '../../auth/gotrue/metadata.ts';
import {
  checkPasswordStrength,
  hashPassword,
  normaliseEmail,
  verifyPassword,
} from '../../auth/gotrue/passwords.ts';
import { rotateRefreshToken, startSession } from '../../auth/gotrue/sessions.ts';
import {
  findUserByEmail,
  findUserById,
  insertUser,
  isBanned,
  recordSignIn,
} from '../../auth/gotrue/users.ts';
import { type AppDeps, router, sessionMaxAge } from '../context.ts';
import { json, jsonBody } from '../openapi.ts';
import type { AttemptLimiter } from './limits.ts';
import { gotrueErrors, SessionSchema, SignupBody, TokenBody, TokenQuery } from './schemas.ts';
import { sessionResponse } from './session-response.ts';

const security = [{ apikey: [] }];

const signup = createRoute({
  method: 'post',
  path: '/signup',
  tags: ['auth'],
  summary: 'Create an email + password user and sign them in',
  description: 'Standalone bbb has no mailer, so the email is confirmed at once and a session is returned.',
  security,
  request: { body: jsonBody(SignupBody) },
  responses: {
    200: json(SessionSchema, 'The new user, signed in'),
    ...gotrueErrors({
      400: 'Invalid email or body, or data too deep or large (validation_failed, bad_json)',
      422: 'The email is taken (user_already_exists) or the password is too short or too common (weak_password)',
      429: 'Too many attempts from this address (over_request_rate_limit)',
    }),
  },
});

const token = createRoute({
  method: 'post',
  path: '/token',
  tags: ['auth'],
  summary: 'Sign in with email + password, or swap a refresh token for a new session',
  description:
    'A refresh token works once: using one again revokes its whole session (refresh_token_already_used).',
  security,
  request: { query: TokenQuery, body: jsonBody(TokenBody) },
  responses: {
    200: json(SessionSchema, 'A session'),
    ...gotrueErrors({
      400: 'invalid_credentials, refresh_token_not_found, refresh_token_already_used, session_expired, validation_failed',
      429: 'Too many attempts from this address, or for this email from it (over_request_rate_limit)',
    }),
  },
});

const userAgent = (c: Context) => c.req.header('user-agent');

export function tokenRoutes(deps: AppDeps, limit: AttemptLimiter) {
  const r = router();
  const clock = () => deps.now?.() ?? Date.now();

  r.openapi(signup, async (c) => {
    const body = c.req.valid('json');
    if (body.phone && !body.email) {
      throw new GotrueError(400, 'phone_provider_disabled', 'Phone signups are disabled');
    }
    if (!body.email) throw validationFailed('To signup, please provide your email');
    if (!body.password) throw validationFailed('Signup requires a valid password');
    const email = normaliseEmail(body.email);
    checkPasswordStrength(body.password);
    const metadata = body.data ?? {};
    checkUserMetadata(metadata);
    limit.address(c, 'signup');
    const passwordHash = await hashPassword(body.password);
    const now = clock();
    const at = new Date(now);
    const created = await deps.sql.begin(async (tx) => {
      const user = await insertUser(tx, { email, passwordHash, metadata, at });
      if (!user) return undefined;
      return { user, ...(await startSession(tx, user.id, at, userAgent(c))) };
    });
    if (!created) throw new GotrueError(422, 'user_already_exists', 'User already registered');
    return c.json(await sessionResponse(deps, created.user, created.session, created.refreshToken, now), 200);
  });

  r.openapi(token, async (c) => {
    const { grant_type } = c.req.valid('query');
    const body = c.req.valid('json');
    const now = clock();
    const at = new Date(now);

    if (grant_type === 'refresh_token') {
      if (!body.refresh_token) throw validationFailed('refresh_token required');
      limit.address(c, 'token');
      const { session, refreshToken } = await rotateRefreshToken(
        deps.sql,
        body.refresh_token,
        at,
        sessionMaxAge(deps),
      );
      const user = await findUserById(deps.sql, session.user_id);
      if (!user) {
        throw new GotrueError(
          400,
          'refresh_token_not_found',
          'Invalid Refresh Token: Refresh Token Not Found',
        );
      }
      if (isBanned(user, at)) throw new GotrueError(400, 'user_banned', 'Invalid Refresh Token: User Banned');
      return c.json(await sessionResponse(deps, user, session, refreshToken, now), 200);
    }

    if (body.phone && !body.email) {
      throw new GotrueError(422, 'phone_provider_disabled', 'Phone logins are disabled');
    }
    if (!body.email) throw validationFailed('missing email or phone');
    const passwordWasRight = limit.password(c, body.email);
    const found = await findUserByEmail(deps.sql, body.email.trim().toLowerCase());
    // One answer for an unknown email and a wrong password; both cost one bcrypt comparison.
    const matches = await verifyPassword(body.password ?? '', found?.encrypted_password);
    if (!found || !matches) throw new GotrueError(400, 'invalid_credentials', 'Invalid login credentials');
    passwordWasRight();
    if (isBanned(found, at)) throw new GotrueError(400, 'user_banned', 'User is banned');
    if (!found.email_confirmed_at) throw new GotrueError(400, 'email_not_confirmed', 'Email not confirmed');
    const signed = await deps.sql.begin(async (tx) => ({
      user: await recordSignIn(tx, found, at),
      ...(await startSession(tx, found.id, at, userAgent(c))),
    }));
    return c.json(await sessionResponse(deps, signed.user, signed.session, signed.refreshToken, now), 200);
  });

  return r;
}
