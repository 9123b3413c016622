// Invites as the signed-in caller reads and writes them, inside their transaction. The token is shown once:
// only its SHA-256 is stored, computed by PostgreSQL the same way accept_invite computes it.
import { randomBytes } from 'node:crypto';
import type { TxSql } from '../../db/client.ts';
import type { Invite, OrgRole } from './schemas.ts';

type InviteRow = Omit<Invite, 'created_at' | 'expires_at'> & { created_at: Date; expires_at: Date };

export const newInviteToken = () => randomBytes(32).toString('base64url');

/** No rows, or 42501: RLS refused (admins may not invite owners; members invite no one). */
export async function insertInvite(
  tx: TxSql,
  orgId: string,
  invite: { email: string; role: OrgRole; token: string; expiresInHours: number },
): Promise<InviteRow[]> {
  return tx<InviteRow[]>`
    insert into public.organisation_invites (organisation_id, email, role, token_hash, created_by, expires_at)
    values (${orgId}, ${invite.email}, ${invite.role}, sha256(convert_to(${invite.token}, 'UTF8')),
      (select auth.uid()), now() + make_interval(hours => ${invite.expiresInHours}))
    returning id, email, role, created_at, expires_at`;
}

/** Invites not yet accepted and not expired, newest first. */
export async function pendingInvites(tx: TxSql, orgId: string): Promise<Invite[]> {
  const rows = await tx<InviteRow[]>`
    select id, email, role, created_at, expires_at from public.organisation_invites
    where organisation_id = ${orgId} and accepted_at is null and expires_at > now()
    order by created_at desc, id`;
  return rows.map((i) => ({
    ...i,
    created_at: i.created_at.toISOString(),
    expires_at: i.expires_at.toISOString(),
  }));
}

/** Whether there was such an invite (that the caller could delete). */
export async function deleteInvite(tx: TxSql, orgId: string, inviteId: string): Promise<boolean> {
  const [gone] = await tx`
    delete from public.organisation_invites where id = ${inviteId} and organisation_id = ${orgId} returning id`;
  return gone !== undefined;
}

/** The organisation joined; accept_invite raises invite_not_found, invite_expired or invite_email_mismatch. */
export async function acceptInvite(tx: TxSql, token: string): Promise<string> {
  const [row] = await tx<{ id: string }[]>`select public.accept_invite(${token}) as id`;
  return row!.id;
}
