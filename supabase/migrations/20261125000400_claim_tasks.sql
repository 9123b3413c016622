-- claim_tasks: hand up to p_limit pending tasks to a worker in one round trip.
-- Only running jobs, highest priority first, and never more running tasks per job than its concurrency.
-- p_job_ids limits it to given jobs: `bbb crawl` runs workers that may reach private networks, and pointed at
-- a database a server shares they must claim only the CLI's own job, never a tenant's.
--
-- Concurrency is enforced by locking the job rows being claimed from (SKIP LOCKED, so claimers never wait
-- for each other): under that lock running_tasks is current, because the counter trigger updates it in the
-- same transaction. Only as many jobs as are needed to fill p_limit are locked, oldest-served first, so
-- several claimers spread over the running jobs instead of queueing on the same rows.

create function public.claim_tasks(
  p_worker_id text,
  p_limit integer,
  p_lease interval default interval '30 seconds',
  p_job_ids uuid[] default null
)
returns setof public.tasks
language sql volatile as $$
  -- MATERIALIZED and the LATERAL ... LIMIT 1 pin the plan: with stale job statistics the planner otherwise
  -- re-runs the candidate scan per job and reads the whole claimable index each time.
  with candidates as materialized (
    select c.id
    from (
      select j.id,
        sum(j.concurrency - j.running_tasks) over (order by j.last_claimed_at nulls first, j.id)
          - (j.concurrency - j.running_tasks) as slots_before
      from public.jobs j
      -- A job whose pending tasks all wait for a retry must not take a place another job could use.
      cross join lateral (
        select 1 from public.tasks t
        where t.job_id = j.id and t.status = 'pending' and t.run_after <= now()
        limit 1
      ) ready
      where j.status = 'running' and j.running_tasks < j.concurrency and j.pending_tasks > 0
        and (p_job_ids is null or j.id = any (p_job_ids))
    ) c
    where c.slots_before < p_limit
  ),
  locked_jobs as materialized (
    select j.id, j.concurrency - j.running_tasks as slots
    from public.jobs j
    where j.id in (select id from candidates)
      and j.status = 'running' and j.running_tasks < j.concurrency
    for no key update skip locked
  ),
  picked as (
    select t.id
    from locked_jobs lj
    cross join lateral (
      select t.id, t.priority
      from public.tasks t
      where t.job_id = lj.id and t.status = 'pending' and t.run_after <= now()
      order by t.priority desc, t.id
      limit least(lj.slots, p_limit)
      for update skip locked
    ) t
    order by t.priority desc, t.id
    limit p_limit
  )
  update public.tasks t set
    status = 'running',
    attempts = t.attempts + 1,
    locked_by = p_worker_id,
    locked_until = now() + p_lease,
    started_at = now(),
    updated_at = now()
  from picked
  where t.id = picked.id
  returning t.*;
$$;

revoke execute on function public.claim_tasks(text, integer, interval, uuid[]) from public, anon, authenticated;
grant execute on function public.claim_tasks(text, integer, interval, uuid[]) to service_role;
