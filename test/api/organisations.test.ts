import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { apiFixture, type TestUser } from '../support/api.ts';

const api = await apiFixture();
const { sql } = api.db;

const { team, roleIn } = api;

test('a new user has exactly one organisation, their own, even after two concurrent first requests', async () => {
  const user = await api.user();
  const [a, b] = await Promise.all([
    user.call('GET', '/v1/organisations'),
    user.call('GET', '/v1/organisations'),
  ]);
  assert.equal(a.status, 200);
  assert.equal(b.status, 200);
  for (const res of [a, b]) {
    assert.equal(res.body.data.length, 1);
    const [org] = res.body.data;
    assert.equal(org.name, `${user.email}'s organisation`);
    assert.equal(org.role, 'owner');
    assert.equal(org.active, true);
    assert.equal(org.plan_id, 'free');
    assert.ok(!Number.isNaN(Date.parse(org.created_at)));
  }
  assert.equal(a.body.data[0].id, b.body.data[0].id);
  const [row] = await sql<{ n: number }[]>`
    select count(*)::int as n from organisation_members where user_id = ${user.id}`;
  assert.equal(row!.n, 1);
});

test('creating an organisation makes the caller its owner; the list shows each role', async () => {
  const alice = await api.user();
  const bob = await api.user();
  const bobsOwn = (await bob.call('GET', '/v1/organisations')).body.data[0].id;
  const created = await alice.call('POST', '/v1/organisations', { name: '  Acme Ltd  ' });
  assert.equal(created.status, 201);
  assert.equal(created.body.name, 'Acme Ltd');
  assert.equal(created.body.role, 'owner');
  assert.equal(created.body.active, false, 'creating does not switch');
  await sql`insert into organisation_members (organisation_id, user_id, role)
            values (${created.body.id}, ${bob.id}, 'member')`;

  // Alice's personal organisation was made in the same transaction as Acme: same created_at, either order.
  const mine = await alice.call('GET', '/v1/organisations');
  assert.deepEqual(
    mine.body.data
      .map((o: { name: string; role: string; active: boolean }) => [o.name, o.role, o.active])
      .sort(),
    [
      [`${alice.email}'s organisation`, 'owner', true],
      ['Acme Ltd', 'owner', false],
    ].sort(),
  );
  const theirs = await bob.call('GET', '/v1/organisations');
  assert.deepEqual(
    theirs.body.data.map((o: { id: string; role: string; active: boolean }) => [o.id, o.role, o.active]),
    [
      [bobsOwn, 'owner', true],
      [created.body.id, 'member', false],
    ],
  );

  for (const name of ['', '   ', 'x'.repeat(201)]) {
    const bad = await alice.call('POST', '/v1/organisations', { name });
    assert.equal(bad.status, 400, name);
    assert.equal(bad.body.error.code, 'validation_failed');
  }
});

test('owners and admins rename; a member gets 403, an outsider 404, a malformed id 400', async () => {
  const { org, owner, admin, member, outsider } = await api.crew();
  const byOwner = await owner.call('PATCH', `/v1/organisations/${org}`, { name: 'Renamed' });
  assert.equal(byOwner.status, 200);
  assert.equal(byOwner.body.name, 'Renamed');
  const byAdmin = await admin.call('PATCH', `/v1/organisations/${org}`, { name: 'By admin' });
  assert.equal(byAdmin.status, 200);
  assert.equal(byAdmin.body.role, 'admin');

  const byMember = await member.call('PATCH', `/v1/organisations/${org}`, { name: 'Nope' });
  assert.equal(byMember.status, 403);
  assert.equal(byMember.body.error.code, 'forbidden');
  const byOutsider = await outsider.call('PATCH', `/v1/organisations/${org}`, { name: 'Nope' });
  assert.equal(byOutsider.status, 404);
  const unknown = await outsider.call('PATCH', `/v1/organisations/${randomUUID()}`, { name: 'Nope' });
  assert.deepEqual(unknown.body, byOutsider.body, 'same body as an unknown id');
  const malformed = await owner.call('PATCH', '/v1/organisations/not-a-uuid', { name: 'Nope' });
  assert.equal(malformed.status, 400);
  assert.equal(malformed.body.error.code, 'validation_failed');
  const empty = await owner.call('PATCH', `/v1/organisations/${org}`, {});
  assert.equal(empty.status, 400);

  const [row] = await sql`select name from organisations where id = ${org}`;
  assert.equal(row!.name, 'By admin');
});

