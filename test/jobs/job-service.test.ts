import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createJob, JobValidationError } from '../../src/jobs/job-service.ts';
import { createOrganisation, getJob } from '../../src/queue/jobs.ts';
import { ROOT_PRIORITY } from '../../src/queue/priorities.ts';
import { testDatabase } from '../support/db.ts';

const db = await testDatabase();
const org = await createOrganisation(db.sql, 'Service org');

describe('job service', () => {
  test('creates a running job with its root seeded first and discovery queued', async () => {
    const { job, superseded } = await createJob(db.sql, {
      url: 'HTTPS://Example.COM:443/some/page?utm_source=x',
      organisationId: org,
      source: 'cli',
      maxPages: 50,
    });
    assert.deepEqual(superseded, []);
    assert.equal(job.status, 'running');
    assert.equal(job.root_url, 'https://example.com/');
    assert.equal(job.source, 'cli');
    assert.equal(job.discovery_status, 'pending');
    const tasks = await db.sql`select url, source, priority, depth from tasks where job_id = ${job.id}`;
    assert.deepEqual(
      [...tasks].map((t) => ({ ...t })),
      [{ url: 'https://example.com/', source: 'root', priority: ROOT_PRIORITY, depth: 0 }],
    );
  });

  test('a new job for the same domain and organisation supersedes the active one', async () => {
    const first = await createJob(db.sql, { url: 'https://supersede.example/', organisationId: org });
    const otherOrg = await createOrganisation(db.sql, 'Other');
    const elsewhere = await createJob(db.sql, {
      url: 'https://supersede.example/',
      organisationId: otherOrg,
    });
    const second = await createJob(db.sql, { url: 'https://www.supersede.example/x', organisationId: org });
    // www. is a different host, so it does not supersede; the same host does.
    assert.deepEqual(second.superseded, []);
    const third = await createJob(db.sql, { url: 'https://supersede.example/', organisationId: org });
    assert.deepEqual(third.superseded, [first.job.id]);
    assert.equal((await getJob(db.sql, first.job.id))?.status, 'cancelled');
    assert.equal((await getJob(db.sql, elsewhere.job.id))?.status, 'running', 'other tenants are untouched');
  });

  test('sitemap off means no discovery step; an excluded home page is not seeded', async () => {
    const { job } = await createJob(db.sql, {
      url: 'https://nosite.example/',
      organisationId: org,
      useSitemap: false,
    });
    assert.equal(job.discovery_status, 'skipped');
    const excluded = await createJob(db.sql, {
      url: 'https://blog.example/',
      organisationId: org,
      include: ['/blog/**'],
    });
    const [n] = await db.sql`select count(*)::int as n from tasks where job_id = ${excluded.job.id}`;
    assert.equal(n?.n, 0);
  });

  test('bad options are refused with messages that name the fix, and nothing is written', async () => {
    const [before] = await db.sql`select count(*)::int as n from jobs`;
    const cases: Array<[Parameters<typeof createJob>[1], RegExp]> = [
      [
        { url: 'https://ok.example/', organisationId: org, maxPages: 0 },
        /maxPages: maxPages must be at least 1/,
      ],
      [{ url: 'http://', organisationId: org }, /url:/],
      [{ url: 'ftp://example.com/', organisationId: org }, /url:/],
      [{ url: 'https://ok.example/', organisationId: 'nope' }, /organisationId must be a UUID/],
      [{ url: 'https://ok.example/', organisationId: org, include: ['/(a+)+/'] }, /include\.0:/],
      [{ url: 'https://ok.example/', organisationId: org, concurrency: 500 }, /concurrency above 200/],
      [
        { url: 'https://ok.example/', organisationId: org, include: ['/blog/**'], useSitemap: false },
        /nothing would be crawled/,
      ],
    ];
    for (const [input, message] of cases) {
      await assert.rejects(createJob(db.sql, input), (err: Error) => {
        assert.ok(err instanceof JobValidationError, `${JSON.stringify(input)} → ${err.message}`);
        assert.match(err.message, message);
        return true;
      });
    }
    const [after] = await db.sql`select count(*)::int as n from jobs`;
    assert.equal(after?.n, before?.n);
  });
});

describe('superseding under concurrency', () => {
  test('jobs created at once for one site leave exactly one active job', async () => {
    const pools = Array.from({ length: 6 }, () => db.connect(1));
    const created = await Promise.all(
      pools.map((pool) => createJob(pool, { url: 'https://race.example/', organisationId: org })),
    );
    const active = await db.sql`
      select j.id from jobs j join domains d on d.id = j.domain_id
      where d.host = 'race.example' and j.organisation_id = ${org} and j.status in ('pending', 'running')`;
    assert.equal(active.length, 1);
    const superseded = new Set(created.flatMap((c) => c.superseded));
    assert.equal(superseded.size, created.length - 1, 'every other job was cancelled by a later one');
  });
});
