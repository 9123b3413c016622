// Tenant isolation across the whole API: Bob (organisation B) attempts every signed-in route against Alice's
// organisation A — its jobs, tasks, exports, share links, members, invites, usage and dashboard. Each attempt
// gets 403 or 404, says nothing Alice's data would, and changes nothing. The route list comes from the
// OpenAPI document, so a new route fails this test until it is listed here.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { enqueueUrls } from '../../src/queue/tasks.ts';
import { apiFixture } from '../support/api.ts';
import { urls } from '../support/jobs.ts';

const api = await apiFixture();
const { sql } = api.db;

const alice = await api.user('alice@alice-corp.test');
const bob = await api.user('bob@bob-corp.test');
const carol = await api.user('carol@alice-corp.test');

// Alice's organisation, with everything a tenant can own in it.
const orgA = (await alice.call('POST', '/v1/organisations', { name: 'Alice Secret Org' })).body.id as string;
assert.equal((await alice.call('POST', `/v1/organisations/${orgA}/switch`)).status, 200);
const created = await alice.call('POST', '/v1/jobs', { url: 'https://alice-site.test/', use_sitemap: false });
assert.equal(created.status, 201, JSON.stringify(created.body));
const jobA = created.body.id as string;
await enqueueUrls(sql, jobA, urls('alice-site.test', 5, 'launch-plan-'));
const link = (await alice.call('POST', `/v1/jobs/${jobA}/share-links`)).body as { id: string; token: string };
const invite = (
  await alice.call('POST', `/v1/organisations/${orgA}/invites`, { email: carol.email, role: 'admin' })
).body as { id: string; token: string };
assert.ok(link.token && invite.token);
// Bob has his own organisation and job, so every "list" below has something to list.
const bobJob = await bob.call('POST', '/v1/jobs', { url: 'https://bob-site.test/', use_sitemap: false });
assert.equal(bobJob.status, 201);

/** Strings that would only appear in a response that leaked Alice's data. */
const SECRETS = [
  'Alice Secret Org',
  'alice@alice-corp.test',
  'alice-site.test',
  'launch-plan-',
  link.token,
  invite.token,
];

interface Attempt {
  method: string;
  /** The OpenAPI path, e.g. /v1/jobs/{id}. */
  route: string;
  path: string;
  body?: unknown;
  /** The same request with Alice's ids replaced by random ones: the answers must be identical. */
  unknownPath?: string;
  expect?: number[];
}

