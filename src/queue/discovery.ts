// Sitemap discovery as a claimable job step (claim_discovery / finish_discovery in SQL): any worker process may
// run it, under a lease, so creating a job never waits on a sitemap and a crashed worker's discovery is re-run.
import type { Queryable } from '../db/client.ts';
import type { JobRow } from './jobs.ts';
import { LEASE_SECONDS_DEFAULT } from './tasks.ts';

/**
 * Jobs whose discovery this worker now holds. Each claim counts an attempt (discovery_attempts, the fencing
 * token with the worker id); maintenance hands an expired one out again, and gives it up after the last.
 */
export async function claimDiscovery(
  sql: Queryable,
  workerId: string,
  limit: number,
  leaseSeconds = LEASE_SECONDS_DEFAULT,
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
  sql: Queryable,
  job: Pick<JobRow, 'id' | 'discovery_attempts'>,
  workerId: string,
): Promise<JobRow | undefined> {
  const [row] = await sql<(JobRow | { id: null })[]>`
    select * from finish_discovery(${job.id}::uuid, ${workerId}, ${job.discovery_attempts})`;
  // A plpgsql function returning a composite yields one all-null row when nothing matched.
  return row && row.id !== null ? (row as JobRow) : undefined;
}

/** Renews a discovery lease. False when it is no longer this worker's attempt (it expired and was re-claimed). */
export async function extendDiscoveryLease(
  sql: Queryable,
  job: Pick<JobRow, 'id' | 'discovery_attempts'>,
  workerId: string,
  leaseSeconds = LEASE_SECONDS_DEFAULT,
): Promise<boolean> {
  const [row] = await sql<{ ok: boolean }[]>`
    select extend_discovery_lease(${job.id}::uuid, ${workerId}, ${job.discovery_attempts},
      make_interval(secs => ${leaseSeconds})) as ok`;
  return row?.ok === true;
}
