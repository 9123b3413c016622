// Tenants for the SQL-level tests of Row Level Security and plan limits: users in auth.users, organisations
// and memberships written as the table owner, and a way to make two transactions really overlap.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { asUser, type JwtClaims } from '../../src/db/as-user.ts';
import type { Sql, TxSql } from '../../src/db/client.ts';
import { waitFor } from './wait.ts';

export type OrgRole = 'owner' | 'admin' | 'member';

export interface Tenant {
  id: string;
  email: string;
  /** The claims of this user's access token, as the API passes them to asUser. */
  claims: JwtClaims & { sub: string; email: string };
}

export async function createUser(
  sql: Sql,
  email = `${randomUUID().slice(0, 8)}@tenant.test`,
): Promise<Tenant> {
  const id = randomUUID();
  await sql`
    insert into auth.users (id, aud, role, email, email_confirmed_at, created_at, updated_at)
    values (${id}, 'authenticated', 'authenticated', ${email}, now(), now(), now())`;
  return { id, email, claims: { role: 'authenticated', sub: id, email } };
}

export async function createOrg(
  sql: Sql,
  name: string,
  members: Array<[Tenant, OrgRole]> = [],
  planId = 'free',
): Promise<string> {
  const [org] = await sql<{ id: string }[]>`
    insert into organisations (name, plan_id) values (${name}, ${planId}) returning id`;
  for (const [user, role] of members) await addMember(sql, org!.id, user, role);
  return org!.id;
}

export async function addMember(
  sql: Sql,
  organisationId: string,
  user: Tenant,
  role: OrgRole,
): Promise<void> {
  await sql`insert into organisation_members (organisation_id, user_id, role)
            values (${organisationId}, ${user.id}, ${role})`;
}

/** Asserts the promise rejects with this SQLSTATE (and message, if given); returns the error. */
export async function rejectsWithCode(
  promise: Promise<unknown>,
  code: string,
  message?: RegExp,
): Promise<Error & { code?: string }> {
  let error: (Error & { code?: string }) | undefined;
  try {
    await promise;
  } catch (err) {
    error = err as Error & { code?: string };
  }
  assert.ok(error, `expected SQLSTATE ${code}, but the statement succeeded`);
  assert.equal(error.code, code, `expected SQLSTATE ${code}, got ${error.code}: ${error.message}`);
  if (message) assert.match(error.message, message);
  return error;
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: Error & { code?: string } };

function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ ok: true, value }),
    (error) => ({ ok: false, error }),
  );
}

/**
 * Runs `first` as its user in a transaction and, while that transaction is still open, starts `second` as its
 * user on another pool; `first` commits only once `second` is waiting on a lock (or has already finished,
 * which is what happens when nothing serialises them). So the two really overlap, with no sleeps.
 */
export async function overlapping<A, B>(
  sql: Sql,
  otherSql: Sql,
  first: { claims: JwtClaims; run: (tx: TxSql) => Promise<A> },
  second: { claims: JwtClaims; run: (tx: TxSql) => Promise<B> },
): Promise<{ first: Settled<A>; second: Settled<B>; secondWaited: boolean }> {
  let secondResult: Promise<Settled<B>> | undefined;
  let secondWaited = false;
  const firstResult = await settle(
    asUser(sql, first.claims, async (tx) => {
      const value = await first.run(tx);
      let onPid: (pid: number) => void = () => {};
      const pid = new Promise<number>((resolve) => {
        onPid = resolve;
      });
      secondResult = settle(
        asUser(otherSql, second.claims, async (tx2) => {
          const [row] = await tx2<{ pid: number }[]>`select pg_backend_pid() as pid`;
          onPid(row!.pid);
          return second.run(tx2);
        }),
      );
      const started = await Promise.race([pid, secondResult.then(() => undefined)]);
      if (started !== undefined) secondWaited = await waitUntilLockWait(sql, started, secondResult);
      return value;
    }),
  );
  return { first: firstResult, second: await secondResult!, secondWaited };
}

/** Polls pg_stat_activity until the backend waits on a lock (true) or `done` settles first (false). */
async function waitUntilLockWait(sql: Sql, pid: number, done: Promise<unknown>): Promise<boolean> {
  let finished = false;
  void done.then(() => {
    finished = true;
  });
  const seen = await waitFor(`backend ${pid} to wait on a lock or finish`, async () => {
    if (finished) return 'finished';
    const [row] = await sql<{ waiting: boolean }[]>`
      select wait_event_type = 'Lock' as waiting from pg_stat_activity where pid = ${pid}`;
    return row?.waiting ? 'waiting' : undefined;
  });
  return seen === 'waiting';
}
