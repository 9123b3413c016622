// Every error leaves the API in one shape, {error:{code,message,details?}}, from this one place. Typed errors
// thrown anywhere (ApiError, zod, token, database) are turned into a status and a code here.
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ZodError } from 'zod';
import { ExpectedError, isMalformedJson } from '../errors.ts';
import { log } from '../log.ts';
import type { ErrorBody } from './openapi.ts';

export class ApiError extends ExpectedError {
  override name = 'ApiError';
  override readonly httpStatus: number;
  constructor(
    readonly status: ContentfulStatusCode,
    override readonly code: string,
    message: string,
    override readonly details?: unknown,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.httpStatus = status;
  }
}

export const notFound = (what: string) => new ApiError(404, 'not_found', `${what} not found`);
export const forbidden = (message: string, options?: ErrorOptions) =>
  new ApiError(403, 'forbidden', message, undefined, options);

/** Issues as a person reads them: `path: message`. */
export function validationDetails(err: ZodError): Array<{ path: string; message: string }> {
  return err.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
}

// Database errors the policies and functions raise on purpose (see supabase/migrations).
const PG_ERRORS: Record<string, [ContentfulStatusCode, string]> = {
  BBB01: [402, 'plan_limit_reached'],
  BBB02: [402, 'plan_limit_reached'],
  BBB03: [403, 'organisation_limit_reached'],
  BBB10: [404, 'invite_not_found'],
  BBB11: [410, 'invite_expired'],
  BBB12: [403, 'invite_email_mismatch'],
  BBB20: [409, 'owner_required'],
  '42501': [403, 'forbidden'],
  '23505': [409, 'conflict'],
  '23503': [400, 'invalid_reference'],
  '23514': [400, 'invalid_value'],
  '22P02': [400, 'invalid_value'],
  P0002: [404, 'not_found'],
};

export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  // The original stays attached for whoever logs or debugs the answer; the body never shows it.
  const answer = (status: ContentfulStatusCode, code: string, message: string, details?: unknown) =>
    new ApiError(status, code, message, details, { cause: err });
  if (err instanceof ZodError) {
    return answer(400, 'validation_failed', 'the request is not valid', validationDetails(err));
  }
  if (err instanceof ExpectedError) {
    return answer(
      err.httpStatus as ContentfulStatusCode,
      err.code,
      err.publicMessage ?? err.message,
      err.details,
    );
  }
  if (err instanceof HTTPException) {
    if (err.status === 413) return answer(413, 'payload_too_large', err.message);
    if (isMalformedJson(err)) {
      return answer(400, 'invalid_json', 'the request body is not valid JSON');
    }
    return answer(err.status as ContentfulStatusCode, 'bad_request', err.message);
  }
  const pg = err as { code?: string; message?: string; severity?: string };
  if (typeof pg.code === 'string' && pg.severity) {
    const mapped = PG_ERRORS[pg.code];
    if (mapped) {
      // Row-level security refusals say only that; the database's wording names tables and policies.
      const message = pg.code === '42501' ? 'you are not allowed to do that' : (pg.message ?? 'refused');
      return answer(mapped[0], mapped[1], message);
    }
  }
  return answer(500, 'internal', 'something went wrong on our side; try again');
}

/** A failure of ours (a 5xx), with the request it broke: the client is told only that something went wrong. */
export function logServerError(err: unknown, c: Context): void {
  log.error(`${c.req.method} ${c.req.path} [${c.get('requestId') ?? '-'}]: ${(err as Error)?.stack ?? err}`);
}

/** The response for anything thrown on /v1. */
export function toErrorResponse(err: unknown, c: Context): Response {
  const api = toApiError(err);
  if (api.status >= 500) logServerError(err, c);
  const body: ErrorBody = { error: { code: api.code, message: api.message } };
  if (api.details !== undefined) body.error.details = api.details;
  if (api.status === 401) c.header('WWW-Authenticate', 'Bearer');
  return c.json(body, api.status);
}
