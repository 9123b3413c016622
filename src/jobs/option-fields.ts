// The zod fields of a job's options, built from the one set of defaults and bounds (queue/job-options.ts) under
// whatever names the caller uses: camelCase for the job service, snake_case for the API. Messages name the
// field as the caller knows it and say what is allowed.
import { z } from 'zod';
import { JobOptionLimits } from '../queue/job-options.ts';

type Field = 'maxPages' | 'concurrency' | 'useSitemap' | 'findLinks' | 'include' | 'exclude' | 'maxAttempts';

function wholeNumber(label: string, { min, max }: { min: number; max: number }, tooBig: string) {
  return z
    .number(`${label} must be a whole number`)
    .int(`${label} must be a whole number`)
    .min(min, `${label} must be at least ${min}`)
    .max(max, tooBig);
}

function patterns(label: string, which: 'include' | 'exclude', item: z.ZodType<string>) {
  const { max } = JobOptionLimits.patterns;
  return z
    .array(item, `${label} must be a list of URL patterns`)
    .max(max, `at most ${max} ${which} patterns`);
}

/** `label` names each field as the caller spells it; `pattern` checks each include/exclude pattern. */
export function jobOptionFields(
  label: (field: Field) => string,
  pattern: z.ZodType<string> = z.string('each pattern is a string'),
) {
  const { maxPages, concurrency, maxAttempts } = JobOptionLimits;
  return {
    maxPages: wholeNumber(
      label('maxPages'),
      maxPages,
      `${label('maxPages')} is at most ${maxPages.max} (your plan may allow fewer)`,
    ),
    concurrency: wholeNumber(
      label('concurrency'),
      concurrency,
      `${label('concurrency')} above ${concurrency.max} is not allowed`,
    ),
    useSitemap: z.boolean(`${label('useSitemap')} must be true or false`),
    findLinks: z.boolean(`${label('findLinks')} must be true or false`),
    include: patterns(label('include'), 'include', pattern),
    exclude: patterns(label('exclude'), 'exclude', pattern),
    maxAttempts: wholeNumber(
      label('maxAttempts'),
      maxAttempts,
      `${label('maxAttempts')} is at most ${maxAttempts.max}`,
    ),
  };
}