test('no tenant changes the plan: a plan_id is refused with 403 saying who does, and nothing changes', async () => {
  const [owner, admin, member] = await Promise.all([api.user(), api.user(), api.user()]);
  const org = await team(owner, [
    [admin, 'admin'],
    [member, 'member'],
  ]);
  for (const [user, body] of [
    [owner, { plan_id: 'business' }],
    [owner, { plan_id: 'free' }],
    [admin, { plan_id: 'pro' }],
    [member, { plan_id: 'business' }],
    // Not half-applied: the rename in the same request does not happen either.
    [owner, { name: 'Renamed on the way', plan_id: 'business' }],
    [owner, { name: 'Renamed on the way', plan_id: null }],
  ] as const) {
    const res = await user.call('PATCH', `/v1/organisations/${org}`, body);
    assert.equal(res.status, 403, JSON.stringify(body));
    assert.equal(res.body.error.code, 'forbidden');
    assert.match(res.body.error.message, /billing or by the operator \(bbb organisations set-plan\)/);
  }
  const [row] = await sql`select name, plan_id from organisations where id = ${org}`;
  assert.equal(row!.plan_id, 'free');
  assert.notEqual(row!.name, 'Renamed on the way');
  const outsider = await api.user();
  const hidden = await outsider.call('PATCH', `/v1/organisations/${org}`, { plan_id: 'business' });
  assert.equal(hidden.status, 404, 'an outsider learns nothing, not even that plans are refused');
});

test('a user creates at most max_organisations_per_user() organisations, the personal one included', async () => {
  const [cap] = await sql<{ n: number }[]>`select max_organisations_per_user() as n`;
  const user = await api.user();
  // The first request makes the personal organisation, which counts.
  assert.equal((await user.call('GET', '/v1/organisations')).body.data.length, 1);
  for (let i = 1; i < cap!.n; i++) {
    assert.equal((await user.call('POST', '/v1/organisations', { name: `Org ${i}` })).status, 201);
  }
  const refused = await user.call('POST', '/v1/organisations', { name: 'One too many' });
  assert.equal(refused.status, 403);
  assert.equal(refused.body.error.code, 'organisation_limit_reached');
  assert.match(refused.body.error.message, new RegExp(`created ${cap!.n} organisations`));
  const [row] = await sql<{ n: number }[]>`
    select count(*)::int as n from organisations where created_by = ${user.id}`;
  assert.equal(row!.n, cap!.n);
  // Deleting one frees its place.
  const last = (await user.call('GET', '/v1/organisations')).body.data.at(-1).id;
  assert.equal((await user.call('DELETE', `/v1/organisations/${last}`)).status, 204);
  assert.equal((await user.call('POST', '/v1/organisations', { name: 'Now fits' })).status, 201);
});

test('switching the active organisation: only to one you belong to', async () => {
  const [user, other] = await Promise.all([api.user(), api.user()]);
  const personal = (await user.call('GET', '/v1/organisations')).body.data[0].id;
  const org = await team(user);
  const switched = await user.call('POST', `/v1/organisations/${org}/switch`);
  assert.equal(switched.status, 200);
  assert.equal(switched.body.id, org);
  assert.equal(switched.body.active, true);
  const list = (await user.call('GET', '/v1/organisations')).body.data;
  assert.deepEqual(
    list.map((o: { id: string; active: boolean }) => [o.id, o.active]),
    [
      [personal, false],
      [org, true],
    ],
  );

  const foreign = await team(other);
  const refused = await user.call('POST', `/v1/organisations/${foreign}/switch`);
  assert.equal(refused.status, 404);
  assert.equal(refused.body.error.code, 'not_found');
  const [settings] = await sql`select active_organisation_id from user_settings where user_id = ${user.id}`;
  assert.equal(settings!.active_organisation_id, org);
});

test('only an owner deletes an organisation', async () => {
  const { org, owner, admin, member, outsider } = await api.crew();
  assert.equal((await admin.call('DELETE', `/v1/organisations/${org}`)).status, 403);
  assert.equal((await member.call('DELETE', `/v1/organisations/${org}`)).status, 403);
  assert.equal((await outsider.call('DELETE', `/v1/organisations/${org}`)).status, 404);
  assert.equal((await sql`select 1 from organisations where id = ${org}`).length, 1);

  await owner.call('POST', `/v1/organisations/${org}/switch`);
  const gone = await owner.call('DELETE', `/v1/organisations/${org}`);
  assert.equal(gone.status, 204);
  assert.equal((await sql`select 1 from organisations where id = ${org}`).length, 0);
  assert.equal((await owner.call('PATCH', `/v1/organisations/${org}`, { name: 'x' })).status, 404);
  // The deleted one was active: the owner falls back to another organisation of theirs.
  const after = (await owner.call('GET', '/v1/organisations')).body.data;
  assert.equal(after.length, 1);
  assert.equal(after[0].active, true);
});

