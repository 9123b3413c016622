// Sessions and their refresh tokens (auth.sessions, auth.refresh_tokens). Each refresh swaps the token for a
// new one; the old one is revoked. Presenting a revoked token again means it was copied or stolen, so the
// whole session is revoked. Only a SHA-256 of each token is stored (`token`, and `parent` for the one it
// replaced): a database read never yields a usable refresh token.
//
// Every change to a session's tokens first locks the session row (FOR UPDATE), then the token row: two
// refreshes with the same token run one after the other, the second sees the first's revocation, and the
// fixed lock order means concurrent refreshes and logouts cannot deadlock.
//
// A session also has an absolute lifetime (BBB_SESSION_MAX_AGE) counted from its created_at: past it, refresh
// refuses and /v1 stops accepting its access tokens. Only id, user_id, created_at and not_after are read,
// columns both our bootstrap's auth.sessions and GoTrue's own have, so this works on Supabase unchanged.
import { createHash, randomBytes } from 'node:crypto';
import type { Sql, TxSql } from '../../db/client.ts';
import { isUuid } from '../../db/uuid.ts';
import { GotrueError, validationFailed } from './errors.ts';

type Db = Sql | TxSql;

export interface SessionRow {
  id: string;
  user_id: string;
  created_at: Date | null;
  not_after: Date | null;
}

export type LogoutScope = 'global' | 'local' | 'others';

// GoTrue's zero instance id, as on every row it writes.
const INSTANCE_ID = '00000000-0000-0000-0000-000000000000';
const MIN_TOKEN_LENGTH = 12;
const MAX_TOKEN_LENGTH = 255;

/** Session ids are UUIDs; a claim that is not one never reaches the database. */
export const isSessionId = (id: string) => isUuid(id);

export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

// 24 random bytes: 32 URL-safe characters, longer than GoTrue's 12-character legacy tokens.
const newToken = () => randomBytes(24).toString('base64url');

async function issueRefreshToken(
  tx: TxSql,
  session: SessionRow,
  parent: string | null,
  at: Date,
): Promise<string> {
  const token = newToken();
  await tx`
    insert into auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, updated_at, parent, session_id)
    values (${INSTANCE_ID}, ${hashToken(token)}, ${session.user_id}, false, ${at}, ${at}, ${parent}, ${session.id})`;
  return token;
}

export async function startSession(
  tx: TxSql,
  userId: string,
  at: Date,
  userAgent: string | undefined,
): Promise<{ session: SessionRow; refreshToken: string }> {
  const [session] = await tx<SessionRow[]>`
    insert into auth.sessions (id, user_id, created_at, updated_at, user_agent)
    values (gen_random_uuid(), ${userId}, ${at}, ${at}, ${userAgent?.slice(0, 512) ?? null})
    returning id, user_id, created_at, not_after`;
  return { session: session!, refreshToken: await issueRefreshToken(tx, session!, null, at) };
}

/** BBB_SESSION_MAX_AGE's default: 30 days from sign-in, however often the session is refreshed. */
export const DEFAULT_SESSION_MAX_AGE_SECONDS = 30 * 24 * 3600;

/**
 * Whether a session may still be used at `at`: not revoked (not_after) and younger than the maximum age. A
 * row without created_at (GoTrue always writes one) cannot show its age, so it counts as ended.
 */
export function isLive(
  s: Pick<SessionRow, 'created_at' | 'not_after'>,
  at: Date,
  maxAgeSeconds: number,
): boolean {
  if (s.not_after !== null && s.not_after <= at) return false;
  return s.created_at !== null && s.created_at.getTime() + maxAgeSeconds * 1000 > at.getTime();
}

/** The session an access token names, if it has not been logged out, revoked or outlived its maximum age. */
export async function findLiveSession(
  db: Db,
  id: string,
  at: Date,
  maxAgeSeconds: number,
): Promise<SessionRow | undefined> {
  const [row] = await db<SessionRow[]>`
    select id, user_id, created_at, not_after from auth.sessions where id = ${id}`;
  return row && isLive(row, at, maxAgeSeconds) ? row : undefined;
}

const notFound = () =>
  new GotrueError(400, 'refresh_token_not_found', 'Invalid Refresh Token: Refresh Token Not Found');

/**
 * Swaps a refresh token for a new one in the same session. A reused (already swapped) token revokes every
 * token of its session and ends the session; that revocation is committed before the error is thrown.
 */
export async function rotateRefreshToken(
  sql: Sql,
  token: string,
  at: Date,
  maxAgeSeconds: number,
): Promise<{ session: SessionRow; refreshToken: string }> {
  if (token.length < MIN_TOKEN_LENGTH || token.length > MAX_TOKEN_LENGTH) {
    throw validationFailed('Refresh token is not valid');
  }
  const hash = hashToken(token);
  const outcome = await sql.begin(async (tx) => {
    const [found] = await tx<{ session_id: string | null }[]>`
      select session_id from auth.refresh_tokens where token = ${hash}`;
    if (!found?.session_id) return notFound();
    const [session] = await tx<SessionRow[]>`
      select id, user_id, created_at, not_after from auth.sessions where id = ${found.session_id} for update`;
    // A logout deletes the session, and its tokens with it.
    if (!session) return notFound();
    const [current] = await tx<{ id: string; revoked: boolean | null }[]>`
      select id, revoked from auth.refresh_tokens where token = ${hash} for update`;
    if (!current) return notFound();
    if (current.revoked) {
      await tx`update auth.refresh_tokens set revoked = true, updated_at = ${at}
               where session_id = ${session.id} and revoked is not true`;
      await tx`update auth.sessions set not_after = ${at}, updated_at = ${at}
               where id = ${session.id} and (not_after is null or not_after > ${at})`;
      return new GotrueError(400, 'refresh_token_already_used', 'Invalid Refresh Token: Already Used');
    }
    if (!isLive(session, at, maxAgeSeconds)) {
      return new GotrueError(400, 'session_expired', 'Invalid Refresh Token: Session Expired');
    }
    await tx`update auth.refresh_tokens set revoked = true, updated_at = ${at} where id = ${current.id}`;
    await tx`update auth.sessions set updated_at = ${at}, refreshed_at = ${at} where id = ${session.id}`;
    return { session, refreshToken: await issueRefreshToken(tx, session, hash, at) };
  });
  if (outcome instanceof GotrueError) throw outcome;
  return outcome;
}

/**
 * Ends sessions the way GoTrue's /logout does: deleting them (their refresh tokens go with them). Returns the
 * ids it ended, so caches of session state can drop them.
 */
export async function endSessions(
  sql: Sql,
  userId: string,
  sessionId: string | undefined,
  scope: LogoutScope,
): Promise<string[]> {
  let rows: { id: string }[];
  if (sessionId && scope === 'local') {
    rows = await sql`delete from auth.sessions where id = ${sessionId} and user_id = ${userId} returning id`;
  } else if (sessionId && scope === 'others') {
    rows = await sql`delete from auth.sessions where user_id = ${userId} and id <> ${sessionId} returning id`;
  } else {
    rows = await sql`delete from auth.sessions where user_id = ${userId} returning id`;
  }
  return rows.map((r) => r.id);
}
