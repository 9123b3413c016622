// Organisation members: list them with their emails, change a role, remove one (or yourself: leaving).
// Owners manage everyone; admins manage admins and members but cannot touch owners or make one; the last
// owner can be neither demoted nor removed (the database raises owner_required).
import { createRoute, z } from '@hono/zod-openapi';
import { type AppDeps, router } from '../context.ts';
import { commonErrors, json, jsonBody, MemberParams, OrgIdParams } from '../openapi.ts';
import { callerRole, refusedAs } from '../orgs/access.ts';
import { listMembers, removeMember, requireMember, setMemberRole } from '../orgs/member-queries.ts';
import { memberSchema, roleSchema } from '../orgs/schemas.ts';
import { userTx } from '../user-db.ts';

const REFUSED =
  'only owners and admins manage members, and only owners manage owners or make someone an owner';

const list = createRoute({
  method: 'get',
  path: '/organisations/{id}/members',
  tags: ['organisations'],
  summary: 'The members of an organisation, with their emails',
  request: { params: OrgIdParams },
  responses: {
    200: json(z.object({ data: z.array(memberSchema) }), 'Members, earliest first'),
    ...commonErrors(400, 404),
  },
});

const update = createRoute({
  method: 'patch',
  path: '/organisations/{id}/members/{userId}',
  tags: ['organisations'],
  summary: "Change a member's role",
  request: {
    params: MemberParams,
    body: jsonBody(z.object({ role: roleSchema })),
  },
  responses: { 200: json(memberSchema, 'The member as changed'), ...commonErrors(400, 403, 404, 409) },
});

const remove = createRoute({
  method: 'delete',
  path: '/organisations/{id}/members/{userId}',
  tags: ['organisations'],
  summary: 'Remove a member; your own user id leaves the organisation',
  request: { params: MemberParams },
  responses: { 204: { description: 'Removed' }, ...commonErrors(400, 403, 404, 409) },
});

export function memberRoutes(deps: AppDeps) {
  const r = router();

  r.openapi(list, async (c) => {
    const { id } = c.req.valid('param');
    const data = await userTx(deps, c, async (tx) => {
      await callerRole(tx, id);
      return listMembers(tx, id);
    });
    return c.json({ data }, 200);
  });

  r.openapi(update, async (c) => {
    const { id, userId } = c.req.valid('param');
    const { role } = c.req.valid('json');
    const [member] = await userTx(deps, c, async (tx) => {
      await callerRole(tx, id);
      await requireMember(tx, id, userId);
      await refusedAs(REFUSED, setMemberRole(tx, id, userId, role));
      return listMembers(tx, id, userId);
    });
    return c.json(member!, 200);
  });

  r.openapi(remove, async (c) => {
    const { id, userId } = c.req.valid('param');
    await userTx(deps, c, async (tx) => {
      await callerRole(tx, id);
      await requireMember(tx, id, userId);
      await refusedAs(REFUSED, removeMember(tx, id, userId));
    });
    return c.body(null, 204);
  });

  return r;
}
