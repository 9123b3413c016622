// Sitemap discovery as a claimable job step (claim_discovery / finish_discovery in SQL): any worker process may
// run it, under a lease, so creating a job never waits on a sitemap and a crashed worker's discovery is re-run.
import type { Sql } from '../db/client.ts';
import type { JobRow } from './jobs.ts';

/** Jobs whose discovery this worker now holds, oldest first. An expired lease is claimable again. */
export async function claimDiscovery(
  sql: Sql,
  workerId: string,
  limit: number,
  leaseSeconds = 300,
  jobIds?: string[],
): Promise<JobRow[]> {
  return sql<JobRow[]>`
    select * from claim_discovery(${workerId}, ${limit}, make_interval(secs => ${leaseSeconds}),
      ${jobIds ?? null}::uuid[])`;
}

/**
 * Marks discovery done (completing the job if nothing else is left). Undefined when the lease was no longer
 * this worker's: another worker re-claimed it after expiry and will finish it.
 */
export async function finishDiscovery(
  sql: Sql,
  jobId: string,
  workerId: string,
): Promise<JobRow | undefined> {
  const [row] = await sql<
    (JobRow | { id: null })[]
  >`select * from finish_discovery(${jobId}::uuid, ${workerId})`;
  // A plpgsql function returning a composite yields one all-null row when nothing matched.
  return row && row.id !== null ? (row as JobRow) : undefined;
}
