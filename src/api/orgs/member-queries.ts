// Organisation members as the signed-in caller sees them, inside their transaction. Who may change whom is
// the policies' call (owners manage everyone, admins everyone but owners); the database raises
// owner_required rather than let the last owner go.
import type { TxSql } from '../../db/client.ts';
import { notFound } from '../errors.ts';
import type { Member, OrgRole } from './schemas.ts';

/** The organisation's members (or the one given), earliest first, with the emails only members may read. */
export async function listMembers(tx: TxSql, orgId: string, userId?: string): Promise<Member[]> {
  const rows = await tx<(Omit<Member, 'created_at'> & { created_at: Date })[]>`
    select m.user_id, e.email, m.role, m.created_at
    from public.organisation_members m
    join public.organisation_member_emails(${orgId}) e on e.user_id = m.user_id
    where m.organisation_id = ${orgId} ${userId === undefined ? tx`` : tx`and m.user_id = ${userId}`}
    order by m.created_at, m.user_id`;
  return rows.map((r) => ({ ...r, created_at: r.created_at.toISOString() }));
}

/** 404 unless the member exists (as the caller sees it), so a refused change can say 403. */
export async function requireMember(tx: TxSql, orgId: string, userId: string): Promise<void> {
  const [exists] = await tx`
    select 1 from public.organisation_members where organisation_id = ${orgId} and user_id = ${userId}`;
  if (!exists) throw notFound('member');
}

/** No rows: RLS refused. */
export async function setMemberRole(
  tx: TxSql,
  orgId: string,
  userId: string,
  role: OrgRole,
): Promise<{ user_id: string }[]> {
  return tx<{ user_id: string }[]>`
    update public.organisation_members set role = ${role}
    where organisation_id = ${orgId} and user_id = ${userId} returning user_id`;
}

/** No rows: RLS refused. */
export async function removeMember(tx: TxSql, orgId: string, userId: string): Promise<{ user_id: string }[]> {
  return tx<{ user_id: string }[]>`
    delete from public.organisation_members
    where organisation_id = ${orgId} and user_id = ${userId} returning user_id`;
}
