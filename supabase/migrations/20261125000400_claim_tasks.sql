-- claim_tasks: hand up to p_limit ready tasks to a worker in one round trip.
-- Only running jobs, the job served longest ago first, highest priority first within a job, never more running
-- tasks per job than its concurrency, and within each organisation's daily page quota.
-- p_job_ids limits it to given jobs: `bbb crawl` runs workers that may reach private networks, and pointed at
-- a database a server shares they must claim only the CLI's own job, never a tenant's.
--
-- Jobs are visited one at a time, each locked FOR NO KEY UPDATE SKIP LOCKED: under that lock its counters are
-- current (the counter trigger updates them in the locking transaction), so its free slots are
-- least(concurrency - running, pending). A job another claimer holds is skipped and the next one takes its
-- place, until the batch is full. Claims never wait on a lock, so they cannot take part in a deadlock; tasks
-- waiting to retry are 'retrying', outside the claimable index, so no claim reads past them.
--
-- The daily page quota: a task's first claim (started_at still null) is counted into organisation_page_usage,
-- one upsert per organisation in organisation order (the lock order). Two claimers racing for one
-- organisation can each take its last pages, so the quota may be exceeded by at most one batch per concurrent
-- claimer; serialising claims per organisation would cost more.

create function public.utc_today() returns date
language sql stable as $$ select (now() at time zone 'UTC')::date $$;

-- Pages the organisation may still start on a UTC day (today unless given). Reads one counter row, never
-- the tasks. The one definition of "quota used up": claim_tasks and fail_stalled_jobs both ask it.
create function public.org_pages_remaining(p_org uuid, p_day date default public.utc_today()) returns integer
language sql stable security definer set search_path = '' as $$
  select greatest(p.daily_page_quota - coalesce(u.pages, 0), 0)
  from public.organisations o
  join public.plans p on p.id = o.plan_id
  left join public.organisation_page_usage u on u.organisation_id = o.id and u.day = p_day
  where o.id = p_org;
$$;

create function public.claim_tasks(
  p_worker_id text,
  p_limit integer,
  p_lease interval default interval '30 seconds',
  p_job_ids uuid[] default null
)
returns setof public.tasks
language plpgsql volatile as $$
declare
  v_job record;
  v_left integer := p_limit;
  v_slots integer;
  v_remaining integer;
  -- organisation id -> pages it may still start today (read once per claim), and first claims made now.
  v_quota jsonb := '{}';
  v_counted jsonb := '{}';
  v_claimed public.tasks[];
  v_first integer;
begin
  if p_limit is null or p_limit <= 0 then
    return;
  end if;
  for v_job in
    select j.id, j.organisation_id from public.jobs j
    where j.status = 'running' and j.pending_tasks > 0 and j.running_tasks < j.concurrency
      and (p_job_ids is null or j.id = any (p_job_ids))
    order by j.last_claimed_at nulls first, j.id
  loop
    v_remaining := (v_quota ->> v_job.organisation_id::text)::integer;
    if v_remaining is null then
      v_remaining := coalesce(public.org_pages_remaining(v_job.organisation_id), 0);
      v_quota := v_quota || jsonb_build_object(v_job.organisation_id::text, v_remaining);
    end if;
    continue when v_remaining <= 0;

    select least(j.concurrency - j.running_tasks, j.pending_tasks, v_left, v_remaining) into v_slots
    from public.jobs j
    where j.id = v_job.id and j.status = 'running'
    for no key update skip locked;
    continue when v_slots is null or v_slots <= 0;

    with picked as (
      select t.id, t.started_at is null as first_claim
      from public.tasks t
      where t.job_id = v_job.id and t.status = 'pending'
      order by t.priority desc, t.id
      limit v_slots
      for update skip locked
    ),
    claimed as (
      update public.tasks t set
        status = 'running',
        attempts = t.attempts + 1,
        locked_by = p_worker_id,
        locked_until = now() + p_lease,
        started_at = now(),
        updated_at = now()
      from picked
      where t.id = picked.id
      returning t, picked.first_claim
    )
    select coalesce(array_agg(c.t order by (c.t).priority desc, (c.t).id), '{}'),
      count(*) filter (where c.first_claim)
    into v_claimed, v_first
    from claimed c;

    return query select * from unnest(v_claimed);
    v_left := v_left - cardinality(v_claimed);
    v_quota := v_quota || jsonb_build_object(v_job.organisation_id::text, v_remaining - cardinality(v_claimed));
    if v_first > 0 then
      v_counted := v_counted || jsonb_build_object(v_job.organisation_id::text,
        coalesce((v_counted ->> v_job.organisation_id::text)::integer, 0) + v_first);
    end if;
    exit when v_left <= 0;
  end loop;

  insert into public.organisation_page_usage as u (organisation_id, day, pages)
  select c.key::uuid, public.utc_today(), c.value::integer
  from jsonb_each_text(v_counted) c
  order by c.key::uuid
  on conflict (organisation_id, day) do update set pages = u.pages + excluded.pages;
end
$$;

revoke execute on function public.claim_tasks(text, integer, interval, uuid[]) from public, anon, authenticated;
grant execute on function public.claim_tasks(text, integer, interval, uuid[]) to service_role;
-- It reads any organisation's usage with no membership check, so it is the queue's only.
revoke execute on function public.org_pages_remaining(uuid, date) from public, anon, authenticated;
grant execute on function public.org_pages_remaining(uuid, date) to service_role;
