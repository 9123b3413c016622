-- Plan limits, enforced in the database so no client path can skip them:
--   * jobs per 30 days and pages per job: the jobs INSERT policy (WITH CHECK) calls check_job_limits();
--   * pages per UTC day: claim_tasks stops handing out an organisation's tasks once its quota is used, and
--     starts again the next UTC day. The job stays running meanwhile; it is paused, not failed.

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

-- The INSERT policy's limit check. Raises a specific SQLSTATE so the API can say which limit was hit:
--   BBB01 jobs per 30 days, BBB02 pages per job. Returns false (a plain RLS refusal) for non-members.
create function public.check_job_limits(p_org uuid, p_max_pages integer) returns boolean
language plpgsql volatile security definer set search_path = '' as $$
declare
  v_plan public.plans;
  v_recent integer;
begin
  if not exists (select 1 from public.organisation_members
                 where organisation_id = p_org and user_id = (select auth.uid())) then
    return false;
  end if;
  select p.* into v_plan from public.organisations o join public.plans p on p.id = o.plan_id where o.id = p_org;
  if p_max_pages > v_plan.max_pages_per_job then
    raise exception 'the % plan allows at most % pages per job', v_plan.name, v_plan.max_pages_per_job
      using errcode = 'BBB02', hint = 'Lower max_pages or upgrade the plan.';
  end if;
  -- Two creates at once must not both take the last slot: serialise them per organisation. The count below
  -- runs after the wait with a fresh snapshot (this function is volatile), so it sees the other's job.
  perform pg_advisory_xact_lock(hashtextextended('bbb.job_limit:' || p_org::text, 0));
  -- An index range scan on (organisation_id, created_at), stopping at the limit.
  select count(*) into v_recent from (
    select 1 from public.jobs
    where organisation_id = p_org and created_at > now() - interval '30 days'
    limit v_plan.jobs_per_30_days
  ) recent;
  if v_recent >= v_plan.jobs_per_30_days then
    raise exception 'the % plan allows % jobs in 30 days, and they are used', v_plan.name,
      v_plan.jobs_per_30_days
      using errcode = 'BBB01', hint = 'Wait for older jobs to age out or upgrade the plan.';
  end if;
  return true;
end
$$;

-- Job creation needs the domain row, which tenants cannot write directly.
-- An existing domain is only read, so creating jobs for the same site never queues on its row; a new one
-- is inserted, and when another transaction inserted it first, read again (a fresh snapshot per statement).
create function public.ensure_domain(p_host text) returns bigint
language plpgsql volatile security definer set search_path = '' as $$
declare
  v_id bigint;
begin
  select id into v_id from public.domains where host = lower(p_host);
  if v_id is null then
    insert into public.domains (host) values (lower(p_host)) on conflict (host) do nothing returning id into v_id;
  end if;
  if v_id is null then
    select id into v_id from public.domains where host = lower(p_host);
  end if;
  return v_id;
end
$$;

-- Domains and their pages become visible through a job, so a job row must name the domain of its own URL:
-- otherwise a direct insert could pick any domain id and read what other tenants crawled there.
create function public.job_domain_matches(p_domain_id bigint, p_root_url text) returns boolean
language sql stable security definer set search_path = '' as $$
  select exists (
    select 1 from public.domains d
    where d.id = p_domain_id
      and d.host = lower(substring(p_root_url from '^[Hh][Tt][Tt][Pp][Ss]?://(?:[^/?#@]*@)?(\[[^]]*\]|[^/:?#]*)'))
  );
$$;

create policy jobs_insert on public.jobs for insert to authenticated
  with check (
    created_by = (select auth.uid())
    and source = 'manual'
    and public.job_domain_matches(domain_id, root_url)
    and public.check_job_limits(organisation_id, max_pages));

revoke execute on function public.check_job_limits(uuid, integer) from public, anon;
revoke execute on function public.ensure_domain(text) from public, anon;
revoke execute on function public.job_domain_matches(bigint, text) from public, anon;
grant execute on function public.job_domain_matches(bigint, text) to authenticated, service_role;
grant execute on function public.check_job_limits(uuid, integer) to authenticated, service_role;
grant execute on function public.ensure_domain(text) to authenticated, service_role;
-- It reads any organisation's usage with no membership check, so it is the queue's only.
revoke execute on function public.org_pages_remaining(uuid, date) from public, anon, authenticated;
grant execute on function public.org_pages_remaining(uuid, date) to service_role;

