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

// What each pattern means is checked where it is compiled (the job service, with src/crawler/filters.ts); the
// bounds are checked here so the API refuses an oversized list before anything is compiled.
function patterns(label: string, which: 'include' | 'exclude') {
  const { max, maxLength } = JobOptionLimits.patterns;
  const item = z
    .string('each pattern is a string')
    .max(maxLength, `each ${which} pattern is at most ${maxLength} characters`);
  return z
    .array(item, `${label} must be a list of URL patterns`)
    .max(max, `at most ${max} ${which} patterns`);
}

/** `label` names each field as the caller spells it. */
export function jobOptionFields(label: (field: Field) => string) {
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
    include: patterns(label('include'), 'include'),
    exclude: patterns(label('exclude'), 'exclude'),
    maxAttempts: wholeNumber(
      label('maxAttempts'),
      maxAttempts,
      `${label('maxAttempts')} is at most ${maxAttempts.max}`,
    ),
  };
}
