import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { apiFixture } from '../support/api.ts';

const api = await apiFixture();
const { sql } = api.db;

const { team, roleIn } = api;

test('an invite shows its token once; only the hash is stored and the list never has it', async () => {
  const owner = await api.user();
  const org = await team(owner);
  const before = Date.now();
  const res = await owner.call('POST', `/v1/organisations/${org}/invites`, { email: 'Sam@Example.TEST' });
  assert.equal(res.status, 201);
  assert.equal(res.body.email, 'sam@example.test');
  assert.equal(res.body.role, 'member');
  assert.match(res.body.token, /^[A-Za-z0-9_-]{43}$/);
  const expires = Date.parse(res.body.expires_at) - before;
  assert.ok(expires > 167.9 * 3600_000 && expires < 168.1 * 3600_000, `expires in ${expires} ms`);

  const [row] = await sql<{ token_hash: Buffer }[]>`
    select token_hash from organisation_invites where id = ${res.body.id}`;
  assert.deepEqual(row!.token_hash, createHash('sha256').update(res.body.token).digest());
  const stored = JSON.stringify(await sql`select * from organisation_invites where id = ${res.body.id}`);
  assert.ok(!stored.includes(res.body.token));

  const list = await owner.call('GET', `/v1/organisations/${org}/invites`);
  assert.equal(list.status, 200);
  assert.deepEqual(
    list.body.data.map((i: Record<string, unknown>) => Object.keys(i).sort()),
    [['created_at', 'email', 'expires_at', 'id', 'role']],
  );
  assert.equal(list.body.data[0].id, res.body.id);
  assert.ok(!JSON.stringify(list.body).includes(res.body.token));
});

test('accepting with the invited email joins with the invite role, once', async () => {
  const [owner, invitee] = await Promise.all([api.user(), api.user()]);
  const org = await team(owner);
  const invite = await owner.call('POST', `/v1/organisations/${org}/invites`, {
    email: invitee.email.toUpperCase(),
    role: 'admin',
    expires_in_hours: 2,
  });
  assert.equal(invite.status, 201);
  const accepted = await invitee.call('POST', '/v1/invites/accept', { token: invite.body.token });
  assert.equal(accepted.status, 200);
  assert.deepEqual(accepted.body, { organisation_id: org });
  assert.equal(await roleIn(org, invitee.id), 'admin');
  const theirs = (await invitee.call('GET', '/v1/organisations')).body.data;
  assert.deepEqual(
    theirs.map((o: { id: string; role: string }) => o.role).sort(),
    ['admin', 'owner'],
    'their own organisation plus the one they joined',
  );
  assert.equal((await owner.call('GET', `/v1/organisations/${org}/invites`)).body.data.length, 0);

  const again = await invitee.call('POST', '/v1/invites/accept', { token: invite.body.token });
  assert.equal(again.status, 404);
  assert.equal(again.body.error.code, 'invite_not_found');
  const unknown = await invitee.call('POST', '/v1/invites/accept', { token: 'not-a-real-token' });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.error.code, 'invite_not_found');
});

test('an invite for another email is refused with 403 and does not join', async () => {
  const [owner, stranger] = await Promise.all([api.user(), api.user()]);
  const org = await team(owner);
  const invite = await owner.call('POST', `/v1/organisations/${org}/invites`, { email: 'someone@else.test' });
  const res = await stranger.call('POST', '/v1/invites/accept', { token: invite.body.token });
  assert.equal(res.status, 403);
  assert.equal(res.body.error.code, 'invite_email_mismatch');
  assert.equal(await roleIn(org, stranger.id), undefined);
  const [row] = await sql`select accepted_at from organisation_invites where id = ${invite.body.id}`;
  assert.equal(row!.accepted_at, null);
});

