// A job's share links as the signed-in caller reads and writes them, inside their transaction: the
// job_share_links policies admit members of the job's organisation only.
import type { TxSql } from '../../db/client.ts';
import type { ShareLinkJson } from './schemas.ts';

type ShareLinkRow = Omit<ShareLinkJson, 'created_at' | 'expires_at' | 'revoked_at'> & {
  created_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
};

export async function insertShareLink(
  tx: TxSql,
  link: { jobId: string; tokenHash: Buffer; createdBy: string; expiresInHours: number },
): Promise<{ id: string; expires_at: Date }> {
  const [row] = await tx<{ id: string; expires_at: Date }[]>`
    insert into job_share_links (job_id, token_hash, created_by, expires_at)
    values (${link.jobId}::uuid, ${link.tokenHash}, ${link.createdBy}::uuid,
      now() + make_interval(hours => ${link.expiresInHours}))
    returning id, expires_at`;
  return row!;
}

/** Newest first, without their tokens (only the hashes are stored). */
export async function listShareLinks(tx: TxSql, jobId: string): Promise<ShareLinkJson[]> {
  const rows = await tx<ShareLinkRow[]>`
    select id, created_by, created_at, expires_at, revoked_at,
      revoked_at is null and expires_at > now() as active
    from job_share_links where job_id = ${jobId}::uuid
    order by created_at desc, id desc`;
  return rows.map((l) => ({
    ...l,
    created_at: l.created_at.toISOString(),
    expires_at: l.expires_at.toISOString(),
    revoked_at: l.revoked_at?.toISOString() ?? null,
  }));
}

/** Whether the link exists on that job. Revoking twice is not an error: it stays revoked from the first time. */
export async function revokeShareLink(tx: TxSql, jobId: string, linkId: string): Promise<boolean> {
  const [row] = await tx`
    update job_share_links set revoked_at = coalesce(revoked_at, now())
    where id = ${linkId}::uuid and job_id = ${jobId}::uuid
    returning id`;
  return row !== undefined;
}
