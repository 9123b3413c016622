// Runs queries for a user the way PostgREST does: inside one transaction, with the JWT's role and claims set
// transaction-locally, so Row Level Security decides what the user may see. A WHERE clause is never the
// protection.
import type { Sql, TxSql } from './client.ts';

export type ApiRole = 'anon' | 'authenticated' | 'service_role';

export interface JwtClaims {
  sub?: string;
  role: ApiRole;
  [claim: string]: unknown;
}

const ROLES: ReadonlySet<string> = new Set(['anon', 'authenticated', 'service_role']);

export async function asUser<T>(sql: Sql, claims: JwtClaims, fn: (tx: TxSql) => Promise<T>): Promise<T> {
  const result = await sql.begin(async (tx) => {
    await becomeUser(tx, claims);
    return fn(tx);
  });
  return result as T;
}

/** For the rest of this transaction, act as the claims' role with the claims set. */
export async function becomeUser(tx: TxSql, claims: JwtClaims): Promise<void> {
  if (!ROLES.has(claims.role)) {
    throw new Error(
      `asUser: role must be anon, authenticated or service_role, not ${JSON.stringify(claims.role)}`,
    );
  }
  await tx`select set_config('role', ${claims.role}, true),
                  set_config('request.jwt.claims', ${JSON.stringify(claims)}, true)`;
}

/**
 * For the rest of this transaction, act as the connection's own role again (`none` is SET LOCAL ROLE NONE).
 * Only for system steps after user-scoped checks in the same transaction, so the check and the change commit
 * together: queueing a new job's root URL, cancelling a job the user could see.
 */
export async function becomeConnectionRole(tx: TxSql): Promise<void> {
  await tx`select set_config('role', 'none', true), set_config('request.jwt.claims', '', true)`;
}
