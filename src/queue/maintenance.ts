// Typed wrappers for the maintenance passes the elected leader runs (supabase/migrations, job lifecycle).
// Each pass is safe to run concurrently with workers and with itself; leadership only avoids wasted work.
import type { Queryable } from '../db/client.ts';

export { recoverExpiredLeases } from './tasks.ts';

/** Completes running jobs with nothing left whose counters never flipped them. Returns how many. */
export async function completeIdleJobs(sql: Queryable): Promise<number> {
  const [row] = await sql<{ n: number }[]>`select complete_idle_jobs() as n`;
  return row?.n ?? 0;
}

/** Fails running jobs that finished no task for `afterMs`, skipping their pending tasks. Returns how many. */
export async function failStalledJobs(sql: Queryable, afterMs: number): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    select fail_stalled_jobs(make_interval(secs => ${afterMs / 1000})) as n`;
  return row?.n ?? 0;
}

/** Makes retries whose wait is over claimable again (and wakes the workers). Returns how many. */
export async function promoteDueRetries(sql: Queryable, limit = 10_000): Promise<number> {
  const [row] = await sql<{ n: number }[]>`select promote_due_retries(${limit}) as n`;
  return row?.n ?? 0;
}

/** Skips up to `limit` pending or retrying tasks of jobs that have stopped. Returns how many. */
export async function skipStoppedJobsTasks(sql: Queryable, limit = 10_000): Promise<number> {
  const [row] = await sql<{ n: number }[]>`select skip_stopped_jobs_tasks(${limit}) as n`;
  return row?.n ?? 0;
}

/** Discovery leases that ran out: handed out again, or given up after the last attempt. */
export async function recoverExpiredDiscovery(
  sql: Queryable,
): Promise<{ recovered: number; abandoned: number }> {
  const [row] = await sql<
    { recovered: number; abandoned: number }[]
  >`select * from recover_expired_discovery()`;
  return row ?? { recovered: 0, abandoned: 0 };
}

/** Deletes up to `limit` task rows of jobs settled more than `olderThanMs` ago. Returns how many. */
export async function pruneTasks(sql: Queryable, olderThanMs: number, limit = 10_000): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    select prune_tasks(make_interval(secs => ${olderThanMs / 1000}), ${limit}) as n`;
  return row?.n ?? 0;
}
