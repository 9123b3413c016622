// Who the caller is in an organisation, read as the caller (RLS): an organisation they cannot see answers
// exactly like one that does not exist. These reads only pick the status code of a refusal; the policies are
// what refuse.
import type { TxSql } from '../../db/client.ts';
import { forbidden, notFound } from '../errors.ts';
import { activeOrganisation } from '../user-db.ts';
import type { OrgRole } from './schemas.ts';

/** The caller's role in the organisation; 404 when they are not a member. */
export async function callerRole(tx: TxSql, orgId: string): Promise<OrgRole> {
  const [row] = await tx<{ role: OrgRole }[]>`
    select role from public.organisation_members
    where organisation_id = ${orgId} and user_id = (select auth.uid())`;
  if (!row) throw notFound('organisation');
  return row.role;
}

/** The organisation a request acts on: the one named (which the caller must belong to) or the active one. */
export async function targetOrganisation(tx: TxSql, orgId: string | undefined): Promise<string> {
  const active = await activeOrganisation(tx);
  if (orgId === undefined) return active;
  await callerRole(tx, orgId);
  return orgId;
}

/**
 * Runs a write that RLS may refuse: a USING refusal changes 0 rows silently and a WITH CHECK refusal raises
 * 42501; both become a 403 with `message`.
 */
export async function refusedAs<T extends unknown[]>(message: string, write: Promise<T>): Promise<T> {
  let rows: T;
  try {
    rows = await write;
  } catch (err) {
    if ((err as { code?: string }).code === '42501') throw forbidden(message, { cause: err });
    throw err;
  }
  if (rows.length === 0) throw forbidden(message);
  return rows;
}
