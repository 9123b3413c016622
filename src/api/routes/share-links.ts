// Share links: a member makes a read-only link to one job; anyone holding its token sees that job and its
// tasks, nothing else. The token is returned once, on creation; the database stores only its SHA-256.
import { createRoute, z } from '@hono/zod-openapi';
import { type AppDeps, router } from '../context.ts';
import { notFound } from '../errors.ts';
import { jobVisible, sharedJobJson } from '../jobs/job-view.ts';
import { SharedJob, ShareLink } from '../jobs/schemas.ts';
import { insertShareLink, listShareLinks, revokeShareLink } from '../jobs/share-link-queries.ts';
import { newShareToken, sharedTx } from '../jobs/share-tokens.ts';
import { listTasks, Task, TaskListQuery } from '../jobs/task-query.ts';
import { errorJson, inPath, JobIdParams, json, jsonBody, pageOf, ShareLinkParams } from '../openapi.ts';
import { userTx } from '../user-db.ts';

const DEFAULT_HOURS = 168;

const CreateShareLink = z
  .strictObject({
    expires_in_hours: z
      .number('expires_in_hours is a whole number of hours')
      .int('expires_in_hours is a whole number of hours')
      .min(1, 'expires_in_hours must be at least 1')
      .max(720, 'expires_in_hours is at most 720 (30 days)')
      .optional()
      .openapi({ description: `how long the link works, 1–720 hours (default ${DEFAULT_HOURS})` }),
  })
  .openapi('CreateShareLink');

const NewShareLink = z
  .object({
    id: z.uuid(),
    token: z.string().openapi({ description: 'shown only now: keep it; it cannot be read back' }),
    url_path: z.string().openapi({ example: '/v1/shared/3q2-7wEjYkVZ…' }),
    expires_at: z.string(),
  })
  .openapi('NewShareLink');

const TokenParams = z.object({ token: inPath('token', z.string().max(200)) });

const noSuchJob = errorJson('No such job (or not yours)');

const create = createRoute({
  method: 'post',
  path: '/jobs/{id}/share-links',
  tags: ['share links'],
  summary: 'Make a read-only link to a job',
  request: {
    params: JobIdParams,
    body: jsonBody(CreateShareLink, { required: false }),
  },
  responses: {
    201: json(NewShareLink, 'The link and its token'),
    400: errorJson('Bad body'),
    404: noSuchJob,
  },
});

const list = createRoute({
  method: 'get',
  path: '/jobs/{id}/share-links',
  tags: ['share links'],
  summary: 'List a job’s share links (without their tokens), newest first',
  request: { params: JobIdParams },
  responses: { 200: json(z.object({ data: z.array(ShareLink) }), 'The links'), 404: noSuchJob },
});

const revoke = createRoute({
  method: 'delete',
  path: '/jobs/{id}/share-links/{linkId}',
  tags: ['share links'],
  summary: 'Revoke a share link: its token stops working at once',
  request: { params: ShareLinkParams },
  responses: { 204: { description: 'Revoked' }, 404: errorJson('No such link on a job of yours') },
});

const sharedJob = createRoute({
  method: 'get',
  path: '/shared/{token}',
  tags: ['share links'],
  summary: 'A shared job, read with its share token (no sign-in)',
  security: [],
  request: { params: TokenParams },
  responses: { 200: json(SharedJob, 'The job'), 404: errorJson('Unknown, expired or revoked token') },
});

const sharedTasks = createRoute({
  method: 'get',
  path: '/shared/{token}/tasks',
  tags: ['share links'],
  summary: 'A shared job’s tasks (no sign-in); the same filters and paging as /v1/jobs/{id}/tasks',
  security: [],
  request: { params: TokenParams, query: TaskListQuery },
  responses: {
    200: json(pageOf(Task), 'A page of tasks'),
    400: errorJson('A filter or the cursor is not valid'),
    404: errorJson('Unknown, expired or revoked token'),
  },
});

/** Signed-in: create, list and revoke a job's links. RLS checks membership of the job's organisation. */
export function shareLinkRoutes(deps: AppDeps) {
  const r = router();

  r.openapi(create, async (c) => {
    const { id } = c.req.valid('param');
    const hours = c.req.valid('json')?.expires_in_hours ?? DEFAULT_HOURS;
    const { token, hash } = newShareToken();
    const link = await userTx(deps, c, async (tx) => {
      if (!(await jobVisible(tx, id))) throw notFound('job');
      return insertShareLink(tx, {
        jobId: id,
        tokenHash: hash,
        createdBy: c.get('claims').sub,
        expiresInHours: hours,
      });
    });
    return c.json(
      { id: link.id, token, url_path: `/v1/shared/${token}`, expires_at: link.expires_at.toISOString() },
      201,
    );
  });

  r.openapi(list, async (c) => {
    const { id } = c.req.valid('param');
    const data = await userTx(deps, c, async (tx) => {
      if (!(await jobVisible(tx, id))) throw notFound('job');
      return listShareLinks(tx, id);
    });
    return c.json({ data }, 200);
  });

  r.openapi(revoke, async (c) => {
    const { id, linkId } = c.req.valid('param');
    const revoked = await userTx(deps, c, (tx) => revokeShareLink(tx, id, linkId));
    if (!revoked) throw notFound('share link');
    return c.body(null, 204);
  });

  return r;
}

/** Public: the token is the only credential, and opens only its own job. */
export function sharedRoutes(deps: AppDeps) {
  const r = router();
  // The token is in the URL: a shared view opened in a browser must not hand it to the next site in a
  // Referer header. Set after the handler, so refusals (404) carry it too.
  r.use('/shared/*', async (c, next) => {
    await next();
    c.header('Referrer-Policy', 'no-referrer');
  });
  r.openapi(sharedJob, async (c) => {
    const { token } = c.req.valid('param');
    const job = await sharedTx(deps, token, async (_tx, row) => sharedJobJson(row));
    return c.json(job, 200);
  });
  r.openapi(sharedTasks, async (c) => {
    const { token } = c.req.valid('param');
    const filters = c.req.valid('query');
    const result = await sharedTx(deps, token, (tx, job) => listTasks(tx, job.id, filters));
    return c.json(result, 200);
  });
  return r;
}