-- claim_tasks, now within each organisation's daily page quota. As before, plus:
--   * a job whose organisation has no pages left today is not a candidate (its tasks wait, pending);
--   * a job's slots are capped by its organisation's remaining pages, and tasks beyond the remaining pages
--     of an organisation are cut (row_number per organisation), so one claim never overshoots;
--   * a task's first claim is counted into organisation_page_usage in the same statement. started_at was
--     null until then and is never cleared, so retries, released tasks and recovered leases count once.
-- Two claimers racing for the same organisation can each take its last pages, so the quota may be exceeded
-- by at most one batch per concurrent claimer; serialising claims per organisation would cost more.
create or replace function public.claim_tasks(
  p_worker_id text,
  p_limit integer,
  p_lease interval default interval '30 seconds',
  p_job_ids uuid[] default null
)
returns setof public.tasks
language sql volatile as $$
  -- What each organisation with claimable jobs may still start today, computed once per organisation and
  -- claim (per job, the lookups doubled the claim's cost in bench:queue).
  with quota as materialized (
    select r.organisation_id, public.org_pages_remaining(r.organisation_id) as remaining
    from (
      select distinct j.organisation_id from public.jobs j
      where j.status = 'running' and j.pending_tasks > 0 and (p_job_ids is null or j.id = any (p_job_ids))
    ) r
  ),
  candidates as materialized (
    select c.id
    from (
      select j.id,
        sum(least(j.concurrency - j.running_tasks, q.remaining))
          over (order by j.last_claimed_at nulls first, j.id)
          - least(j.concurrency - j.running_tasks, q.remaining) as slots_before
      from public.jobs j
      join quota q on q.organisation_id = j.organisation_id
      cross join lateral (
        select 1 from public.tasks t
        where t.job_id = j.id and t.status = 'pending' and t.run_after <= now()
        limit 1
      ) ready
      where j.status = 'running' and j.running_tasks < j.concurrency and j.pending_tasks > 0
        and (p_job_ids is null or j.id = any (p_job_ids))
        and q.remaining > 0
    ) c
    where c.slots_before < p_limit
  ),
  locked_jobs as materialized (
    select j.id, j.organisation_id, j.concurrency - j.running_tasks as slots, q.remaining
    from public.jobs j
    join quota q on q.organisation_id = j.organisation_id
    where j.id in (select id from candidates)
      and j.status = 'running' and j.running_tasks < j.concurrency
    for no key update of j skip locked
  ),
  picked as (
    select p.id, p.first_claim from (
      select t.id, t.priority, t.first_claim, lj.remaining,
        row_number() over (partition by lj.organisation_id order by t.priority desc, t.id) as nth_in_org
      from locked_jobs lj
      cross join lateral (
        select t.id, t.priority, t.started_at is null as first_claim
        from public.tasks t
        where t.job_id = lj.id and t.status = 'pending' and t.run_after <= now()
        order by t.priority desc, t.id
        limit least(lj.slots, lj.remaining, p_limit)
        for update skip locked
      ) t
    ) p
    where p.nth_in_org <= p.remaining
    order by p.priority desc, p.id
    limit p_limit
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
    returning t as task, picked.first_claim
  ),
  counted as (
    insert into public.organisation_page_usage as u (organisation_id, day, pages)
    select lj.organisation_id, public.utc_today(), count(*)
    from claimed c
    join locked_jobs lj on lj.id = (c.task).job_id
    where c.first_claim
    group by lj.organisation_id
    on conflict (organisation_id, day) do update set pages = u.pages + excluded.pages
  )
  select (c.task).* from claimed c;
$$;

-- A job paused by its organisation's daily quota is waiting, not stalled: skip it while the quota is used,
-- and after the UTC day rolls over measure its silence from midnight, not from its last page.
create or replace function public.fail_stalled_jobs(p_after interval)
returns integer language plpgsql as $$
declare
  v_ids uuid[];
  v_midnight timestamptz := (public.utc_today()::timestamp at time zone 'UTC');
begin
  select array_agg(j.id) into v_ids from public.jobs j
  where j.status = 'running'
    and greatest(
      coalesce(j.last_progress_at, j.started_at, j.created_at),
      case when public.org_pages_remaining(j.organisation_id, public.utc_today() - 1) = 0
        then v_midnight end
    ) < now() - p_after
    and public.org_pages_remaining(j.organisation_id) > 0;
  if v_ids is null then
    return 0;
  end if;
  perform 1 from public.tasks where job_id = any (v_ids) and status = 'pending' order by id for update;
  update public.jobs set status = 'failed', completed_at = now(), updated_at = now(),
    error_message = format('No task finished for %s; the job was stopped.', p_after)
  where id = any (v_ids) and status = 'running';
  update public.tasks set status = 'skipped', completed_at = now(), updated_at = now()
  where job_id = any (v_ids) and status = 'pending';
  return cardinality(v_ids);
end
$$;
