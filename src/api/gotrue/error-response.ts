// Errors on /auth/v1 leave in GoTrue's shape, not the product API's, because supabase-js reads them. GoTrue
// picks the shape from the request's X-Supabase-Api-Version header (auth-js always sends 2024-01-01):
//   2024-01-01 or later: {code: "<error_code>", message}, and the header is echoed back
//   absent or older:     {code: <http status>, error_code, msg}
// auth-js takes the error code from `code` when the echoed version allows it, else from `error_code`.

import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { GotrueError } from '../../auth/gotrue/errors.ts';
import { isMalformedJson } from '../../errors.ts';
import { ApiError, logServerError } from '../errors.ts';

const API_VERSION_HEADER = 'X-Supabase-Api-Version';
const API_VERSION_2024 = '2024-01-01';

/** Anything thrown on /auth/v1, as GoTrue would have answered it. */
export function toGotrueError(err: unknown): GotrueError {
  if (err instanceof GotrueError) return err;
  // The shared router's zod hook throws ApiError(validation_failed) with per-field details.
  if (err instanceof ApiError) {
    const details = Array.isArray(err.details)
      ? (err.details as Array<{ path: string; message: string }>)
          .map((d) => (d.path ? `${d.path}: ${d.message}` : d.message))
          .join('; ')
      : '';
    return new GotrueError(err.status, err.code, details || err.message);
  }
  if (err instanceof HTTPException) {
    if (isMalformedJson(err)) {
      return new GotrueError(400, 'bad_json', 'Could not parse request body as JSON');
    }
    if (err.status === 415) {
      return new GotrueError(
        415,
        'validation_failed',
        'Send the body as JSON (Content-Type: application/json)',
      );
    }
    return new GotrueError(err.status, 'validation_failed', err.message);
  }
  return new GotrueError(500, 'unexpected_failure', 'Unexpected failure, please check server logs');
}

function wantsDatedErrors(c: Context): boolean {
  const given = c.req.header(API_VERSION_HEADER);
  return Boolean(given && /^\d{4}-\d{2}-\d{2}$/.test(given) && given >= API_VERSION_2024);
}

export function gotrueErrorResponse(err: unknown, c: Context): Response {
  const e = toGotrueError(err);
  const status = e.status as ContentfulStatusCode;
  if (e.status >= 500) logServerError(err, c);
  for (const [name, value] of Object.entries(e.extra.headers ?? {})) c.header(name, value);
  if (wantsDatedErrors(c)) {
    c.header(API_VERSION_HEADER, API_VERSION_2024);
    return c.json({ code: e.errorCode, message: e.message, ...e.extra.body }, status);
  }
  return c.json({ code: e.status, error_code: e.errorCode, msg: e.message, ...e.extra.body }, status);
}
