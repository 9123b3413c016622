// `bbb crawl` stopped early, by --timeout or Ctrl-C: the job is cancelled, the pages done so far are reported,
// and pages never started are never requested. A page the test holds open keeps the crawl from finishing, so
// the stop always lands mid-crawl; the test releases it only once bbb says it is stopping.
import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, test } from 'node:test';
import type { Report } from '../../src/report/index.ts';
import { testDatabase } from '../support/db.ts';
import { type FixtureSite, startFixtureSite } from '../support/fixture-site.ts';
import { runBbb } from './bbb-process.ts';

const db = await testDatabase();
const sites: FixtureSite[] = [];
after(async () => {
  await Promise.all(sites.map((s) => s.stop()));
});

/** Home links to two pages that answer only when released; with --concurrency 1 one is held, one waits. */
async function heldSite() {
  const held: http.ServerResponse[] = [];
  let released = false;
  const answer = () => {
    for (const res of held.splice(0)) {
      res.writeHead(200, { 'content-type': 'text/html', 'cf-cache-status': 'HIT' });
      res.end('<p>released</p>');
    }
  };
  let onHeld: () => void = () => {};
  const requestedHeld = new Promise<void>((resolve) => {
    onHeld = resolve;
  });
  const site = await startFixtureSite((s) => {
    s.page('/', '<a href="/hold-1">1</a> <a href="/hold-2">2</a>', { 'cf-cache-status': 'HIT' });
    s.routePrefix('/hold-', (_req, res) => {
      held.push(res);
      onHeld();
      if (released) answer();
    });
  });
  sites.push(site);
  // Once released, a page requested later (a claim racing the stop) is answered at once, not held.
  function release() {
    released = true;
    answer();
  }
  return { site, requestedHeld, release };
}

function assertStoppedMidCrawl(report: Report, site: FixtureSite): void {
  assert.equal(report.job.status, 'cancelled');
  const paths = report.pages.map((p) => new URL(p.url).pathname).sort();
  const fetched = [...new Set(site.requests.map((r) => r.path))].filter((p) => p !== '/robots.txt').sort();
  assert.deepEqual(paths, fetched, 'the report lists exactly the pages the site served');
  const never = ['/hold-1', '/hold-2'].filter((p) => site.requested(p).length === 0);
  assert.ok(never.length >= 1, 'the page waiting behind the held one was never requested');
}

test('--timeout cancels the crawl, reports what was done and exits 2 naming the fix', async () => {
  const { site, release } = await heldSite();
  const run = runBbb(
    ['crawl', site.url('/'), '--no-sitemap', '--concurrency', '1', '--timeout', '1', '--format', 'json'],
    { DATABASE_URL: db.url },
  );
  await run.waitForStderr(/--timeout 1 s reached: stopping/);
  release();
  const { code, stdout, stderr } = await run.done;
  assert.equal(code, 2, stderr);
  assert.match(stderr, /did not finish within --timeout 1 s.*Raise --timeout, or lower --max-pages/);
  assertStoppedMidCrawl(JSON.parse(stdout) as Report, site);
});

test('SIGINT cancels the crawl, reports what was done and exits 130', async () => {
  const { site, requestedHeld, release } = await heldSite();
  const run = runBbb(['crawl', site.url('/'), '--no-sitemap', '--concurrency', '1', '--format', 'json'], {
    DATABASE_URL: db.url,
  });
  await requestedHeld;
  run.child.kill('SIGINT');
  await run.waitForStderr(/SIGINT: stopping/);
  release();
  const { code, stdout, stderr } = await run.done;
  assert.equal(code, 130, stderr);
  const report = JSON.parse(stdout) as Report;
  assertStoppedMidCrawl(report, site);
  assert.equal(report.pages.length, 2, 'the home page and the held page, which finished while stopping');
  const [job] = await db.sql<{ status: string; pending_tasks: number; running_tasks: number }[]>`
    select status, pending_tasks, running_tasks from jobs order by created_at desc limit 1`;
  assert.deepEqual({ ...job }, { status: 'cancelled', pending_tasks: 0, running_tasks: 0 });
});
