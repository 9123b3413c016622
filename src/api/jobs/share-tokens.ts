// Share-link tokens: 32 random bytes, base64url, shown once. The database keeps only their SHA-256, and a
// shared view runs as role `anon` with the token in `request.headers` exactly as PostgREST passes it, so the
// jobs_read_shared/tasks_read policies and public.shared_job_id() decide what the token opens.
import { createHash, randomBytes } from 'node:crypto';
import { asUser } from '../../db/as-user.ts';
import type { TxSql } from '../../db/client.ts';
import type { AppDeps } from '../context.ts';
import { notFound } from '../errors.ts';
import { findSharedJob, type JobViewRow } from './job-view.ts';

const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export function newShareToken(): { token: string; hash: Buffer } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashShareToken(token) };
}

/** The same bytes as SQL's sha256(convert_to(token, 'UTF8')). */
export function hashShareToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/**
 * Runs `fn` as an anonymous visitor holding `token`, with the job it opens. An unknown, expired or revoked
 * token is the same 404 as a malformed one, which never reaches the database.
 */
export async function sharedTx<T>(
  deps: AppDeps,
  token: string,
  fn: (tx: TxSql, job: JobViewRow) => Promise<T>,
): Promise<T> {
  if (!TOKEN_SHAPE.test(token)) throw notFound('shared job');
  return asUser(deps.sql, { role: 'anon' }, async (tx) => {
    await tx`select set_config('request.headers', ${JSON.stringify({ 'x-share-token': token })}, true)`;
    const job = await findSharedJob(tx);
    if (!job) throw notFound('shared job');
    return fn(tx, job);
  });
}
