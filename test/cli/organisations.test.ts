// `bbb organisations set-plan`: the operator's way to change a plan, which tenants cannot (see
// test/api/organisations.test.ts and test/db/rls.test.ts). The command runs as a real child process against
// this file's database, as an operator would; the refusals are checked on the function it runs.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { UsageError } from '../../src/cli/errors.ts';
import { setOrganisationPlan } from '../../src/cli/organisations.ts';
import { runBbb } from '../e2e/bbb-process.ts';
import { testDatabase } from '../support/db.ts';
import { createOrg } from '../support/tenants.ts';

const db = await testDatabase();
const setPlan = (...args: string[]) =>
  runBbb(['organisations', 'set-plan', ...args], { DATABASE_URL: db.url }).done;
const planOf = async (org: string) =>
  (await db.sql<{ plan_id: string }[]>`select plan_id from organisations where id = ${org}`)[0]?.plan_id;

test('bbb organisations set-plan changes the plan and says what changed; a refusal exits 2', async () => {
  const org = await createOrg(db.sql, 'Customer');
  const changed = await setPlan(org, 'business');
  assert.equal(changed.code, 0, changed.stderr);
  assert.equal(changed.stdout, `organisation ${org} (Customer): plan free → business\n`);
  assert.equal(await planOf(org), 'business');
  const refused = await setPlan(org, 'platinum');
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /No plan "platinum": choose one of free, pro, business, operator/);
  assert.equal(await planOf(org), 'business');
});

test('set-plan takes any plan, unlisted ones included, and refuses unknown plans and organisations', async () => {
  const org = await createOrg(db.sql, 'Unchanged');
  assert.deepEqual(await setOrganisationPlan(db.sql, org, 'operator'), {
    id: org,
    name: 'Unchanged',
    from: 'free',
    to: 'operator',
  });
  assert.equal((await setOrganisationPlan(db.sql, org, 'operator')).from, 'operator');
  const cases: Array<[string, string, RegExp]> = [
    [org, 'platinum', /No plan "platinum"/],
    [randomUUID(), 'pro', /No organisation has id/],
    ['not-a-uuid', 'pro', /"not-a-uuid" is not an organisation id/],
  ];
  for (const [id, plan, message] of cases) {
    await assert.rejects(setOrganisationPlan(db.sql, id, plan), (err: unknown) => {
      assert.ok(err instanceof UsageError);
      assert.match(err.message, message);
      return true;
    });
  }
  assert.equal(await planOf(org), 'operator');
});
