// The pieces every route's OpenAPI description is built from, so /v1/openapi.json names the error body once
// (components.schemas.Error) and every route documents errors, pages and ids the same way.
import { z } from '@hono/zod-openapi';

/** What src/api/errors.ts sends for every /v1 error. */
export const ErrorBody = z
  .object({
    error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
  })
  .openapi('Error');
export type ErrorBody = z.infer<typeof ErrorBody>;

/** A response whose body is JSON of `schema`. */
export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

/** A JSON request body. */
export const jsonBody = <T extends z.ZodType>(schema: T, { required = true } = {}) => ({
  required,
  content: { 'application/json': { schema } },
});

/** One error answer, described for the route that gives it. */
export const errorJson = (description: string) => json(ErrorBody, description);

// Organisation-scoped routes refuse for the same few reasons, so they share the wording.
const COMMON_ERRORS = {
  400: 'The request is not valid (validation_failed)',
  403: 'You can see the organisation but may not do this (forbidden)',
  404: 'No such resource, or one you cannot see (not_found)',
  409: 'The change would leave the organisation without an owner (owner_required)',
  410: 'The invite has expired (invite_expired)',
} as const;
type CommonErrorStatus = keyof typeof COMMON_ERRORS;

/** The error answers a route can give, each with the shared description. */
export function commonErrors<S extends CommonErrorStatus>(
  ...statuses: S[]
): Record<S, ReturnType<typeof errorJson>> {
  const out = {} as Record<S, ReturnType<typeof errorJson>>;
  for (const s of statuses) out[s] = errorJson(COMMON_ERRORS[s]);
  return out;
}

/** A keyset page, as src/api/pagination.ts builds it. */
export const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({
    data: z.array(item),
    next_cursor: z
      .string()
      .nullable()
      .openapi({ description: 'pass as `cursor` for the next page; null at the end' }),
  });

export const limitParam = z.coerce
  .number('limit must be a whole number from 1 to 200')
  .int('limit must be a whole number from 1 to 200')
  .min(1, 'limit must be at least 1')
  .max(200, 'limit is at most 200')
  .default(50)
  .openapi({ description: 'rows per page, 1–200 (default 50)' });

export const cursorParam = z
  .string()
  .max(1000, 'the cursor is not one this API returned')
  .optional()
  .openapi({ description: 'next_cursor from the previous page; omit for the first page' });

/** A UUID whose refusal says what to send. */
export const uuidSchema = (what: string) =>
  z.uuid({ error: `give the ${what} as a UUID, e.g. 3f2b8c9e-1d4a-4c6b-9e7f-0a1b2c3d4e5f` });

/** Documents `schema` as the path parameter `name`. */
export const inPath = <T extends z.ZodType>(name: string, schema: T) =>
  schema.openapi({ param: { name, in: 'path' } });

export const JobIdParams = z.object({
  id: inPath('id', z.uuid('the job id is a UUID, as returned when the job was created')).openapi({
    example: '2f1c6d3e-8a4b-4c55-9d0e-1a2b3c4d5e6f',
  }),
});

export const ShareLinkParams = JobIdParams.extend({
  linkId: inPath('linkId', z.uuid('the link id is a UUID')),
});

export const OrgIdParams = z.object({ id: inPath('id', uuidSchema('organisation id')) });

export const MemberParams = OrgIdParams.extend({ userId: inPath('userId', uuidSchema('user id')) });

export const InviteParams = OrgIdParams.extend({ inviteId: inPath('inviteId', uuidSchema('invite id')) });
