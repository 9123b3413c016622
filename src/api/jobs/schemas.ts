// The job routes' request and response shapes: one zod schema validates a request and documents it in
// /v1/openapi.json. Names are the API's (snake_case); the job service's own option names are camelCase.
import { z } from '@hono/zod-openapi';
import { jobOptionFields } from '../../jobs/option-fields.ts';
import { JobOptionDefaults } from '../../queue/job-options.ts';
import { DISCOVERY_STATUSES, JOB_STATUSES } from '../../queue/jobs.ts';
import { cursorParam, limitParam } from '../openapi.ts';

/** A comma-separated query parameter whose items must each be one of `values`; empty means no filter. */
export function commaList<const T extends string>(values: readonly [T, ...T[]], what: string) {
  return z
    .string()
    .optional()
    .transform((text, ctx): T[] | undefined => {
      if (text === undefined || text.trim() === '') return undefined;
      const items = [...new Set(text.split(',').map((s) => s.trim()))];
      const bad = items.filter((s) => !(values as readonly string[]).includes(s));
      if (bad.length > 0) {
        ctx.addIssue({
          code: 'custom',
          message: `${what} must be a comma-separated list of ${values.join(', ')} (not ${bad.join(', ')})`,
        });
        return z.NEVER;
      }
      return items as T[];
    })
    .openapi({ type: 'string', description: `comma-separated: ${values.join(', ')}` });
}

// The API's names are the job service's in snake_case.
const serviceFields = jobOptionFields((name) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`));
const optionFields = {
  max_pages: serviceFields.maxPages,
  concurrency: serviceFields.concurrency,
  use_sitemap: serviceFields.useSitemap,
  find_links: serviceFields.findLinks,
  include: serviceFields.include,
  exclude: serviceFields.exclude,
  max_attempts: serviceFields.maxAttempts,
};

// Unknown fields are refused: a misspelt option (`maxPages`) silently ignored would crawl with the default.
export const CreateJobBody = z
  .strictObject(
    {
      url: z
        .string('give the site URL to crawl, e.g. https://example.com/')
        .min(1, 'give the site URL to crawl, e.g. https://example.com/')
        .max(2048, 'the URL is longer than 2048 characters'),
      organisation_id: z
        .uuid('organisation_id is a UUID (omit it to use your active organisation)')
        .optional(),
      max_pages: optionFields.max_pages.optional().openapi({
        description: `default: ${JobOptionDefaults.maxPages}, or your plan’s pages per job if that is lower`,
      }),
      concurrency: optionFields.concurrency.optional(),
      use_sitemap: optionFields.use_sitemap.optional(),
      find_links: optionFields.find_links.optional(),
      include: optionFields.include.optional(),
      exclude: optionFields.exclude.optional(),
      max_attempts: optionFields.max_attempts.optional(),
    },
    {
      error: (issue) =>
        issue.code === 'invalid_type'
          ? 'send a JSON object such as {"url": "https://example.com/"}'
          : undefined,
    },
  )
  .openapi('CreateJob', { example: { url: 'https://example.com/', max_pages: 500 } });

const percentiles = z.object({
  p50: z.number().nullable(),
  p90: z.number().nullable(),
  p95: z.number().nullable(),
  p99: z.number().nullable(),
});

export const JobStatsSchema = z
  .object({
    pages: z.object({
      ok: z.number(),
      broken: z.number(),
      redirected: z.number(),
      skipped: z.number(),
      errored: z.number(),
      blocked_by_robots: z.number(),
    }),
    cache_hit_ratio: z.object({ before: z.number().nullable(), after: z.number().nullable() }),
    response_time_ms: z.object({ before: percentiles, after: percentiles }),
    slowest: z.array(
      z.object({
        url: z.string(),
        response_time_ms: z.number(),
        warm_response_time_ms: z.number().nullable(),
      }),
    ),
    time_saved_ms: z.number(),
  })
  .openapi('JobStats', { description: 'written once, when the job finishes' });

const jobFields = {
  id: z.uuid(),
  organisation_id: z.uuid(),
  created_by: z.uuid().nullable(),
  root_url: z.string(),
  domain: z.string(),
  source: z.enum(['manual', 'webhook', 'schedule', 'cli']),
  status: z.enum(JOB_STATUSES),
  paused_reason: z.enum(['daily_page_quota']).nullable().openapi({
    description:
      "a running job waits when its organisation's daily page quota is used; it resumes the next UTC day",
  }),
  error_message: z.string().nullable(),
  options: z.object(optionFields),
  tasks: z.object({
    total: z.number(),
    pending: z.number(),
    retrying: z.number().openapi({ description: 'failed an attempt; waiting to be retried' }),
    running: z.number(),
    completed: z.number(),
    failed: z.number(),
    skipped: z.number(),
  }),
  progress: z.number().openapi({ description: 'percent of tasks finished, 0–100' }),
  discovery_status: z.enum(DISCOVERY_STATUSES),
  stats: JobStatsSchema.nullable(),
  created_at: z.string(),
  started_at: z.string().nullable(),
  completed_at: z.string().nullable(),
  updated_at: z.string(),
};

export const Job = z.object(jobFields).openapi('Job');
export type JobJson = z.infer<typeof Job>;

// What a share link shows: the job and its results, nothing about the organisation or who made it.
export const SharedJob = Job.omit({ organisation_id: true, created_by: true, paused_reason: true }).openapi(
  'SharedJob',
);
export type SharedJobJson = z.infer<typeof SharedJob>;

export const ShareLink = z
  .object({
    id: z.uuid(),
    created_by: z.uuid().nullable(),
    created_at: z.string(),
    expires_at: z.string(),
    revoked_at: z.string().nullable(),
    active: z.boolean(),
  })
  .openapi('ShareLink');
export type ShareLinkJson = z.infer<typeof ShareLink>;

const timestampParam = (name: string) =>
  z.iso
    .datetime({ offset: true, message: `${name} is an ISO 8601 time, e.g. 2026-01-31T12:00:00Z` })
    .optional();

export const JobListQuery = z.object({
  status: commaList(JOB_STATUSES, 'status'),
  organisation_id: z
    .uuid('organisation_id is a UUID')
    .optional()
    .openapi({ description: 'the organisation whose jobs to list; default: your active organisation' }),
  domain: z
    .string()
    .max(253, 'domain is a host name such as example.com')
    .optional()
    .openapi({ description: 'exact host, e.g. www.example.com' }),
  q: z
    .string()
    .max(2048, 'q is at most 2048 characters')
    .optional()
    .openapi({ description: 'text the root URL contains (case-insensitive)' }),
  created_after: timestampParam('created_after'),
  created_before: timestampParam('created_before'),
  limit: limitParam,
  cursor: cursorParam,
});
export type JobListFilters = z.output<typeof JobListQuery>;

/** `%`, `_` and `\` match themselves: user text is a substring, never a pattern. */
export function likeContains(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
