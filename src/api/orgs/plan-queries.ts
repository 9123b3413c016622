// Plans and an organisation's use of its plan, read inside the caller's transaction (the plans_read policy
// decides which plans a caller sees). Usage reads the counters the limits are enforced with — the day's
// organisation_page_usage row and the indexed count of recent jobs — never the tasks.
import type { TxSql } from '../../db/client.ts';

export interface Plan {
  id: string;
  name: string;
  /** Pages crawled per UTC day. */
  daily_page_quota: number;
  jobs_per_30_days: number;
  max_pages_per_job: number;
}

export interface PlanUsage extends Plan {
  jobs_used: number;
  pages_used: number;
  /** The next UTC midnight, when pages_used starts again from 0. */
  resets_at: Date;
}

/** Smallest first. */
export function listPlans(tx: TxSql): Promise<Plan[]> {
  return tx<Plan[]>`
    select id, name, daily_page_quota, jobs_per_30_days, max_pages_per_job from public.plans
    order by daily_page_quota, id`;
}

/** The organisation's plan with its jobs in the last 30 days and its pages today. */
export async function planUsage(tx: TxSql, orgId: string): Promise<PlanUsage> {
  const [row] = await tx<PlanUsage[]>`
    select p.id, p.name, p.daily_page_quota, p.jobs_per_30_days, p.max_pages_per_job,
      (select count(*) from public.jobs j
       where j.organisation_id = o.id and j.created_at > now() - interval '30 days') as jobs_used,
      coalesce((select u.pages from public.organisation_page_usage u
                where u.organisation_id = o.id and u.day = public.utc_today()), 0) as pages_used,
      (public.utc_today() + 1)::timestamp at time zone 'UTC' as resets_at
    from public.organisations o join public.plans p on p.id = o.plan_id
    where o.id = ${orgId}`;
  return row!;
}

/** The organisation's plan's pages per job; undefined when the caller cannot see the organisation. */
export async function maxPagesPerJob(tx: TxSql, orgId: string): Promise<number | undefined> {
  const [plan] = await tx<{ max: number }[]>`
    select p.max_pages_per_job as max from organisations o join plans p on p.id = o.plan_id
    where o.id = ${orgId}`;
  return plan?.max;
}