test('members are listed with their emails, to members only', async () => {
  const [owner, member, outsider] = await Promise.all([api.user(), api.user(), api.user()]);
  const org = await team(owner, [[member, 'member']]);
  const res = await member.call('GET', `/v1/organisations/${org}/members`);
  assert.equal(res.status, 200);
  assert.deepEqual(
    res.body.data.map((m: { user_id: string; email: string; role: string }) => [m.user_id, m.email, m.role]),
    [
      [owner.id, owner.email, 'owner'],
      [member.id, member.email, 'member'],
    ],
  );
  assert.equal((await outsider.call('GET', `/v1/organisations/${org}/members`)).status, 404);
});

test('roles: owners manage everyone, admins cannot touch owners or make one, a member manages no one', async () => {
  const [owner, admin, member, other] = await Promise.all([api.user(), api.user(), api.user(), api.user()]);
  const org = await team(owner, [
    [admin, 'admin'],
    [member, 'member'],
    [other, 'member'],
  ]);
  const path = (u: TestUser) => `/v1/organisations/${org}/members/${u.id}`;

  const demoteOwner = await admin.call('PATCH', path(owner), { role: 'member' });
  assert.equal(demoteOwner.status, 403);
  assert.equal(demoteOwner.body.error.code, 'forbidden');
  const makeOwner = await admin.call('PATCH', path(member), { role: 'owner' });
  assert.equal(makeOwner.status, 403);
  assert.equal((await admin.call('DELETE', path(owner))).status, 403);
  assert.equal(await roleIn(org, owner.id), 'owner');
  assert.equal(await roleIn(org, member.id), 'member');

  const promoted = await admin.call('PATCH', path(member), { role: 'admin' });
  assert.equal(promoted.status, 200);
  assert.deepEqual(
    [promoted.body.user_id, promoted.body.email, promoted.body.role],
    [member.id, member.email, 'admin'],
  );

  const byMember = await other.call('PATCH', path(admin), { role: 'member' });
  assert.equal(byMember.status, 403);
  assert.equal((await other.call('DELETE', path(admin))).status, 403);
  assert.equal(await roleIn(org, admin.id), 'admin');

  const unknown = await owner.call('PATCH', `/v1/organisations/${org}/members/${randomUUID()}`, {
    role: 'admin',
  });
  assert.equal(unknown.status, 404);
  const badRole = await owner.call('PATCH', path(other), { role: 'king' });
  assert.equal(badRole.status, 400);

  const madeOwner = await owner.call('PATCH', path(admin), { role: 'owner' });
  assert.equal(madeOwner.status, 200);
  assert.equal(await roleIn(org, admin.id), 'owner');
  const removed = await owner.call('DELETE', path(other));
  assert.equal(removed.status, 204);
  assert.equal(await roleIn(org, other.id), undefined);
});

test('the last owner can neither leave nor be demoted; a member can leave', async () => {
  const [owner, member] = await Promise.all([api.user(), api.user()]);
  const org = await team(owner, [[member, 'member']]);
  const leave = await owner.call('DELETE', `/v1/organisations/${org}/members/${owner.id}`);
  assert.equal(leave.status, 409);
  assert.equal(leave.body.error.code, 'owner_required');
  const demote = await owner.call('PATCH', `/v1/organisations/${org}/members/${owner.id}`, { role: 'admin' });
  assert.equal(demote.status, 409);
  assert.equal(await roleIn(org, owner.id), 'owner');

  const left = await member.call('DELETE', `/v1/organisations/${org}/members/${member.id}`);
  assert.equal(left.status, 204);
  assert.equal(await roleIn(org, member.id), undefined);
  assert.equal((await member.call('GET', `/v1/organisations/${org}/members`)).status, 404);
});

test('the routes are in the OpenAPI document', async () => {
  const doc = (await api.call('GET', '/v1/openapi.json')).body;
  for (const path of [
    '/v1/organisations',
    '/v1/organisations/{id}',
    '/v1/organisations/{id}/switch',
    '/v1/organisations/{id}/members',
    '/v1/organisations/{id}/members/{userId}',
    '/v1/organisations/{id}/invites',
    '/v1/organisations/{id}/invites/{inviteId}',
    '/v1/invites/accept',
  ]) {
    assert.ok(doc.paths[path], path);
  }
});
