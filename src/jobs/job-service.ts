// The one way jobs are created, whether from the CLI, the API, a webhook or a schedule: validate the options,
// supersede an active job for the same domain in the same organisation, insert the job, seed its root URL and
// start it. Sitemap discovery is queued as a job step (claim_discovery) so the caller never waits on it.
import { z } from 'zod';
import { tryCompileFilters } from '../crawler/filters.ts';
import { tryNormaliseUrl } from '../crawler/url.ts';
import { becomeConnectionRole, becomeUser } from '../db/as-user.ts';
import type { Sql } from '../db/client.ts';
import { ExpectedError } from '../errors.ts';
import { JobOptionDefaults } from '../queue/job-options.ts';
import { cancelJob, insertJob, JOB_SOURCES, type JobRow, startJob } from '../queue/jobs.ts';
import { ROOT_PRIORITY } from '../queue/priorities.ts';
import { enqueueUrls } from '../queue/tasks.ts';
import { jobOptionFields } from './option-fields.ts';

const fields = jobOptionFields((name) => name);

export const jobOptionsSchema = z.object({
  url: z.string().min(1, 'give the site URL to crawl, e.g. https://example.com/'),
  organisationId: z.uuid('organisationId must be a UUID'),
  createdBy: z.uuid().nullish(),
  source: z.enum(JOB_SOURCES).default('manual'),
  maxPages: fields.maxPages.default(JobOptionDefaults.maxPages),
  concurrency: fields.concurrency.default(JobOptionDefaults.concurrency),
  useSitemap: fields.useSitemap.default(JobOptionDefaults.useSitemap),
  findLinks: fields.findLinks.default(JobOptionDefaults.findLinks),
  include: fields.include.default([]),
  exclude: fields.exclude.default([]),
  maxAttempts: fields.maxAttempts.default(JobOptionDefaults.maxAttempts),
});
export type JobOptions = z.input<typeof jobOptionsSchema>;

export class JobValidationError extends ExpectedError {
  override name = 'JobValidationError';
  override readonly code = 'validation_failed';
  override readonly details: Array<{ path: string; message: string }>;
  constructor(readonly issues: Array<{ path: string; message: string }>) {
    super(`Invalid job: ${issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')}`);
    this.details = issues;
  }
}

export interface CreatedJob {
  job: JobRow;
  /** Active jobs for the same domain and organisation that this one cancelled. */
  superseded: string[];
}

export function validateJobOptions(
  input: JobOptions,
): z.output<typeof jobOptionsSchema> & { rootUrl: string; rootAdmitted: boolean } {
  const parsed = jobOptionsSchema.safeParse(input);
  if (!parsed.success) {
    throw new JobValidationError(
      parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    );
  }
  const root = tryNormaliseUrl(
    parsed.data.url.includes('://') ? parsed.data.url : `https://${parsed.data.url}`,
  );
  if (!root.ok) throw new JobValidationError([{ path: 'url', message: root.reason }]);
  // The root is the site: crawl from its home page whatever path was given.
  const rootUrl = new URL('/', root.url).toString();
  // Each pattern is compiled once, here: compiling is the check (and, for a long pattern, takes milliseconds).
  const filters = tryCompileFilters({ include: parsed.data.include, exclude: parsed.data.exclude });
  if ('problems' in filters) {
    throw new JobValidationError(
      filters.problems.map((p) => ({ path: `${p.list}.${p.index}`, message: p.error.message })),
    );
  }
  const rootAdmitted = filters.filter.test(rootUrl).ok;
  if (!rootAdmitted && !parsed.data.useSitemap) {
    throw new JobValidationError([
      {
        path: 'include',
        message: 'the filters exclude the home page and the sitemap is off, so nothing would be crawled',
      },
    ]);
  }
  return { ...parsed.data, rootUrl, rootAdmitted };
}

/** A signed-in user's verified JWT claims; `sub` is the user id. */
export interface UserIdentity {
  sub: string;
  [claim: string]: unknown;
}

export interface CreateJobOptions {
  /**
   * Create the job as this user (the API): the steps a tenant may take run as role `authenticated` with these
   * claims, so Row Level Security and the plan limits in the jobs INSERT policy decide; the job is then
   * `source: 'manual'`, created by the user. Without it (the CLI, webhooks, schedules) everything runs as the
   * connection's own role.
   */
  as?: UserIdentity;
  /** Refuses a root URL before anything is written (the server: no private networks). Throws to refuse. */
  checkRoot?: (rootUrl: string) => void;
}

/** The organisation is not one the user belongs to (or does not exist): the API answers 404 either way. */
export class UnknownOrganisationError extends ExpectedError {
  override name = 'UnknownOrganisationError';
  override readonly httpStatus = 404;
  override readonly code = 'not_found';
  // Not a member and no such organisation get the same answer: it reveals nothing about other tenants.
  override readonly publicMessage = 'organisation not found';
  constructor(readonly organisationId: string) {
    super(`Unknown organisation ${organisationId}: you are not a member of it.`);
  }
}

export async function createJob(
  sql: Sql,
  input: JobOptions,
  { as, checkRoot }: CreateJobOptions = {},
): Promise<CreatedJob> {
  const options = validateJobOptions(as ? { ...input, source: 'manual', createdBy: as.sub } : input);
  checkRoot?.(options.rootUrl);
  const host = new URL(options.rootUrl).hostname;
  return sql.begin(async (tx) => {
    // Creates for one site in one organisation (two webhooks at once, say) take turns, so each sees the job the
    // other made and exactly one job stays active. Released at commit.
    await tx`select pg_advisory_xact_lock(hashtextextended(${`bbb.job:${options.organisationId}:${host}`}, 0))`;
    // A user's part runs as the user: the organisation must be theirs, the jobs superseded are the ones they
    // can see, and the INSERT passes the jobs_insert policy (membership, created_by, source and the plan
    // limits, which raise BBB01/BBB02). Queueing and cancelling are system steps, after it.
    if (as) {
      await becomeUser(tx, { ...as, role: 'authenticated' });
      const [member] = await tx`select 1 from organisations where id = ${options.organisationId}`;
      if (!member) throw new UnknownOrganisationError(options.organisationId);
    }
    const active = await tx<{ id: string }[]>`
      select j.id from jobs j join domains d on d.id = j.domain_id
      where j.organisation_id = ${options.organisationId} and d.host = ${host}
        and j.status in ('pending', 'running')
      order by j.id`;
    const job = await insertJob(tx, {
      organisationId: options.organisationId,
      createdBy: options.createdBy ?? null,
      rootUrl: options.rootUrl,
      source: options.source,
      maxPages: options.maxPages,
      concurrency: options.concurrency,
      useSitemap: options.useSitemap,
      findLinks: options.findLinks,
      includePatterns: options.include,
      excludePatterns: options.exclude,
      maxAttempts: options.maxAttempts,
      discoveryStatus: options.useSitemap ? 'pending' : 'skipped',
    });
    if (as) await becomeConnectionRole(tx);
    const superseded = active.map((a) => a.id);
    for (const id of superseded) await cancelJob(tx, id);
    // Filters apply to the root as to every other source; an excluded home page leaves the sitemap to seed.
    if (options.rootAdmitted) {
      await enqueueUrls(tx, job.id, [options.rootUrl], {
        source: 'root',
        priorities: [ROOT_PRIORITY],
      });
    }
    const started = await startJob(tx, job.id);
    return { job: started, superseded };
  }) as Promise<CreatedJob>;
}
