// auth.users rows as GoTrue reads and writes them, and the user object GoTrue returns (the `user` of a
// session, and GET /user). The columns are Supabase's, so rows made here and by Supabase Auth look the same.
import type { Sql, TxSql } from '../../db/client.ts';

type Db = Sql | TxSql;

export interface UserRow {
  id: string;
  aud: string | null;
  role: string | null;
  email: string | null;
  encrypted_password: string | null;
  email_confirmed_at: Date | null;
  phone: string | null;
  confirmed_at: Date | null;
  last_sign_in_at: Date | null;
  raw_app_meta_data: Record<string, unknown> | null;
  raw_user_meta_data: Record<string, unknown> | null;
  created_at: Date | null;
  updated_at: Date | null;
  banned_until: Date | null;
  is_anonymous: boolean;
}

/** What GoTrue sends for a user (never the password hash). */
export interface UserJson {
  id: string;
  aud: string;
  role: string;
  email: string;
  email_confirmed_at?: string;
  phone: string;
  confirmed_at?: string;
  last_sign_in_at?: string;
  app_metadata: Record<string, unknown>;
  user_metadata: Record<string, unknown>;
  identities: unknown[];
  created_at: string;
  updated_at: string;
  is_anonymous: boolean;
}

const iso = (d: Date | null) => d?.toISOString();

export function userJson(u: UserRow): UserJson {
  const json: UserJson = {
    id: u.id,
    aud: u.aud ?? 'authenticated',
    role: u.role ?? 'authenticated',
    email: u.email ?? '',
    phone: u.phone ?? '',
    app_metadata: u.raw_app_meta_data ?? {},
    user_metadata: u.raw_user_meta_data ?? {},
    identities: [],
    created_at: iso(u.created_at) ?? '',
    updated_at: iso(u.updated_at) ?? '',
    is_anonymous: u.is_anonymous,
  };
  // GoTrue omits unset timestamps rather than sending null.
  if (u.email_confirmed_at) json.email_confirmed_at = iso(u.email_confirmed_at)!;
  if (u.confirmed_at) json.confirmed_at = iso(u.confirmed_at)!;
  if (u.last_sign_in_at) json.last_sign_in_at = iso(u.last_sign_in_at)!;
  return json;
}

const COLUMNS = [
  'id',
  'aud',
  'role',
  'email',
  'encrypted_password',
  'email_confirmed_at',
  'phone',
  'confirmed_at',
  'last_sign_in_at',
  'raw_app_meta_data',
  'raw_user_meta_data',
  'created_at',
  'updated_at',
  'banned_until',
  'is_anonymous',
];

/** Emails are stored lowercased by signup; lower() also finds rows another tool stored in mixed case. */
export async function findUserByEmail(db: Db, email: string): Promise<UserRow | undefined> {
  const [row] = await db<UserRow[]>`
    select ${db(COLUMNS)} from auth.users
    where lower(email) = ${email} and deleted_at is null
    order by created_at limit 1`;
  return row;
}

export async function findUserById(db: Db, id: string): Promise<UserRow | undefined> {
  const [row] = await db<UserRow[]>`
    select ${db(COLUMNS)} from auth.users where id = ${id} and deleted_at is null`;
  return row;
}

export function isBanned(u: UserRow, at: Date): boolean {
  return u.banned_until !== null && u.banned_until > at;
}

/**
 * A confirmed email user (standalone bbb has no mailer, so signups are confirmed at once, as GoTrue does with
 * autoconfirm). Undefined when the email is taken.
 */
export async function insertUser(
  tx: TxSql,
  user: { email: string; passwordHash: string; metadata: Record<string, unknown>; at: Date },
): Promise<UserRow | undefined> {
  const [taken] = await tx`select 1 from auth.users where lower(email) = ${user.email}`;
  if (taken) return undefined;
  const appMetadata = { provider: 'email', providers: ['email'] };
  const [row] = await tx<UserRow[]>`
    insert into auth.users (
      instance_id, id, aud, role, email, encrypted_password, email_confirmed_at, last_sign_in_at,
      raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
    values (
      '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
      ${user.email}, ${user.passwordHash}, ${user.at}, ${user.at},
      ${tx.json(appMetadata)}, ${tx.json(user.metadata as Parameters<typeof tx.json>[0])}, ${user.at}, ${user.at})
    on conflict (email) do nothing
    returning ${tx(COLUMNS)}`;
  return row;
}

export async function recordSignIn(tx: TxSql, user: UserRow, at: Date): Promise<UserRow> {
  await tx`update auth.users set last_sign_in_at = ${at} where id = ${user.id}`;
  return { ...user, last_sign_in_at: at };
}