const u = () => randomUUID();
const attempts: Attempt[] = [
  {
    method: 'GET',
    route: '/v1/jobs',
    path: `/v1/jobs?organisation_id=${orgA}`,
    unknownPath: `/v1/jobs?organisation_id=${u()}`,
  },
  {
    method: 'POST',
    route: '/v1/jobs',
    path: '/v1/jobs',
    body: { url: 'https://x.test/', organisation_id: orgA },
  },
  { method: 'GET', route: '/v1/jobs/{id}', path: `/v1/jobs/${jobA}`, unknownPath: `/v1/jobs/${u()}` },
  {
    method: 'POST',
    route: '/v1/jobs/{id}/cancel',
    path: `/v1/jobs/${jobA}/cancel`,
    unknownPath: `/v1/jobs/${u()}/cancel`,
  },
  {
    method: 'POST',
    route: '/v1/jobs/{id}/restart',
    path: `/v1/jobs/${jobA}/restart`,
    unknownPath: `/v1/jobs/${u()}/restart`,
  },
  {
    method: 'GET',
    route: '/v1/jobs/{id}/tasks',
    path: `/v1/jobs/${jobA}/tasks`,
    unknownPath: `/v1/jobs/${u()}/tasks`,
  },
  { method: 'GET', route: '/v1/jobs/{id}/export', path: `/v1/jobs/${jobA}/export?format=csv` },
  {
    method: 'GET',
    route: '/v1/jobs/{id}/export',
    path: `/v1/jobs/${jobA}/export?format=json`,
    unknownPath: `/v1/jobs/${u()}/export?format=json`,
  },
  { method: 'POST', route: '/v1/jobs/{id}/share-links', path: `/v1/jobs/${jobA}/share-links`, body: {} },
  {
    method: 'GET',
    route: '/v1/jobs/{id}/share-links',
    path: `/v1/jobs/${jobA}/share-links`,
    unknownPath: `/v1/jobs/${u()}/share-links`,
  },
  {
    method: 'DELETE',
    route: '/v1/jobs/{id}/share-links/{linkId}',
    path: `/v1/jobs/${jobA}/share-links/${link.id}`,
    unknownPath: `/v1/jobs/${u()}/share-links/${u()}`,
  },
  {
    method: 'GET',
    route: '/v1/dashboard/stats',
    path: `/v1/dashboard/stats?organisation_id=${orgA}`,
    unknownPath: `/v1/dashboard/stats?organisation_id=${u()}`,
  },
  {
    method: 'GET',
    route: '/v1/usage',
    path: `/v1/usage?organisation_id=${orgA}`,
    unknownPath: `/v1/usage?organisation_id=${u()}`,
  },
  {
    method: 'PATCH',
    route: '/v1/organisations/{id}',
    path: `/v1/organisations/${orgA}`,
    body: { name: 'pwned' },
  },
  {
    method: 'DELETE',
    route: '/v1/organisations/{id}',
    path: `/v1/organisations/${orgA}`,
    unknownPath: `/v1/organisations/${u()}`,
  },
  {
    method: 'POST',
    route: '/v1/organisations/{id}/switch',
    path: `/v1/organisations/${orgA}/switch`,
    unknownPath: `/v1/organisations/${u()}/switch`,
  },
  {
    method: 'GET',
    route: '/v1/organisations/{id}/members',
    path: `/v1/organisations/${orgA}/members`,
    unknownPath: `/v1/organisations/${u()}/members`,
  },
  {
    method: 'PATCH',
    route: '/v1/organisations/{id}/members/{userId}',
    path: `/v1/organisations/${orgA}/members/${alice.id}`,
    body: { role: 'member' },
  },
  {
    method: 'DELETE',
    route: '/v1/organisations/{id}/members/{userId}',
    path: `/v1/organisations/${orgA}/members/${alice.id}`,
  },
  {
    method: 'POST',
    route: '/v1/organisations/{id}/invites',
    path: `/v1/organisations/${orgA}/invites`,
    body: { email: bob.email, role: 'owner' },
  },
  {
    method: 'GET',
    route: '/v1/organisations/{id}/invites',
    path: `/v1/organisations/${orgA}/invites`,
    unknownPath: `/v1/organisations/${u()}/invites`,
  },
  {
    method: 'DELETE',
    route: '/v1/organisations/{id}/invites/{inviteId}',
    path: `/v1/organisations/${orgA}/invites/${invite.id}`,
  },
  // The invite is addressed to Carol: holding its token does not make Bob a member.
  {
    method: 'POST',
    route: '/v1/invites/accept',
    path: '/v1/invites/accept',
    body: { token: invite.token },
    expect: [403],
  },
];

// Routes that serve only the caller's own data: Bob's answers must simply not contain Alice's.
const ownData: Attempt[] = [
  { method: 'GET', route: '/v1/jobs', path: '/v1/jobs' },
  { method: 'GET', route: '/v1/organisations', path: '/v1/organisations' },
  { method: 'POST', route: '/v1/organisations', path: '/v1/organisations', body: { name: 'Bob two' } },
  { method: 'GET', route: '/v1/dashboard/stats', path: '/v1/dashboard/stats?range=90d' },
  { method: 'GET', route: '/v1/usage', path: '/v1/usage' },
];

// Not tenant-scoped: health, the auth server (its own tests), the public price list, and shared links, whose
// token is the credential (test/api/share-links.test.ts shows a token opens exactly one job).
const NOT_TENANT_SCOPED = /^\/(health|auth\/v1\/|v1\/plans$|v1\/shared\/)/;

function leaked(text: string): string[] {
  return SECRETS.filter((s) => text.includes(s));
}

