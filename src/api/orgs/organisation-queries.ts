// Organisation rows as the signed-in caller reads and changes them, inside their transaction: RLS decides
// what a write may touch, and the routes turn a write it refused into a 403 (refusedAs).
import type { TxSql } from '../../db/client.ts';
import type { Organisation } from './schemas.ts';

/** The caller's organisations (or the one given), with their role and which one is active. */
export async function listOrganisations(tx: TxSql, onlyId?: string): Promise<Organisation[]> {
  const rows = await tx<(Omit<Organisation, 'created_at'> & { created_at: Date })[]>`
    select o.id, o.name, o.plan_id, m.role,
      coalesce(o.id = s.active_organisation_id, false) as active, o.created_at
    from public.organisations o
    join public.organisation_members m on m.organisation_id = o.id and m.user_id = (select auth.uid())
    left join public.user_settings s on s.user_id = (select auth.uid())
    ${onlyId === undefined ? tx`` : tx`where o.id = ${onlyId}`}
    order by o.created_at, o.id`;
  return rows.map((r) => ({ ...r, created_at: r.created_at.toISOString() }));
}

/** The new organisation's id; create_organisation also makes the caller its owner. */
export async function createOrganisation(tx: TxSql, name: string): Promise<string> {
  const [row] = await tx<{ id: string }[]>`select id from public.create_organisation(${name})`;
  return row!.id;
}

/** Renames it. No rows: RLS refused. (A tenant may write no other column: the plan is billing's.) */
export async function renameOrganisation(tx: TxSql, id: string, name: string): Promise<{ id: string }[]> {
  return tx<{ id: string }[]>`update public.organisations set name = ${name} where id = ${id} returning id`;
}

/** Deletes it with its jobs, members and invites. No rows: RLS refused. */
export async function deleteOrganisation(tx: TxSql, id: string): Promise<{ id: string }[]> {
  return tx<{ id: string }[]>`delete from public.organisations where id = ${id} returning id`;
}

/** The user_settings policy's WITH CHECK is what requires membership. */
export async function setActiveOrganisation(tx: TxSql, id: string): Promise<void> {
  await tx`
    insert into public.user_settings (user_id, active_organisation_id)
    values ((select auth.uid()), ${id})
    on conflict (user_id) do update
      set active_organisation_id = excluded.active_organisation_id, updated_at = now()`;
}
