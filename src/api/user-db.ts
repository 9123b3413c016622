// Database access for a signed-in user: every query runs through asUser (role `authenticated` plus the
// verified claims), so Row Level Security decides. `becomeService` is for the few steps after a user-scoped
// check that only the system may do (queueing tasks, cancelling): it drops back to the connection's own role
// inside the same transaction, so the check and the change commit together.
import type { Context } from 'hono';
import { asUser, becomeConnectionRole } from '../db/as-user.ts';
import type { TxSql } from '../db/client.ts';
import type { AppDeps, AppEnv } from './context.ts';

export function userTx<T>(deps: AppDeps, c: Context<AppEnv>, fn: (tx: TxSql) => Promise<T>): Promise<T> {
  return asUser(deps.sql, { ...c.get('claims'), role: 'authenticated' }, fn);
}

/** Leaves the user's role for the rest of this transaction. Call only after the user-scoped checks. */
export const becomeService = becomeConnectionRole;

/** The caller's active organisation (a personal one is created on first use). */
export async function activeOrganisation(tx: TxSql): Promise<string> {
  const [row] = await tx<{ id: string }[]>`select public.ensure_active_organisation() as id`;
  return row!.id;
}
