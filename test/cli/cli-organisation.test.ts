// The organisation `bbb crawl` runs its jobs in is the one flagged is_cli, not one named "cli": a tenant who
// renames their own organisation "cli" must not receive the operator's crawls (internal URLs and results) when
// the CLI runs against a database a server shares. Reproduced end to end with a real `bbb crawl`.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { cliOrganisationId } from '../../src/cli/cli-organisation.ts';
import { asUser } from '../../src/db/as-user.ts';
import { runBbb } from '../e2e/bbb-process.ts';
import { testDatabase } from '../support/db.ts';
import { type FixtureSite, startFixtureSite } from '../support/fixture-site.ts';
import { createOrg, createUser, type Tenant } from '../support/tenants.ts';

const db = await testDatabase();
const sites: FixtureSite[] = [];
after(async () => {
  await Promise.all(sites.map((s) => s.stop()));
});

const squatters: Array<{ user: Tenant; org: string }> = [];

/**
 * A tenant who renamed their own organisation "cli", as any owner or admin may, and whose organisation is
 * older than any other so named (the old lookup took the oldest).
 */
async function squatter(): Promise<{ user: Tenant; org: string }> {
  const user = await createUser(db.sql);
  const org = await createOrg(db.sql, 'Mine', [[user, 'owner']]);
  await db.sql`update organisations set created_at = timestamptz '2000-01-01' - make_interval(days => ${squatters.length})
               where id = ${org}`;
  const renamed = await asUser(
    db.sql,
    user.claims,
    (tx) => tx`update organisations set name = 'cli' where id = ${org}`,
  );
  assert.equal(renamed.count, 1, 'renaming is allowed; it must just not matter');
  squatters.push({ user, org });
  return { user, org };
}

test("an organisation a tenant named 'cli' is never the CLI's; the CLI's is made once", async () => {
  const { org } = await squatter();
  const ids = await Promise.all([cliOrganisationId(db.sql), cliOrganisationId(db.connect(1))]);
  assert.equal(ids[0], ids[1], 'two crawls starting at once share one organisation');
  assert.notEqual(ids[0], org);
  const [cli] = await db.sql`
    select o.is_cli, o.plan_id, o.created_by,
      (select count(*)::int from organisation_members m where m.organisation_id = o.id) as members
    from organisations o where o.id = ${ids[0]!}`;
  assert.deepEqual({ ...cli }, { is_cli: true, plan_id: 'operator', created_by: null, members: 0 });
  const [flagged] = await db.sql`select count(*)::int as n from organisations where is_cli`;
  assert.equal(flagged!.n, 1);
  assert.equal(await cliOrganisationId(db.sql), ids[0]);
});

test("bbb crawl against a shared database shows the tenant who named their organisation 'cli' nothing", async () => {
  const { user, org } = await squatter();
  const site = await startFixtureSite((s) => {
    s.page('/', '<a href="/admin/preview?token=internal-s3cret">preview</a>');
    s.page('/admin/preview', '<p>unreleased</p>');
  });
  sites.push(site);
  const { code, stderr } = await runBbb(['crawl', site.url('/'), '--no-sitemap', '--format', 'json'], {
    DATABASE_URL: db.url,
  }).done;
  assert.equal(code, 0, stderr);
  assert.equal(site.requested('/admin/preview?token=internal-s3cret').length, 1, 'the crawl did run');

  const seen = await asUser(db.sql, user.claims, async (tx) => ({
    jobs: await tx`select id from jobs`,
    tasks: await tx`select url from tasks`,
  }));
  assert.equal(seen.jobs.length, 0, "the tenant sees none of the operator's jobs");
  assert.equal(seen.tasks.length, 0, "the tenant sees none of the operator's URLs");
  const [job] = await db.sql`
    select o.is_cli, j.organisation_id from jobs j join organisations o on o.id = j.organisation_id
    where j.root_url = ${site.url('/')}`;
  assert.equal(job!.is_cli, true);
  assert.notEqual(job!.organisation_id, org);
});
