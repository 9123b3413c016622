// Invites: owners and admins invite an email address into an organisation with a role; the invitee, signed in
// with that email, accepts with the token, which is shown once, when created (see invite-queries.ts).
//   POST   /organisations/:id/invites             create (admins cannot invite owners)
//   GET    /organisations/:id/invites             pending invites, without tokens
//   DELETE /organisations/:id/invites/:inviteId   withdraw one
//   POST   /invites/accept                         join with a token
import { createRoute, z } from '@hono/zod-openapi';
import { type AppDeps, router } from '../context.ts';
import { forbidden, notFound } from '../errors.ts';
import { commonErrors, InviteParams, json, jsonBody, OrgIdParams } from '../openapi.ts';
import { callerRole, refusedAs } from '../orgs/access.ts';
import {
  acceptInvite,
  deleteInvite,
  insertInvite,
  newInviteToken,
  pendingInvites,
} from '../orgs/invite-queries.ts';
import { inviteSchema, type OrgRole, roleSchema } from '../orgs/schemas.ts';
import { activeOrganisation, userTx } from '../user-db.ts';

const MANAGERS: readonly OrgRole[] = ['owner', 'admin'];

const createBody = z.object({
  email: z
    .email({ error: 'give the email address to invite, e.g. sam@example.com' })
    .max(320, 'email addresses are at most 320 characters')
    .transform((e) => e.toLowerCase()),
  role: roleSchema.default('member'),
  expires_in_hours: z
    .number({ error: 'give expires_in_hours as a whole number of hours, 1 to 720' })
    .int('give expires_in_hours as a whole number of hours, 1 to 720')
    .min(1, 'an invite lasts at least 1 hour')
    .max(720, 'an invite lasts at most 720 hours (30 days)')
    .default(168),
});

const create = createRoute({
  method: 'post',
  path: '/organisations/{id}/invites',
  tags: ['invites'],
  summary: 'Invite an email address (owners and admins; only owners invite owners)',
  request: {
    params: OrgIdParams,
    body: jsonBody(createBody),
  },
  responses: {
    201: json(
      inviteSchema.omit({ created_at: true }).extend({
        token: z.string().openapi({ description: 'give this to the invitee; it is not shown again' }),
      }),
      'The invite, with its token',
    ),
    ...commonErrors(400, 403, 404),
  },
});

const list = createRoute({
  method: 'get',
  path: '/organisations/{id}/invites',
  tags: ['invites'],
  summary: 'Pending invites: not yet accepted and not expired (owners and admins)',
  request: { params: OrgIdParams },
  responses: {
    200: json(z.object({ data: z.array(inviteSchema) }), 'Pending invites, newest first'),
    ...commonErrors(400, 403, 404),
  },
});

const remove = createRoute({
  method: 'delete',
  path: '/organisations/{id}/invites/{inviteId}',
  tags: ['invites'],
  summary: 'Withdraw an invite (owners and admins)',
  request: { params: InviteParams },
  responses: { 204: { description: 'Withdrawn' }, ...commonErrors(400, 403, 404) },
});

const accept = createRoute({
  method: 'post',
  path: '/invites/accept',
  tags: ['invites'],
  summary: 'Accept an invite addressed to your email',
  request: {
    body: jsonBody(
      z.object({
        token: z
          .string({ error: 'give the invite token you were sent' })
          .min(1, 'give the invite token you were sent')
          .max(200, 'that is not an invite token'),
      }),
    ),
  },
  responses: {
    200: json(z.object({ organisation_id: z.uuid() }), 'You are now a member'),
    ...commonErrors(400, 403, 404, 410),
  },
});

export function inviteRoutes(deps: AppDeps) {
  const r = router();

  r.openapi(create, async (c) => {
    const { id } = c.req.valid('param');
    const { email, role, expires_in_hours } = c.req.valid('json');
    const token = newInviteToken();
    const [invite] = await userTx(deps, c, async (tx) => {
      await callerRole(tx, id);
      return refusedAs(
        role === 'owner' ? 'only owners can invite an owner' : 'only owners and admins can invite',
        insertInvite(tx, id, { email, role, token, expiresInHours: expires_in_hours }),
      );
    });
    const { id: inviteId, expires_at } = invite!;
    return c.json({ id: inviteId, email, role, expires_at: expires_at.toISOString(), token }, 201);
  });

  r.openapi(list, async (c) => {
    const { id } = c.req.valid('param');
    const data = await userTx(deps, c, async (tx) => {
      // Members would just see an empty list (RLS); say why instead.
      if (!MANAGERS.includes(await callerRole(tx, id))) {
        throw forbidden('only owners and admins can see invites');
      }
      return pendingInvites(tx, id);
    });
    return c.json({ data }, 200);
  });

  r.openapi(remove, async (c) => {
    const { id, inviteId } = c.req.valid('param');
    await userTx(deps, c, async (tx) => {
      if (!MANAGERS.includes(await callerRole(tx, id))) {
        throw forbidden('only owners and admins can withdraw invites');
      }
      if (!(await deleteInvite(tx, id, inviteId))) throw notFound('invite');
    });
    return c.body(null, 204);
  });

  r.openapi(accept, async (c) => {
    const { token } = c.req.valid('json');
    const organisationId = await userTx(deps, c, async (tx) => {
      // A brand-new invitee still gets their personal organisation, as on any other first request.
      await activeOrganisation(tx);
      return acceptInvite(tx, token);
    });
    return c.json({ organisation_id: organisationId }, 200);
  });

  return r;
}
