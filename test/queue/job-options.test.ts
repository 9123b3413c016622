// The jobs table holds the same defaults and bounds as src/queue/job-options.ts, the one source the job service,
// the API and the CLI build on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JobOptionDefaults, JobOptionLimits } from '../../src/queue/job-options.ts';
import { createOrganisation } from '../../src/queue/jobs.ts';
import { testDatabase } from '../support/db.ts';

const db = await testDatabase();

test('the jobs table defaults are the job option defaults', async () => {
  const rows = await db.sql<{ column_name: string; column_default: string }[]>`
    select column_name, column_default from information_schema.columns
    where table_schema = 'public' and table_name = 'jobs'
      and column_name in ('max_pages', 'concurrency', 'use_sitemap', 'find_links', 'max_attempts')`;
  const defaults = Object.fromEntries(rows.map((r) => [r.column_name, r.column_default]));
  assert.deepEqual(defaults, {
    max_pages: String(JobOptionDefaults.maxPages),
    concurrency: String(JobOptionDefaults.concurrency),
    use_sitemap: String(JobOptionDefaults.useSitemap),
    find_links: String(JobOptionDefaults.findLinks),
    max_attempts: String(JobOptionDefaults.maxAttempts),
  });
});

test('the jobs table checks the job option bounds, no more and no less', async () => {
  const org = await createOrganisation(db.sql, 'Bounds');
  const [domain] = await db.sql<{ id: number }[]>`select ensure_domain('bounds.example') as id`;
  const accepts = (column: string, value: number) =>
    db.sql
      .begin(async (tx) => {
        await tx.unsafe(
          `insert into jobs (organisation_id, domain_id, root_url, ${column}) values ($1, $2, 'https://bounds.example/', $3)`,
          [org, domain!.id, value],
        );
        throw new Error('rollback');
      })
      .then(
        () => true,
        (err: { code?: string; message: string }) => {
          if (err.message === 'rollback') return true;
          if (err.code === '23514') return false;
          throw err;
        },
      );
  for (const [column, { min, max }] of [
    ['max_pages', JobOptionLimits.maxPages],
    ['concurrency', JobOptionLimits.concurrency],
    ['max_attempts', JobOptionLimits.maxAttempts],
  ] as const) {
    assert.deepEqual(
      [
        await accepts(column, min - 1),
        await accepts(column, min),
        await accepts(column, max),
        await accepts(column, max + 1),
      ],
      [false, true, true, false],
      column,
    );
  }
});