test('the attempts below cover every signed-in route in the OpenAPI document', async () => {
  const doc = (await api.call('GET', '/v1/openapi.json')).body as {
    paths: Record<string, Record<string, unknown>>;
  };
  const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
  );
  const signedIn = documented.filter((r) => !NOT_TENANT_SCOPED.test(r.split(' ')[1]!));
  const covered = new Set([...attempts, ...ownData].map((a) => `${a.method} ${a.route}`));
  assert.deepEqual(
    signedIn.filter((r) => !covered.has(r)),
    [],
    'routes with no cross-tenant attempt',
  );
  assert.ok(
    signedIn.length >= 24,
    `only ${signedIn.length} signed-in routes documented: did some disappear?`,
  );
});

test("every cross-tenant attempt on Alice's organisation is refused with 403 or 404 and leaks nothing", async () => {
  for (const a of attempts) {
    const res = await bob.call(a.method, a.path, a.body);
    const label = `${a.method} ${a.path}`;
    assert.ok(
      (a.expect ?? [403, 404]).includes(res.status),
      `${label}: ${res.status} ${JSON.stringify(res.body)}`,
    );
    assert.equal(typeof res.body?.error?.code, 'string', `${label}: error body`);
    assert.deepEqual(leaked(JSON.stringify(res.body)), [], `${label} leaked`);
    if (a.unknownPath) {
      // Same status and body as for an id that exists nowhere: the answer reveals nothing about existence.
      const unknown = await bob.call(a.method, a.unknownPath, a.body);
      assert.equal(unknown.status, res.status, `${label}: status differs from an unknown id`);
      assert.deepEqual(unknown.body, res.body, `${label}: body differs from an unknown id`);
    }
  }
});

test("routes serving the caller's own data never include Alice's", async () => {
  for (const a of ownData) {
    const res = await bob.call(a.method, a.path, a.body);
    assert.ok(res.status < 300, `${a.method} ${a.path}: ${res.status}`);
    assert.deepEqual(leaked(JSON.stringify(res.body)), [], `${a.method} ${a.path} leaked`);
  }
  const jobs = (await bob.call('GET', '/v1/jobs')).body.data as Array<{ id: string }>;
  assert.deepEqual(
    jobs.map((j) => j.id),
    [bobJob.body.id],
  );
});

test("after every attempt, Alice's data is exactly as she left it", async () => {
  const [job] = await sql<{ status: string }[]>`select status from jobs where id = ${jobA}`;
  assert.equal(job!.status, 'running');
  assert.equal(
    (await sql`select 1 from jobs where organisation_id = ${orgA}`).length,
    1,
    'no job added or restarted',
  );
  const [org] = await sql<{ name: string }[]>`select name from organisations where id = ${orgA}`;
  assert.equal(org!.name, 'Alice Secret Org');
  const members = await sql<{ user_id: string; role: string }[]>`
    select user_id, role from organisation_members where organisation_id = ${orgA}`;
  assert.deepEqual(
    members.map((m) => [m.user_id, m.role]),
    [[alice.id, 'owner']],
  );
  const [linkRow] = await sql<
    { revoked_at: Date | null }[]
  >`select revoked_at from job_share_links where id = ${link.id}`;
  assert.equal(linkRow!.revoked_at, null);
  assert.equal((await sql`select 1 from job_share_links where job_id = ${jobA}`).length, 1, 'no link added');
  const invites = await sql`select accepted_at from organisation_invites where organisation_id = ${orgA}`;
  assert.equal(invites.length, 1);
  assert.equal(invites[0]!.accepted_at, null);
  const [settings] = await sql<{ active_organisation_id: string }[]>`
    select active_organisation_id from user_settings where user_id = ${bob.id}`;
  assert.notEqual(settings!.active_organisation_id, orgA);
  // Alice still sees her job, and the shared link still opens it (and only it) without signing in.
  assert.equal((await alice.call('GET', `/v1/jobs/${jobA}`)).status, 200);
  const shared = await api.call('GET', `/v1/shared/${link.token}`);
  assert.equal(shared.status, 200);
  assert.equal(shared.body.id, jobA);
});
