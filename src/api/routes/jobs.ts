// Jobs: start a crawl, list and read jobs, cancel and restart. Creating goes through the job service as the
// user (RLS and the plan limits decide), then the system steps (queueing, superseding) run in the same
// transaction. Reads run as the user, so a job in another organisation is simply not there: 404.

import { createRoute } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { becomeConnectionRole } from '../../db/as-user.ts';
import { createJob, type JobOptions } from '../../jobs/job-service.ts';
import { defaultMaxPages } from '../../queue/job-options.ts';
import { cancelJob } from '../../queue/jobs.ts';
import { type AppDeps, type AppEnv, router } from '../context.ts';
import { ApiError, notFound } from '../errors.ts';
import { findJob, jobJson, listJobs } from '../jobs/job-view.ts';
import { assertPublicTarget } from '../jobs/public-target.ts';
import { CreateJobBody, Job, JobListQuery } from '../jobs/schemas.ts';
import { errorJson, JobIdParams, json, jsonBody, pageOf } from '../openapi.ts';
import { callerRole } from '../orgs/access.ts';
import { maxPagesPerJob } from '../orgs/plan-queries.ts';
import { activeOrganisation, userTx } from '../user-db.ts';

const TAGS = ['jobs'];

const create = createRoute({
  method: 'post',
  path: '/jobs',
  tags: TAGS,
  summary: 'Start crawling a site',
  description:
    'Creates a job in your active organisation (or organisation_id) and starts it. An active job for the same host in that organisation is cancelled (superseded).',
  request: { body: jsonBody(CreateJobBody) },
  responses: {
    201: json(Job, 'The job, started'),
    400: errorJson('The body is not valid (validation_failed) or not JSON (invalid_json)'),
    402: errorJson('The plan’s jobs per 30 days or pages per job are used up (plan_limit_reached)'),
    404: errorJson('organisation_id is not an organisation you belong to'),
  },
});

const list = createRoute({
  method: 'get',
  path: '/jobs',
  tags: TAGS,
  summary: 'List jobs, newest first',
  request: { query: JobListQuery },
  responses: {
    200: json(pageOf(Job), 'A page of jobs'),
    400: errorJson('A filter or the cursor is not valid'),
    404: errorJson('organisation_id is not an organisation you belong to'),
  },
});

const get = createRoute({
  method: 'get',
  path: '/jobs/{id}',
  tags: TAGS,
  summary: 'Read a job: status, progress, counters, options and, once finished, stats',
  request: { params: JobIdParams },
  responses: { 200: json(Job, 'The job'), 404: errorJson('No such job (or not yours)') },
});

const cancel = createRoute({
  method: 'post',
  path: '/jobs/{id}/cancel',
  tags: TAGS,
  summary: 'Cancel a job: pending tasks are skipped, running ones finish',
  request: { params: JobIdParams },
  responses: {
    200: json(Job, 'The job, cancelled'),
    404: errorJson('No such job (or not yours)'),
    409: errorJson('The job has already finished (job_finished)'),
  },
});

const restart = createRoute({
  method: 'post',
  path: '/jobs/{id}/restart',
  tags: TAGS,
  summary: 'Start a new job with the same site and options',
  request: { params: JobIdParams },
  responses: {
    201: json(Job, 'The new job, started'),
    402: errorJson('The plan’s limits are used up (plan_limit_reached)'),
    404: errorJson('No such job (or not yours)'),
  },
});

const finished = (status: string) =>
  new ApiError(409, 'job_finished', `the job has already finished (${status}); restart it to crawl again`);

/** Creates the job as the signed-in user and returns it as they see it. */
async function createAsUser(deps: AppDeps, c: Context<AppEnv>, input: JobOptions) {
  const { job } = await createJob(deps.sql, input, { as: c.get('claims'), checkRoot: assertPublicTarget });
  const row = await userTx(deps, c, (tx) => findJob(tx, job.id));
  return jobJson(row!);
}

export function jobRoutes(deps: AppDeps) {
  const r = router();

  r.openapi(create, async (c) => {
    const b = c.req.valid('json');
    const { organisationId, planPages } = await userTx(deps, c, async (tx) => {
      const org = b.organisation_id ?? (await activeOrganisation(tx));
      return { organisationId: org, planPages: await maxPagesPerJob(tx, org) };
    });
    const job = await createAsUser(deps, c, {
      url: b.url,
      organisationId,
      // Left out, a job crawls what the plan allows (up to the usual 1000) instead of being refused.
      maxPages: b.max_pages ?? defaultMaxPages(planPages),
      concurrency: b.concurrency,
      useSitemap: b.use_sitemap,
      findLinks: b.find_links,
      include: b.include,
      exclude: b.exclude,
      maxAttempts: b.max_attempts,
    });
    return c.json(job, 201);
  });

  r.openapi(list, async (c) => {
    const filters = c.req.valid('query');
    const result = await userTx(deps, c, async (tx) => {
      // 404 unless the caller belongs to the organisation named.
      if (filters.organisation_id) await callerRole(tx, filters.organisation_id);
      return listJobs(tx, filters.organisation_id ?? (await activeOrganisation(tx)), filters);
    });
    return c.json(result, 200);
  });

  r.openapi(get, async (c) => {
    const { id } = c.req.valid('param');
    const row = await userTx(deps, c, (tx) => findJob(tx, id));
    if (!row) throw notFound('job');
    return c.json(jobJson(row), 200);
  });

  r.openapi(cancel, async (c) => {
    const { id } = c.req.valid('param');
    const row = await userTx(deps, c, async (tx) => {
      const job = await findJob(tx, id);
      if (!job) throw notFound('job');
      if (job.status !== 'pending' && job.status !== 'running') throw finished(job.status);
      await becomeConnectionRole(tx);
      // It may have finished since the check; cancel_job then leaves it as it is.
      const after = await cancelJob(tx, id);
      if (after.status !== 'cancelled') throw finished(after.status);
      return findJob(tx, id);
    });
    return c.json(jobJson(row!), 200);
  });

  r.openapi(restart, async (c) => {
    const { id } = c.req.valid('param');
    const old = await userTx(deps, c, (tx) => findJob(tx, id));
    if (!old) throw notFound('job');
    const job = await createAsUser(deps, c, {
      url: old.root_url,
      organisationId: old.organisation_id,
      maxPages: old.max_pages,
      concurrency: old.concurrency,
      useSitemap: old.use_sitemap,
      findLinks: old.find_links,
      include: old.include_patterns,
      exclude: old.exclude_patterns,
      maxAttempts: old.max_attempts,
    });
    return c.json(job, 201);
  });

  return r;
}
