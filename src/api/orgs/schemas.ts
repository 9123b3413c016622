// Schemas shared by the organisation, member and invite routes.
import { z } from '@hono/zod-openapi';

export const ROLES = ['owner', 'admin', 'member'] as const;
export type OrgRole = (typeof ROLES)[number];

export const roleSchema = z
  .enum(ROLES, { error: 'the role must be owner, admin or member' })
  .openapi({ example: 'member' });

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

export const memberSchema = z
  .object({
    user_id: z.uuid(),
    email: z.string(),
    role: roleSchema,
    created_at: z.string().openapi({ format: 'date-time', description: 'when they joined' }),
  })
  .openapi('OrganisationMember');
export type Member = z.infer<typeof memberSchema>;

export const inviteSchema = z
  .object({
    id: z.uuid(),
    email: z.string(),
    role: roleSchema,
    created_at: z.string().openapi({ format: 'date-time' }),
    expires_at: z.string().openapi({ format: 'date-time' }),
  })
  .openapi('OrganisationInvite');
export type Invite = z.infer<typeof inviteSchema>;
