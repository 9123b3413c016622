// `bbb jobs …` and `bbb worker` against a shared database.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, test } from 'node:test';
import { createJob } from '../../src/jobs/job-service.ts';
import { createOrganisation, getJob } from '../../src/queue/jobs.ts';
import type { Report } from '../../src/report/index.ts';
import { testDatabase } from '../support/db.ts';
import { startFixtureSite } from '../support/fixture-site.ts';
import { waitFor } from '../support/wait.ts';
import { runBbb } from './bbb-process.ts';

const db = await testDatabase();
const env = { DATABASE_URL: db.url };
const site = await startFixtureSite((s) => {
  s.page('/', '<p>home</p>', { 'cf-cache-status': 'HIT' });
});
after(() => site.stop());

async function newJob(host: string): Promise<string> {
  const organisationId = await createOrganisation(db.sql, 'Jobs CLI test');
  const { job } = await createJob(db.sql, { url: `https://${host}/`, organisationId, useSitemap: false });
  return job.id;
}

test('jobs list shows recent jobs; show and cancel act on one; unknown ids exit 2', async () => {
  const id = await newJob('list.example');
  const list = await runBbb(['jobs', 'list'], env).done;
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^id\s+status\s+progress\s+pages\s+source\s+created\s+url$/m);
  assert.match(
    list.stdout,
    new RegExp(`^${id}\\s+running\\s+0%\\s+0/1\\s+manual\\s.*https://list\\.example/$`, 'm'),
  );

  const cancel = await runBbb(['jobs', 'cancel', id], env).done;
  assert.equal(cancel.code, 0, cancel.stderr);
  assert.equal(cancel.stdout, `job ${id} cancelled\n`);
  assert.equal((await getJob(db.sql, id))?.status, 'cancelled');
  const again = await runBbb(['jobs', 'cancel', id], env).done;
  assert.equal(again.stdout, `job ${id} was already cancelled; nothing to cancel\n`);

  const show = await runBbb(['jobs', 'show', id, '--format', 'json'], env).done;
  assert.equal(show.code, 0, show.stderr);
  const report = JSON.parse(show.stdout) as Report;
  assert.equal(report.job.id, id);
  assert.equal(report.job.status, 'cancelled');
  assert.deepEqual(report.pages, [], 'the skipped home page was never crawled');

  const unknown = randomUUID();
  for (const args of [
    ['jobs', 'show', unknown],
    ['jobs', 'cancel', unknown],
  ]) {
    const r = await runBbb(args, env).done;
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`No job has id ${unknown}\\. Run \`bbb jobs list\``));
  }
  const bad = await runBbb(['jobs', 'show', '42'], env).done;
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /"42" is not a job id: give the UUID that `bbb jobs list` shows/);
});

test('bbb worker refuses to run without DATABASE_URL', async () => {
  const r = await runBbb(['worker'], { DATABASE_URL: undefined }).done;
  assert.equal(r.code, 2);
  assert.match(r.stderr, /bbb worker needs DATABASE_URL/);
});

test('bbb worker crawls queued jobs, refuses private targets like a server, and stops on SIGTERM', async () => {
  const organisationId = await createOrganisation(db.sql, 'Worker CLI test');
  const { job } = await createJob(db.sql, { url: site.url('/'), organisationId, useSitemap: false });
  const worker = runBbb(['worker', '--concurrency', '2'], env);
  await worker.waitForStderr(/worker running against/);
  // Waiting on the database is the only way to see the worker finish a task; each check is one cheap read.
  const row = await waitFor('the worker to finish the job', async () => {
    const found = await getJob(db.sql, job.id);
    return found?.status === 'running' ? undefined : found;
  });
  assert.equal(row.status, 'completed');
  const [task] = await db.sql<
    { error_code: string | null }[]
  >`select error_code from tasks where job_id = ${job.id}`;
  assert.equal(task?.error_code, 'ssrf_blocked');
  assert.equal(site.requests.length, 0, 'a worker never fetches a loopback site');
  worker.child.kill('SIGTERM');
  const { code, stderr } = await worker.done;
  assert.equal(code, 0, stderr);
  assert.match(stderr, /SIGTERM received/);
});
