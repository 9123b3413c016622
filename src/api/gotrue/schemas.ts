// Request and response schemas for /auth/v1, so the GoTrue-compatible endpoints are documented in
// /v1/openapi.json beside the product API. Bodies keep only the fields bbb uses; the rest of what supabase-js
// sends (gotrue_meta_security, code_challenge) is dropped.
import { z } from '@hono/zod-openapi';
import { json } from '../openapi.ts';

export const UserSchema = z
  .object({
    id: z.string(),
    aud: z.string(),
    role: z.string(),
    email: z.string(),
    email_confirmed_at: z.string().optional(),
    phone: z.string(),
    confirmed_at: z.string().optional(),
    last_sign_in_at: z.string().optional(),
    app_metadata: z.record(z.string(), z.unknown()),
    user_metadata: z.record(z.string(), z.unknown()),
    identities: z.array(z.unknown()),
    created_at: z.string(),
    updated_at: z.string(),
    is_anonymous: z.boolean(),
  })
  .openapi('AuthUser');

export const SessionSchema = z
  .object({
    access_token: z.string().openapi({ description: 'HS256 JWT; send as `Authorization: Bearer …`' }),
    token_type: z.literal('bearer'),
    expires_in: z.number().int(),
    expires_at: z.number().int().openapi({ description: 'Unix seconds' }),
    refresh_token: z.string().openapi({ description: 'Single use: each refresh returns a new one' }),
    user: UserSchema,
  })
  .openapi('AuthSession');

export const GotrueErrorSchema = z
  .object({
    code: z.union([z.number(), z.string()]).openapi({
      description:
        'HTTP status; the error code instead when the request sent X-Supabase-Api-Version ≥ 2024-01-01',
    }),
    error_code: z.string().optional(),
    msg: z.string().optional(),
    message: z.string().optional(),
  })
  .openapi('AuthError');

const email = z.string({ error: 'give the email address as a string, e.g. ada@example.com' });
const password = z.string({ error: 'give the password as a string' });

export const SignupBody = z.object({
  email: email.optional(),
  phone: z.string().optional().openapi({ description: 'not supported: bbb signs up by email only' }),
  password: password.optional(),
  data: z
    .record(z.string(), z.unknown(), { error: 'data must be an object of user metadata' })
    .nullish()
    .openapi({ description: 'Stored as the user’s user_metadata' }),
});

export const TokenQuery = z.object({
  grant_type: z.enum(['password', 'refresh_token'], {
    error: 'grant_type must be password or refresh_token',
  }),
});

export const TokenBody = z.object({
  email: email.optional().openapi({ description: 'grant_type=password' }),
  phone: z.string().optional().openapi({ description: 'not supported: bbb signs in by email only' }),
  password: password.optional().openapi({ description: 'grant_type=password' }),
  refresh_token: z
    .string({ error: 'give the refresh token as a string' })
    .optional()
    .openapi({ description: 'grant_type=refresh_token: the token from the last session response' }),
});

export const LogoutQuery = z.object({
  scope: z
    .enum(['global', 'local', 'others'], { error: 'scope must be global, local or others' })
    .optional()
    .openapi({
      description: 'global (default): every session of the user; local: this one; others: all but this',
    }),
});

/** The error answers an /auth/v1 route can give, in GoTrue's shape, each with what it means there. */
export const gotrueErrors = (statuses: Record<number, string>) =>
  Object.fromEntries(
    Object.entries(statuses).map(([status, description]) => [status, json(GotrueErrorSchema, description)]),
  );
