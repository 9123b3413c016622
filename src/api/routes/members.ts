// Organisation members: list them with their emails, change a role, remove one (or yourself: leaving).
// Owners manage everyone; admins manage admins and members but cannot touch owners or make one; the last
// owner can be neither demoted nor removed (the database raises owner_required).
import { createRoute, z } from '@hono/zod-openapi';
import type { TxSql } from '../../db/client.ts';
import { type AppDeps, router } from '../context.ts';
import { notFound } from '../errors.ts';
import { callerRole, refusedAs } from '../orgs/access.ts';
import { errorResponses, json, type OrgRole, orgParams, roleSchema, uuidSchema } from '../orgs/schemas.ts';
import { userTx } from '../user-db.ts';

const memberSchema = z
  .object({
    user_id: z.uuid(),
    email: z.string(),
    role: roleSchema,
    created_at: z.string().openapi({ format: 'date-time', description: 'when they joined' }),
  })
  .openapi('OrganisationMember');

const memberParams = orgParams.extend({
  userId: uuidSchema('user id').openapi({ param: { name: 'userId', in: 'path' } }),
});

const REFUSED =
  'only owners and admins manage members, and only owners manage owners or make someone an owner';

const list = createRoute({
  method: 'get',
  path: '/organisations/{id}/members',
  tags: ['organisations'],
  summary: 'The members of an organisation, with their emails',
  request: { params: orgParams },
  responses: {
    200: json(z.object({ data: z.array(memberSchema) }), 'Members, earliest first'),
    ...errorResponses(400, 404),
  },
});

const update = createRoute({
  method: 'patch',
  path: '/organisations/{id}/members/{userId}',
  tags: ['organisations'],
  summary: "Change a member's role",
  request: {
    params: memberParams,
    body: { required: true, content: { 'application/json': { schema: z.object({ role: roleSchema }) } } },
  },
  responses: { 200: json(memberSchema, 'The member as changed'), ...errorResponses(400, 403, 404, 409) },
});

const remove = createRoute({
  method: 'delete',
  path: '/organisations/{id}/members/{userId}',
  tags: ['organisations'],
  summary: 'Remove a member; your own user id leaves the organisation',
  request: { params: memberParams },
  responses: { 204: { description: 'Removed' }, ...errorResponses(400, 403, 404, 409) },
});

async function members(tx: TxSql, orgId: string, userId?: string) {
  const rows = await tx<{ user_id: string; email: string; role: OrgRole; created_at: Date }[]>`
    select m.user_id, e.email, m.role, m.created_at
    from public.organisation_members m
    join public.organisation_member_emails(${orgId}) e on e.user_id = m.user_id
    where m.organisation_id = ${orgId} ${userId === undefined ? tx`` : tx`and m.user_id = ${userId}`}
    order by m.created_at, m.user_id`;
  return rows.map((r) => ({ ...r, created_at: r.created_at.toISOString() }));
}

/** 404 unless the member exists (as the caller sees it), so a refused change can say 403. */
async function requireMember(tx: TxSql, orgId: string, userId: string): Promise<void> {
  const [exists] = await tx`
    select 1 from public.organisation_members where organisation_id = ${orgId} and user_id = ${userId}`;
  if (!exists) throw notFound('member');
}

export function memberRoutes(deps: AppDeps) {
  const r = router();

  r.openapi(list, async (c) => {
    const { id } = c.req.valid('param');
    const data = await userTx(deps, c, async (tx) => {
      await callerRole(tx, id);
      return members(tx, id);
    });
    return c.json({ data }, 200);
  });

  r.openapi(update, async (c) => {
    const { id, userId } = c.req.valid('param');
    const { role } = c.req.valid('json');
    const [member] = await userTx(deps, c, async (tx) => {
      await callerRole(tx, id);
      await requireMember(tx, id, userId);
      await refusedAs(
        REFUSED,
        tx`update public.organisation_members set role = ${role}
           where organisation_id = ${id} and user_id = ${userId} returning user_id`,
      );
      return members(tx, id, userId);
    });
    return c.json(member!, 200);
  });

  r.openapi(remove, async (c) => {
    const { id, userId } = c.req.valid('param');
    await userTx(deps, c, async (tx) => {
      await callerRole(tx, id);
      await requireMember(tx, id, userId);
      await refusedAs(
        REFUSED,
        tx`delete from public.organisation_members
           where organisation_id = ${id} and user_id = ${userId} returning user_id`,
      );
    });
    return c.body(null, 204);
  });

  return r;
}
