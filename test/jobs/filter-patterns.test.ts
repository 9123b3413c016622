// Tenant include/exclude patterns through the job service (CLI, API, webhooks all create jobs here): what the
// linear-time engine cannot run is refused at submission, by name; what it can run matches a hostile URL the
// way a worker will, from the stored job. No timing: bench/filters.ts measures the cost.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { admitUrl, createCrawlContext } from '../../src/crawler/crawl-context.ts';
import { createJob, JobValidationError } from '../../src/jobs/job-service.ts';
import { JobOptionLimits } from '../../src/queue/job-options.ts';
import { createOrganisation } from '../../src/queue/jobs.ts';
import { testDatabase } from '../support/db.ts';
import { HOSTILE_PATH_LENGTH, REDOS_SHAPES } from '../support/redos.ts';

const db = await testDatabase();
const org = await createOrganisation(db.sql, 'Filter patterns');

async function refusal(input: Partial<Parameters<typeof createJob>[1]>): Promise<JobValidationError> {
  let caught: unknown;
  await createJob(db.sql, { url: 'https://refused.example/', organisationId: org, ...input }).catch((err) => {
    caught = err;
  });
  assert.ok(caught instanceof JobValidationError, `not refused: ${JSON.stringify(input)}`);
  return caught;
}

describe('job service: tenant URL patterns', () => {
  test('the ReDoS shapes are stored, and the stored job rejects a hostile URL as a worker would', async () => {
    for (const { pattern, hostilePath, matchingPath } of REDOS_SHAPES) {
      const { job } = await createJob(db.sql, {
        url: 'https://shapes.example/',
        organisationId: org,
        include: [pattern],
      });
      assert.deepEqual(job.include_patterns, [pattern]);
      // What src/worker/job-contexts.ts does with a claimed job's row.
      const ctx = createCrawlContext(job.root_url, {
        filters: { include: job.include_patterns, exclude: job.exclude_patterns },
      });
      const verdict = (path: string) => {
        const admission = admitUrl(`https://shapes.example${path}`, ctx);
        return admission.ok || admission.reason;
      };
      assert.equal(verdict(hostilePath(HOSTILE_PATH_LENGTH)), 'not_included', pattern);
      assert.equal(verdict(matchingPath), true, pattern);
    }
  });

  test('constructs the engine cannot run are refused, naming the pattern, why, and what to write', async () => {
    const err = await refusal({
      include: ['/docs/**', '/^\\/(?!admin)/'],
      exclude: ['/(a)\\1/', '/x/@(a|b)'],
    });
    assert.deepEqual(
      err.issues.map((i) => i.path),
      ['include.1', 'exclude.0', 'exclude.1'],
    );
    assert.match(
      err.issues[0]!.message,
      /"\/\^\\\\\/\(\?!admin\)\/".*lookahead .* cannot run in linear time/,
    );
    assert.match(err.issues[1]!.message, /backreferences .* spell out the repeated text/);
    assert.match(err.issues[2]!.message, /use \{a,b\} for alternatives/);
    const [rows] = await db.sql`select count(*)::int as n from jobs j join domains d on d.id = j.domain_id
      where d.host = 'refused.example'`;
    assert.equal(rows?.n, 0);
  });

  test('pattern length and count are bounded by JobOptionLimits, and the messages say the bound', async () => {
    const { max, maxLength } = JobOptionLimits.patterns;
    const long = await refusal({ exclude: [`/${'a'.repeat(maxLength)}`] });
    assert.deepEqual(long.issues, [
      { path: 'exclude.0', message: `each exclude pattern is at most ${maxLength} characters` },
    ]);
    const many = await refusal({ include: Array.from({ length: max + 1 }, (_, i) => `*.x${i}`) });
    assert.deepEqual(many.issues, [{ path: 'include', message: `at most ${max} include patterns` }]);
    // Exactly at the bounds is fine (with small patterns: big ones meet the job's size budget first).
    const { job } = await createJob(db.sql, {
      url: 'https://bounds.example/',
      organisationId: org,
      include: [`/${'a'.repeat(maxLength - 1)}`, ...Array.from({ length: max - 1 }, (_, i) => `*.x${i}`)],
    });
    assert.equal(job.include_patterns.length, max);
  });

  test('patterns each allowed alone but too big together are refused where they pass the budget', async () => {
    const { maxTotalSize } = JobOptionLimits.patterns;
    // Each compiles to about 900 steps: allowed alone, and enough of them pass any budget below 90,000.
    const big = Array.from({ length: Math.ceil(maxTotalSize / 900) + 1 }, (_, i) => `/x${i}[0-9]{900}/`);
    const err = await refusal({ include: ['/(?=a)/', ...big], exclude: ['/(?=never checked)/'] });
    const last = err.issues[err.issues.length - 1]!;
    assert.equal(err.issues.length, 2);
    assert.match(err.issues[0]!.message, /lookahead/);
    assert.match(last.path, /^include\.\d+$/);
    assert.match(
      last.message,
      new RegExp(
        `more than the ${maxTotalSize.toLocaleString('en')} a job may have.*use fewer or shorter patterns`,
      ),
    );
    const [rows] = await db.sql`select count(*)::int as n from jobs j join domains d on d.id = j.domain_id
      where d.host = 'refused.example'`;
    assert.equal(rows?.n, 0);
  });
});
