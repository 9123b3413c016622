// Database access for a signed-in user: every query runs through asUser (role `authenticated` plus the
// verified claims), so Row Level Security decides. For the few system steps after a user-scoped check
// (queueing, cancelling), `becomeConnectionRole` (src/db/as-user.ts) drops back inside the same transaction.
import type { Context } from 'hono';
import { asUser } from '../db/as-user.ts';
import type { TxSql } from '../db/client.ts';
import type { AppDeps, AppEnv } from './context.ts';

export function userTx<T>(deps: AppDeps, c: Context<AppEnv>, fn: (tx: TxSql) => Promise<T>): Promise<T> {
  return asUser(deps.sql, { ...c.get('claims'), role: 'authenticated' }, fn);
}

/** The caller's active organisation (a personal one is created on first use). */
export async function activeOrganisation(tx: TxSql): Promise<string> {
  const [row] = await tx<{ id: string }[]>`select public.ensure_active_organisation() as id`;
  return row!.id;
}
