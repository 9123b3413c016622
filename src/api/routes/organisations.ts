// Organisations: list yours (a personal one appears on first use), create, rename, delete, and switch which
// one your requests act on. Members and invites are sub-routers. The plan is not a tenant's to change: billing
// or an operator (`bbb organisations set-plan`) does that, so a plan_id in a PATCH is refused, not ignored.
//   GET    /organisations                 yours, with your role and which is active
//   POST   /organisations                 create one; you become its owner (at most a few per user)
//   PATCH  /organisations/:id             rename (owners and admins)
//   DELETE /organisations/:id             delete it and everything in it (owners)
//   POST   /organisations/:id/switch      make it your active organisation
import { createRoute, z } from '@hono/zod-openapi';
import { type AppDeps, router } from '../context.ts';
import { forbidden } from '../errors.ts';
import { commonErrors, errorJson, json, jsonBody, OrgIdParams } from '../openapi.ts';
import { callerRole, refusedAs } from '../orgs/access.ts';
import {
  createOrganisation,
  deleteOrganisation,
  listOrganisations,
  renameOrganisation,
  setActiveOrganisation,
} from '../orgs/organisation-queries.ts';
import { organisationSchema } from '../orgs/schemas.ts';
import { activeOrganisation, userTx } from '../user-db.ts';
import { inviteRoutes } from './invites.ts';
import { memberRoutes } from './members.ts';

const PLAN_CHANGE_REFUSED =
  'plans are changed by billing or by the operator (bbb organisations set-plan), not through the API';

const nameSchema = z
  .string({ error: 'give the organisation a name' })
  .trim()
  .min(1, 'give the organisation a name')
  .max(200, 'organisation names are at most 200 characters');

const list = createRoute({
  method: 'get',
  path: '/organisations',
  tags: ['organisations'],
  summary: 'Your organisations',
  responses: {
    200: json(z.object({ data: z.array(organisationSchema) }), 'Your organisations, oldest first'),
  },
});

const create = createRoute({
  method: 'post',
  path: '/organisations',
  tags: ['organisations'],
  summary: 'Create an organisation; you become its owner',
  request: {
    body: jsonBody(z.object({ name: nameSchema })),
  },
  responses: {
    201: json(organisationSchema, 'The new organisation'),
    ...commonErrors(400),
    403: errorJson('You already created the most organisations one user may (organisation_limit_reached)'),
  },
});

const update = createRoute({
  method: 'patch',
  path: '/organisations/{id}',
  tags: ['organisations'],
  summary: 'Rename an organisation (owners and admins)',
  request: {
    params: OrgIdParams,
    body: jsonBody(
      z
        .object({
          name: nameSchema.optional(),
          // Named only to be refused with a reason: a silently ignored plan_id would look like it worked.
          plan_id: z
            .unknown()
            .optional()
            .openapi({ description: `not accepted (403): ${PLAN_CHANGE_REFUSED}` }),
        })
        .refine((b) => b.name !== undefined || b.plan_id !== undefined, { message: 'give a new name' }),
    ),
  },
  responses: {
    200: json(organisationSchema, 'The organisation as changed'),
    ...commonErrors(400, 403, 404),
  },
});

const remove = createRoute({
  method: 'delete',
  path: '/organisations/{id}',
  tags: ['organisations'],
  summary: 'Delete an organisation with its jobs, members and invites (owners)',
  request: { params: OrgIdParams },
  responses: { 204: { description: 'Deleted' }, ...commonErrors(400, 403, 404) },
});

// A POST on the organisation rather than PUT /me/active-organisation: it keeps every organisation action
// under /organisations/:id, and the body-less call is hard to get wrong.
const switchTo = createRoute({
  method: 'post',
  path: '/organisations/{id}/switch',
  tags: ['organisations'],
  summary: 'Make this your active organisation (the default for jobs, usage and the dashboard)',
  request: { params: OrgIdParams },
  responses: { 200: json(organisationSchema, 'The organisation, now active'), ...commonErrors(400, 404) },
});

export function organisationRoutes(deps: AppDeps) {
  const r = router();

  r.openapi(list, async (c) => {
    const data = await userTx(deps, c, async (tx) => {
      await activeOrganisation(tx);
      return listOrganisations(tx);
    });
    return c.json({ data }, 200);
  });

  r.openapi(create, async (c) => {
    const { name } = c.req.valid('json');
    const [org] = await userTx(deps, c, async (tx) => {
      await activeOrganisation(tx);
      return listOrganisations(tx, await createOrganisation(tx, name));
    });
    return c.json(org!, 201);
  });

  r.openapi(update, async (c) => {
    const { id } = c.req.valid('param');
    const body = c.req.valid('json');
    const [org] = await userTx(deps, c, async (tx) => {
      await callerRole(tx, id);
      if (body.plan_id !== undefined) throw forbidden(PLAN_CHANGE_REFUSED);
      // Without a plan_id the schema requires a name.
      await refusedAs(
        'only owners and admins can rename an organisation',
        renameOrganisation(tx, id, body.name!),
      );
      return listOrganisations(tx, id);
    });
    return c.json(org!, 200);
  });

  r.openapi(remove, async (c) => {
    const { id } = c.req.valid('param');
    await userTx(deps, c, async (tx) => {
      await callerRole(tx, id);
      await refusedAs('only owners can delete an organisation', deleteOrganisation(tx, id));
    });
    return c.body(null, 204);
  });

  r.openapi(switchTo, async (c) => {
    const { id } = c.req.valid('param');
    const [org] = await userTx(deps, c, async (tx) => {
      await callerRole(tx, id);
      await setActiveOrganisation(tx, id);
      return listOrganisations(tx, id);
    });
    return c.json(org!, 200);
  });

  r.route('/', memberRoutes(deps));
  r.route('/', inviteRoutes(deps));
  return r;
}
