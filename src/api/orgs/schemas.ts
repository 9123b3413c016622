// Schemas shared by the organisation, member, invite, usage and dashboard routes.
import { z } from '@hono/zod-openapi';

export const ROLES = ['owner', 'admin', 'member'] as const;
export type OrgRole = (typeof ROLES)[number];

export const roleSchema = z
  .enum(ROLES, { error: 'the role must be owner, admin or member' })
  .openapi({ example: 'member' });

export const uuidSchema = (what: string) =>
  z.uuid({ error: `give the ${what} as a UUID, e.g. 3f2b8c9e-1d4a-4c6b-9e7f-0a1b2c3d4e5f` });

export const orgParams = z.object({
  id: uuidSchema('organisation id').openapi({ param: { name: 'id', in: 'path' } }),
});

export const organisationSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    plan_id: z.string(),
    role: roleSchema,
    active: z.boolean().openapi({ description: 'whether this is the organisation your requests act on' }),
    created_at: z.string().openapi({ format: 'date-time' }),
  })
  .openapi('Organisation');
export type Organisation = z.infer<typeof organisationSchema>;

const errorSchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
});

const ERROR_DESCRIPTIONS = {
  400: 'The request is not valid (validation_failed)',
  403: 'You can see the organisation but may not do this (forbidden)',
  404: 'No such resource, or one you cannot see (not_found)',
  409: 'The change would leave the organisation without an owner (owner_required)',
  410: 'The invite has expired (invite_expired)',
} as const;
type ErrorStatus = keyof typeof ERROR_DESCRIPTIONS;

/** Documents the error answers a route can give; the error handler produces them. */
export function errorResponses<S extends ErrorStatus>(
  ...statuses: S[]
): Record<S, { description: string; content: { 'application/json': { schema: typeof errorSchema } } }> {
  const out = {} as Record<
    S,
    { description: string; content: { 'application/json': { schema: typeof errorSchema } } }
  >;
  for (const s of statuses) {
    out[s] = { description: ERROR_DESCRIPTIONS[s], content: { 'application/json': { schema: errorSchema } } };
  }
  return out;
}

export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});