test('an expired invite answers 410 and is not listed', async () => {
  const [owner, invitee] = await Promise.all([api.user(), api.user()]);
  const org = await team(owner);
  const invite = await owner.call('POST', `/v1/organisations/${org}/invites`, { email: invitee.email });
  await sql`update organisation_invites
            set created_at = now() - interval '2 days', expires_at = now() - interval '1 second'
            where id = ${invite.body.id}`;
  const res = await invitee.call('POST', '/v1/invites/accept', { token: invite.body.token });
  assert.equal(res.status, 410);
  assert.equal(res.body.error.code, 'invite_expired');
  assert.equal(await roleIn(org, invitee.id), undefined);
  assert.equal((await owner.call('GET', `/v1/organisations/${org}/invites`)).body.data.length, 0);
});

test('members cannot invite or see invites; admins cannot invite owners; outsiders get 404', async () => {
  const { org, owner, admin, member, outsider } = await api.crew();
  const path = `/v1/organisations/${org}/invites`;
  const byMember = await member.call('POST', path, { email: 'a@b.test' });
  assert.equal(byMember.status, 403);
  assert.equal(byMember.body.error.code, 'forbidden');
  assert.equal((await member.call('GET', path)).status, 403);
  const ownerByAdmin = await admin.call('POST', path, { email: 'a@b.test', role: 'owner' });
  assert.equal(ownerByAdmin.status, 403);
  assert.equal(ownerByAdmin.body.error.message, 'only owners can invite an owner');
  const byOutsider = await outsider.call('POST', path, { email: 'a@b.test' });
  assert.equal(byOutsider.status, 404);
  assert.equal((await outsider.call('GET', path)).status, 404);
  const [row] = await sql<{ n: number }[]>`
    select count(*)::int as n from organisation_invites where organisation_id = ${org}`;
  assert.equal(row!.n, 0);

  assert.equal((await admin.call('POST', path, { email: 'a@b.test', role: 'admin' })).status, 201);
  assert.equal((await owner.call('POST', path, { email: 'c@d.test', role: 'owner' })).status, 201);
  assert.equal((await admin.call('GET', path)).body.data.length, 2);
});

test('a withdrawn invite can no longer be accepted', async () => {
  const [owner, admin, member, invitee] = await Promise.all([api.user(), api.user(), api.user(), api.user()]);
  const org = await team(owner, [
    [admin, 'admin'],
    [member, 'member'],
  ]);
  const invite = await owner.call('POST', `/v1/organisations/${org}/invites`, { email: invitee.email });
  const path = `/v1/organisations/${org}/invites/${invite.body.id}`;
  assert.equal((await member.call('DELETE', path)).status, 403);
  assert.equal((await admin.call('DELETE', path)).status, 204);
  assert.equal((await admin.call('DELETE', path)).status, 404);
  assert.equal((await admin.call('DELETE', `/v1/organisations/${org}/invites/${randomUUID()}`)).status, 404);
  const res = await invitee.call('POST', '/v1/invites/accept', { token: invite.body.token });
  assert.equal(res.status, 404);
  assert.equal(await roleIn(org, invitee.id), undefined);
});

test('invite input is validated', async () => {
  const owner = await api.user();
  const org = await team(owner);
  const path = `/v1/organisations/${org}/invites`;
  for (const body of [
    { email: 'not-an-email' },
    { email: 'a@b.test', role: 'king' },
    { email: 'a@b.test', expires_in_hours: 0 },
    { email: 'a@b.test', expires_in_hours: 721 },
    { email: 'a@b.test', expires_in_hours: 1.5 },
  ]) {
    const res = await owner.call('POST', path, body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(res.body.error.code, 'validation_failed');
  }
  assert.equal(
    (await owner.call('POST', '/v1/organisations/nope/invites', { email: 'a@b.test' })).status,
    400,
  );
  assert.equal((await owner.call('POST', '/v1/invites/accept', { token: '' })).status, 400);
  assert.equal((await api.call('POST', '/v1/invites/accept', { token: 'x' })).status, 401);
});
