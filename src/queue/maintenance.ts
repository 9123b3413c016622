// Typed wrappers for the maintenance passes the elected leader runs (supabase/migrations, job lifecycle).
// Each pass is safe to run concurrently with workers and with itself; leadership only avoids wasted work.
import type { Sql } from '../db/client.ts';

export { recoverExpiredLeases } from './tasks.ts';

/** Completes running jobs with nothing left whose counters never flipped them. Returns how many. */
export async function completeIdleJobs(sql: Sql): Promise<number> {
  const [row] = await sql<{ n: number }[]>`select complete_idle_jobs() as n`;
  return row?.n ?? 0;
}

/** Fails running jobs that finished no task for `afterMs`, skipping their pending tasks. Returns how many. */
export async function failStalledJobs(sql: Sql, afterMs: number): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    select fail_stalled_jobs(make_interval(secs => ${afterMs / 1000})) as n`;
  return row?.n ?? 0;
}

/** Deletes up to `limit` task rows of jobs finished more than `olderThanMs` ago. Returns how many. */
export async function pruneTasks(sql: Sql, olderThanMs: number, limit = 10_000): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    select prune_tasks(make_interval(secs => ${olderThanMs / 1000}), ${limit}) as n`;
  return row?.n ?? 0;
}
