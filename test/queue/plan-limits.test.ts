// Plan limits, enforced in SQL: jobs per 30 days and pages per job by the jobs INSERT policy (run as the
// signed-in member, as the API runs it), and pages per UTC day by claim_tasks.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { asUser } from '../../src/db/as-user.ts';
import type { TxSql } from '../../src/db/client.ts';
import { promoteDueRetries } from '../../src/queue/maintenance.ts';
import {
  type ClaimedTask,
  claimTasks,
  completeTasks,
  enqueueUrls,
  failTasks,
  recoverExpiredLeases,
  releaseTasks,
} from '../../src/queue/tasks.ts';
import { testDatabase } from '../support/db.ts';
import { makeJob, urls } from '../support/jobs.ts';
import { createOrg, createUser, overlapping, rejectsWithCode, type Tenant } from '../support/tenants.ts';

const db = await testDatabase();
const otherPool = db.connect(2);

await db.sql`
  insert into plans (id, name, daily_page_quota, jobs_per_30_days, max_pages_per_job, listed)
  values ('three-jobs', 'Three jobs', 1000, 3, 50, false), ('five-pages', 'Five pages', 5, 1000, 1000, false),
    ('eight-pages', 'Eight pages', 8, 1000, 1000, false)`;

/**
 * Creates a job the way the API does: as the member, through the jobs INSERT policy. Each user crawls their
 * own site, because inserting a new domain (the jobs trigger does) row-locks it until commit, which would
 * serialise racing creates for one site on its own and hide whether the limit check does.
 */
const insertJob =
  (user: Tenant, org: string, maxPages = 10) =>
  async (tx: TxSql): Promise<string> => {
    const [job] = await tx<{ id: string }[]>`
      insert into jobs (organisation_id, created_by, root_url, source, max_pages)
      values (${org}, ${user.id}, ${`https://${user.id}.limits.test/`}, 'manual', ${maxPages})
      returning id`;
    return job!.id;
  };
const createJobAs = (user: Tenant, org: string, maxPages?: number) =>
  asUser(db.sql, user.claims, insertJob(user, org, maxPages));

async function jobCount(org: string): Promise<number> {
  const [row] = await db.sql`select count(*)::int as n from jobs where organisation_id = ${org}`;
  return row!.n as number;
}

describe('plan limits: jobs per 30 days and pages per job', () => {
  test("the plan's last job slot is taken and the next job raises BBB01", async () => {
    const user = await createUser(db.sql);
    const org = await createOrg(db.sql, 'Limited', [[user, 'member']], 'three-jobs');
    for (let i = 0; i < 3; i++) await createJobAs(user, org);
    await rejectsWithCode(createJobAs(user, org), 'BBB01', /Three jobs plan allows 3 jobs in 30 days/);
    assert.equal(await jobCount(org), 3);
  });

  test('jobs created more than 30 days ago do not count', async () => {
    const user = await createUser(db.sql);
    const org = await createOrg(db.sql, 'Ageing', [[user, 'owner']], 'three-jobs');
    const [oldest, second] = [await createJobAs(user, org), await createJobAs(user, org)];
    await createJobAs(user, org);
    await db.sql`update jobs set created_at = now() - interval '31 days' where id = ${oldest!}`;
    await createJobAs(user, org);
    await rejectsWithCode(createJobAs(user, org), 'BBB01');
    await db.sql`update jobs set created_at = now() - interval '29 days' where id = ${second!}`;
    await rejectsWithCode(createJobAs(user, org), 'BBB01', /allows 3 jobs/);
    assert.equal(await jobCount(org), 4);
  });

  test("max_pages above the plan's pages per job raises BBB02; the limit itself is accepted", async () => {
    const user = await createUser(db.sql);
    const org = await createOrg(db.sql, 'Big pages', [[user, 'admin']], 'three-jobs');
    await rejectsWithCode(createJobAs(user, org, 51), 'BBB02', /allows at most 50 pages per job/);
    const job = await createJobAs(user, org, 50);
    const [row] = await db.sql`select max_pages, status from jobs where id = ${job}`;
    assert.deepEqual({ ...row }, { max_pages: 50, status: 'pending' });
    assert.equal(await jobCount(org), 1, 'the refused job took no slot');
  });

  test("someone else's organisation gets a plain RLS refusal, whatever its limits", async () => {
    const member = await createUser(db.sql);
    const outsider = await createUser(db.sql);
    const org = await createOrg(db.sql, 'Full', [[member, 'owner']], 'three-jobs');
    for (let i = 0; i < 3; i++) await createJobAs(member, org);
    await rejectsWithCode(createJobAs(outsider, org), '42501', /row-level security/);
    await rejectsWithCode(createJobAs(outsider, org, 500), '42501', /row-level security/);
  });

  test('two creates racing for the last slot: exactly one succeeds', async () => {
    const first = await createUser(db.sql);
    const second = await createUser(db.sql);
    const org = await createOrg(
      db.sql,
      'Race',
      [
        [first, 'member'],
        [second, 'member'],
      ],
      'three-jobs',
    );
    await createJobAs(first, org);
    await createJobAs(second, org);
    // Lined up: the second insert starts while the first is still uncommitted.
    const outcome = await overlapping(
      db.sql,
      otherPool,
      { claims: first.claims, run: insertJob(first, org) },
      { claims: second.claims, run: insertJob(second, org) },
    );
    assert.equal(outcome.first.ok, true);
    assert.equal(outcome.secondWaited, true, 'the second create waited for the first');
    assert.equal(!outcome.second.ok && outcome.second.error.code, 'BBB01');
    assert.equal(await jobCount(org), 3);

    // Unaided: four at once for one slot.
    const crowd = await Promise.all(Array.from({ length: 4 }, () => createUser(db.sql)));
    const org2 = await createOrg(
      db.sql,
      'Crowd',
      crowd.map((u) => [u, 'member'] as [Tenant, 'member']),
      'three-jobs',
    );
    await createJobAs(crowd[0]!, org2);
    await createJobAs(crowd[0]!, org2);
    const results = await Promise.allSettled(crowd.map((u) => createJobAs(u, org2)));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results) {
      if (r.status === 'rejected') assert.equal((r.reason as { code?: string }).code, 'BBB01');
    }
    assert.equal(await jobCount(org2), 3);
  });

  test('the recent-jobs count is an index range scan, not a scan of every job', async () => {
    // The function's query, so this plan is the one it runs (with parameters, as PL/pgSQL plans it).
    const [fn] = await db.sql`select prosrc from pg_proc where proname = 'check_job_limits'`;
    const QUERY = `select count(*) from (
      select 1 from public.jobs
      where organisation_id = $1 and created_at > now() - interval '30 days'
      limit $2
    ) recent`;
    assert.match(
      fn!.prosrc as string,
      /where organisation_id = p_org and created_at > now\(\) - interval '30 days'\s+limit v_plan\.jobs_per_30_days/,
    );
    const org = await createOrg(db.sql, 'Explained', [], 'three-jobs');
    await db.sql`insert into organisations (name) select 'bulk ' || g from generate_series(1, 200) g`;
    await db.sql`
      insert into jobs (organisation_id, domain_id, root_url, created_at)
      select o.id, d.id, 'https://bulk.test/', now() - (g % 45) * interval '1 day'
      from (select id from organisations where name like 'bulk %') o
      cross join generate_series(1, 25) g
      cross join (select public.ensure_domain('bulk.test') as id) d`;
    await db.sql`analyze jobs`;
    const [count] = await db.sql`select count(*)::int as n from jobs`;
    assert.ok((count!.n as number) >= 5000, 'thousands of jobs in other organisations');

    for (const mode of ['force_generic_plan', 'force_custom_plan']) {
      const plan = await db.sql.begin(async (tx) => {
        await tx.unsafe(`set local plan_cache_mode = ${mode}`);
        await tx.unsafe(`prepare bbb_recent_jobs(uuid, integer) as ${QUERY}`);
        const rows = await tx.unsafe(`explain execute bbb_recent_jobs('${org}', 3)`);
        await tx.unsafe('deallocate bbb_recent_jobs');
        return rows.map((r) => r['QUERY PLAN'] as string).join('\n');
      });
      assert.match(plan, /jobs_organisation_created_idx/, `${mode}:\n${plan}`);
      assert.doesNotMatch(plan, /Seq Scan/, `${mode}:\n${plan}`);
    }
  });
});

describe('plan limits: pages per UTC day', () => {
  const claim = (jobIds: string[], limit = 10) => claimTasks(db.sql, 'w', limit, 30, jobIds);
  const complete = (tasks: ClaimedTask[]) =>
    completeTasks(
      db.sql,
      tasks.map((t) => ({ id: t.id, attempt: t.attempts, status_code: 200 })),
    );
  const quotaOrg = (name: string) => createOrg(db.sql, name, [], 'five-pages');
  async function runningJob(organisationId: string, host: string, pages: number): Promise<string> {
    const job = await makeJob(db.sql, { organisationId, host, concurrency: 20, maxAttempts: 3 });
    await enqueueUrls(db.sql, job, urls(host, pages));
    return job;
  }
  async function pagesToday(org: string): Promise<number | undefined> {
    const [row] = await db.sql`
      select pages from organisation_page_usage where organisation_id = ${org} and day = utc_today()`;
    return row?.pages as number | undefined;
  }
  async function statusOf(job: string): Promise<string> {
    const [row] = await db.sql`select status from jobs where id = ${job}`;
    return row!.status as string;
  }
  /** What the UTC day rolling over does to an organisation's usage: today's pages become yesterday's. */
  const rollOver = (...orgs: string[]) =>
    db.sql`update organisation_page_usage set day = day - 1 where organisation_id in ${db.sql(orgs)}`;

  test('an organisation stops at its quota, paused rather than failed, and resumes the next UTC day', async () => {
    const org = await quotaOrg('Quota');
    const job = await runningJob(org, 'quota.test', 8);
    const first = await claim([job]);
    assert.equal(first.length, 5);
    assert.equal(await pagesToday(org), 5);
    await complete(first);
    // Nothing runs, so only the quota can be holding the other 3 back.
    assert.equal((await claim([job])).length, 0);
    const [row] = await db.sql`select status, pending_tasks, running_tasks from jobs where id = ${job}`;
    assert.deepEqual({ ...row }, { status: 'running', pending_tasks: 3, running_tasks: 0 });

    // Maintenance fails a silent job of another organisation, but not the one waiting for tomorrow.
    const stalled = await runningJob(await createOrg(db.sql, 'Stalled'), 'stalled.test', 1);
    await db.sql`select fail_stalled_jobs(interval '0 seconds')`;
    assert.equal(await statusOf(stalled), 'failed');
    assert.equal(await statusOf(job), 'running');

    // Quotas are per organisation.
    const otherOrg = await quotaOrg('Other quota');
    const other = await runningJob(otherOrg, 'other.test', 2);
    const others = await claim([job, other]);
    assert.deepEqual(
      others.map((t) => t.job_id),
      [other, other],
    );
    await complete(others);
    assert.equal(await pagesToday(org), 5);

    await rollOver(org);
    const rest = await claim([job]);
    assert.equal(rest.length, 3);
    assert.equal(await pagesToday(org), 3);
    await complete(rest);
    const [done] = await db.sql`select status, completed_tasks from jobs where id = ${job}`;
    assert.deepEqual({ ...done }, { status: 'completed', completed_tasks: 8 });
  });

  test("after a quota pause, a job's silence counts from UTC midnight, not from its last page", async () => {
    const pausedOrg = await quotaOrg('Paused yesterday');
    const paused = await runningJob(pausedOrg, 'midnight.test', 7);
    await complete(await claim([paused]));
    // The control went silent just as long ago, but not because of the quota: 2 of its 5 pages were used.
    const controlOrg = await quotaOrg('Quiet yesterday');
    const control = await runningJob(controlOrg, 'control.test', 7);
    await complete(await claim([control], 2));
    await rollOver(pausedOrg, controlOrg);
    await db.sql`update jobs set last_progress_at = now() - interval '2 days', started_at = now() - interval '2 days'
                 where id in ${db.sql([paused, control])}`;

    // p_after is computed from the time since midnight in the same statement, so the outcome does not depend
    // on the time of day: a minute longer than since midnight spares the paused job only.
    const sinceMidnight = db.sql`now() - (utc_today()::timestamp at time zone 'UTC')`;
    await db.sql`select fail_stalled_jobs(${sinceMidnight} + interval '1 minute')`;
    assert.equal(await statusOf(paused), 'running');
    assert.equal(await statusOf(control), 'failed');
    // Half the time since midnight is less than its silence since midnight.
    await db.sql`select fail_stalled_jobs((${sinceMidnight}) / 2)`;
    assert.equal(await statusOf(paused), 'failed');
  });

  test('a retried task is counted once, however it comes back', async () => {
    const org = await quotaOrg('Retries');
    const job = await runningJob(org, 'retry.test', 1);
    // A graceful stop hands the task back with its attempt uncounted; claiming it again is no new page.
    const [released] = await claim([job]);
    await releaseTasks(db.sql, [released!]);
    const [first] = await claim([job]);
    assert.equal(first?.id, released!.id);
    assert.equal(first?.attempts, 2, 'a new run, though not a counted attempt');
    assert.equal(await pagesToday(org), 1);

    await failTasks(db.sql, [
      { id: first!.id, attempt: first!.attempts, retryable: true, error_code: 'http_5xx', status_code: 503 },
    ]);
    await db.sql`update tasks set run_after = now() where id = ${first!.id}`;
    await promoteDueRetries(db.sql);
    const [second] = await claim([job]);
    assert.equal(second?.attempts, 3);
    assert.equal(await pagesToday(org), 1);

    await db.sql`update tasks set locked_until = now() - interval '1 second' where id = ${first!.id}`;
    assert.deepEqual(await recoverExpiredLeases(db.sql), { recovered: 1, failed: 0 });
    await db.sql`update tasks set run_after = now() where id = ${first!.id}`;
    await promoteDueRetries(db.sql);
    const [third] = await claim([job]);
    assert.equal(third?.attempts, 4);
    assert.equal(await pagesToday(org), 1);
    await complete([third!]);
    assert.equal(await statusOf(job), 'completed');
  });

  test('two jobs of one organisation share its quota; a claim never takes more than what is left', async () => {
    const org = await quotaOrg('Two jobs');
    const jobs = [await runningJob(org, 'one.test', 4), await runningJob(org, 'two.test', 4)];
    const all = await claim(jobs, 10);
    assert.equal(all.length, 5, '8 ready tasks, 5 pages left');
    assert.equal(await pagesToday(org), 5);
    assert.equal((await claim(jobs, 10)).length, 0);

    const org2 = await quotaOrg('Two jobs, small claims');
    const jobs2 = [await runningJob(org2, 'three.test', 4), await runningJob(org2, 'four.test', 4)];
    const firstClaim = await claim(jobs2, 3);
    assert.equal(firstClaim.length, 3);
    assert.equal(await pagesToday(org2), 3);
    const secondClaim = await claim(jobs2, 10);
    assert.equal(secondClaim.length, 2);
    assert.equal(await pagesToday(org2), 5);
    assert.equal((await claim(jobs2, 10)).length, 0);
  });
});

describe('plan limits: organisations per user, and pages per day per owner', () => {
  const claim = (jobIds: string[], limit = 20) => claimTasks(db.sql, 'w', limit, 30, jobIds);
  /** An organisation `user` created through create_organisation (as the API does), then put on `plan`. */
  async function createdBy(user: Tenant, plan: string): Promise<string> {
    const [org] = await asUser(
      db.sql,
      user.claims,
      (tx) => tx<{ id: string }[]>`select id from create_organisation('Owned')`,
    );
    await db.sql`update organisations set plan_id = ${plan} where id = ${org!.id}`;
    return org!.id;
  }
  async function runningJob(organisationId: string, pages: number): Promise<string> {
    const host = `${organisationId}.owner.test`;
    const job = await makeJob(db.sql, { organisationId, host, concurrency: 50 });
    await enqueueUrls(db.sql, job, urls(host, pages));
    return job;
  }
  async function ownerPagesToday(user: Tenant): Promise<number | undefined> {
    const [row] = await db.sql`
      select pages from owner_page_usage where owner_id = ${user.id} and day = utc_today()`;
    return row?.pages as number | undefined;
  }
  const perJob = (tasks: ClaimedTask[]) =>
    tasks.reduce((n, t) => n.set(t.job_id, (n.get(t.job_id) ?? 0) + 1), new Map<string, number>());

  test("a user's organisations share one daily quota, their largest plan's, not the sum of them", async () => {
    const user = await createUser(db.sql);
    const jobs = [
      await runningJob(await createdBy(user, 'five-pages'), 8),
      await runningJob(await createdBy(user, 'five-pages'), 8),
      await runningJob(await createdBy(user, 'five-pages'), 8),
    ];
    // Three organisations of 5 pages a day each would be 15 pages; their creator gets 5.
    assert.equal((await claim(jobs)).length, 5);
    assert.equal(await ownerPagesToday(user), 5);
    assert.equal((await claim(jobs)).length, 0);

    // A bigger plan on one of them raises the creator's quota to it (8), shared by all three, and each
    // organisation still stops at its own quota.
    const bigger = await createUser(db.sql);
    const small = await runningJob(await createdBy(bigger, 'five-pages'), 8);
    const large = await runningJob(await createdBy(bigger, 'eight-pages'), 8);
    const first = perJob(await claim([small], 20));
    assert.equal(first.get(small), 5, 'the five-page organisation stops at its own 5');
    const second = perJob(await claim([small, large], 20));
    assert.deepEqual(
      [second.get(small), second.get(large)],
      [undefined, 3],
      "what is left of the creator's 8",
    );
    assert.equal(await ownerPagesToday(bigger), 8);
  });

  test('an organisation with several owners counts against the user who created it', async () => {
    const creator = await createUser(db.sql);
    const coOwner = await createUser(db.sql);
    const shared = await createdBy(creator, 'five-pages');
    await db.sql`insert into organisation_members (organisation_id, user_id, role) values (${shared}, ${coOwner.id}, 'owner')`;
    // The creator handing it over changes nothing: they leave, and it still counts against them.
    await db.sql`delete from organisation_members where organisation_id = ${shared} and user_id = ${creator.id}`;
    const coOwnersOwn = await createdBy(coOwner, 'five-pages');
    const [sharedJob, ownJob] = [await runningJob(shared, 6), await runningJob(coOwnersOwn, 6)];
    assert.equal((await claim([sharedJob])).length, 5);
    assert.equal(await ownerPagesToday(creator), 5);
    assert.equal(await ownerPagesToday(coOwner), undefined);
    assert.equal((await claim([ownJob])).length, 5, "the co-owner's own quota is untouched");
    assert.equal(await ownerPagesToday(coOwner), 5);
    // An organisation the system made (the CLI's, an operator's) has no creator and only its own quota.
    const system = await runningJob(
      await createOrg(db.sql, 'System made', [[coOwner, 'owner']], 'five-pages'),
      6,
    );
    assert.equal((await claim([system])).length, 5);
    assert.equal(await ownerPagesToday(coOwner), 5);
  });

  test("a job paused by its creator's quota is waiting, not stalled", async () => {
    const user = await createUser(db.sql);
    const busy = await runningJob(await createdBy(user, 'five-pages'), 5);
    const waiting = await runningJob(await createdBy(user, 'five-pages'), 5);
    const claimed = await claim([busy]);
    assert.equal(claimed.length, 5);
    await completeTasks(
      db.sql,
      claimed.map((t) => ({ id: t.id, attempt: t.attempts, status_code: 200 })),
    );
    assert.equal((await claim([waiting])).length, 0, 'its organisation has pages left, its creator none');
    await db.sql`update jobs set last_progress_at = now() - interval '1 hour', started_at = now() - interval '1 hour'
                 where id = ${waiting}`;
    await db.sql`select fail_stalled_jobs(interval '1 minute')`;
    const [row] = await db.sql`select status from jobs where id = ${waiting}`;
    assert.equal(row!.status, 'running');
    const [remaining] = await db.sql`
      select org_pages_remaining(organisation_id) as n from jobs where id = ${waiting}`;
    assert.equal(remaining!.n, 0, 'the one definition of "quota used up" includes the creator\'s');
  });

  test('a user creates at most max_organisations_per_user(); two creates racing for the last place get one', async () => {
    const [cap] = await db.sql<{ n: number }[]>`select max_organisations_per_user() as n`;
    const create = (tx: TxSql) => tx<{ id: string }[]>`select id from create_organisation('Racing')`;
    const user = await createUser(db.sql);
    for (let i = 1; i < cap!.n; i++) await asUser(db.sql, user.claims, create);
    const outcome = await overlapping(
      db.sql,
      otherPool,
      { claims: user.claims, run: create },
      { claims: user.claims, run: create },
    );
    assert.equal(outcome.first.ok, true);
    assert.equal(outcome.secondWaited, true, 'the second create waited for the first');
    assert.equal(!outcome.second.ok && outcome.second.error.code, 'BBB03');
    assert.match(!outcome.second.ok ? outcome.second.error.message : '', /at most|the most one user may/);
    await rejectsWithCode(asUser(db.sql, user.claims, create), 'BBB03');
    const [row] = await db.sql<{ n: number }[]>`
      select count(*)::int as n from organisations where created_by = ${user.id}`;
    assert.equal(row!.n, cap!.n);
    // Handing them all to someone else does not reopen the cap: the personal organisation a user who belongs
    // to none would get counts too.
    const heir = await createUser(db.sql);
    await db.sql`insert into organisation_members (organisation_id, user_id, role)
                 select id, ${heir.id}, 'owner' from organisations where created_by = ${user.id}`;
    await db.sql`delete from organisation_members where user_id = ${user.id}`;
    await rejectsWithCode(
      asUser(db.sql, user.claims, (tx) => tx`select ensure_active_organisation()`),
      'BBB03',
    );
  });
});
