-- claim_tasks: hand up to p_limit ready tasks to a worker in one round trip.
-- Only running jobs, the job served longest ago first, highest priority first within a job, never more running
-- tasks per job than its concurrency, and within each organisation's daily page quota and its creator's.
-- p_job_ids limits it to given jobs: `bbb crawl` runs workers that may reach private networks, and pointed at
-- a database a server shares they must claim only the CLI's own job, never a tenant's. The other way round,
-- a claim without p_job_ids (`bbb serve`, `bbb worker`) never takes a CLI job (source 'cli', which no tenant can
-- set): its target may be on the operator's private network, which those workers refuse, so they would only
-- fail it with ssrf_blocked. Only a claim naming the job takes it.
--
-- Jobs are visited one at a time, each locked FOR NO KEY UPDATE SKIP LOCKED: under that lock its counters are
-- current (the counter trigger updates them in the locking transaction), so its free slots are
-- least(concurrency - running, pending). A job another claimer holds is skipped and the next one takes its
-- place, until the batch is full. Claims never wait on a lock, so they cannot take part in a deadlock; tasks
-- waiting to retry are 'retrying', outside the claimable index, so no claim reads past them.
--
-- The daily page quota: a task's first claim (started_at still null) is counted into organisation_page_usage
-- and, when a user created the organisation, into owner_page_usage: one upsert per organisation in
-- organisation order, then one per creator in user order (the lock order). Each organisation's and each
-- creator's budget is read once per claim. Two claimers racing for one organisation (or creator) can each
-- take its last pages, so a quota may be exceeded by at most one batch per concurrent claimer; serialising
-- claims per organisation would cost more.

create function public.utc_today() returns date
language sql stable as $$ select (now() at time zone 'UTC')::date $$;

-- An organisation's own pages left on a UTC day (today unless given), and the user it also draws on: whoever
-- created it (null: the system did). Reads one organisation, its plan and one counter row, never the tasks.
create function public.organisation_page_budget(p_org uuid, p_day date default public.utc_today())
returns table (owner_id uuid, remaining integer)
language sql stable security definer set search_path = '' as $$
  select o.created_by, greatest(p.daily_page_quota - coalesce(u.pages, 0), 0)
  from public.organisations o
  join public.plans p on p.id = o.plan_id
  left join public.organisation_page_usage u on u.organisation_id = o.id and u.day = p_day
  where o.id = p_org;
$$;

-- Pages a user may still start on a UTC day across every organisation they created: the largest daily quota
-- among those organisations' plans, less what all of them used. So creating organisations adds no pages: ten
-- free ones get one free plan's pages, and a free one beside a pro one shares the pro pages. An organisation
-- with several owners counts against its creator only (docs/queue.md#plans). Reads the creator's
-- organisations (at most max_organisations_per_user()) and one counter row.
create function public.owner_pages_remaining(p_owner uuid, p_day date default public.utc_today())
returns integer
language sql stable security definer set search_path = '' as $$
  select greatest(max(p.daily_page_quota) - coalesce(
      (select u.pages from public.owner_page_usage u where u.owner_id = p_owner and u.day = p_day), 0), 0)
  from public.organisations o join public.plans p on p.id = o.plan_id
  where o.created_by = p_owner;
$$;

-- Pages the organisation may still start on a UTC day: the lesser of its own and its creator's. The one
-- definition of "quota used up", which fail_stalled_jobs asks; claim_tasks applies the same two budgets,
-- kept per claim because one claim may serve several organisations of one creator.
create function public.org_pages_remaining(p_org uuid, p_day date default public.utc_today()) returns integer
language sql stable security definer set search_path = '' as $$
  select case when b.owner_id is null then b.remaining
    else least(b.remaining, public.owner_pages_remaining(b.owner_id, p_day)) end
  from public.organisation_page_budget(p_org, p_day) b;
$$;

-- counts[key] + n: claim_tasks' bookkeeping of budgets and first claims, keyed by organisation or user id.
create function public.jsonb_counter_add(p_counts jsonb, p_key text, p_n integer) returns jsonb
language sql immutable parallel safe as $$
  select p_counts || jsonb_build_object(p_key, coalesce((p_counts ->> p_key)::integer, 0) + p_n)
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
  v_budget record;
  v_org text;
  v_owner text;
  v_left integer := p_limit;
  v_slots integer;
  v_remaining integer;
  -- Read once per claim: organisation id -> pages it may still start today and -> its creator ('' for none);
  -- creator id -> pages they may still start today.
  v_org_left jsonb := '{}';
  v_org_owner jsonb := '{}';
  v_owner_left jsonb := '{}';
  -- First claims made now, by organisation and by creator: what the usage rows count.
  v_org_counted jsonb := '{}';
  v_owner_counted jsonb := '{}';
  v_claimed public.tasks[];
  v_first integer;
begin
  if p_limit is null or p_limit <= 0 then
    return;
  end if;
  for v_job in
    select j.id, j.organisation_id from public.jobs j
    where j.status = 'running' and j.pending_tasks > 0 and j.running_tasks < j.concurrency
      and (case when p_job_ids is null then j.source <> 'cli' else j.id = any (p_job_ids) end)
    order by j.last_claimed_at nulls first, j.id
  loop
    v_org := v_job.organisation_id::text;
    if not v_org_left ? v_org then
      select b.owner_id, b.remaining into v_budget from public.organisation_page_budget(v_job.organisation_id) b;
      v_org_left := v_org_left || jsonb_build_object(v_org, coalesce(v_budget.remaining, 0));
      v_org_owner := v_org_owner || jsonb_build_object(v_org, coalesce(v_budget.owner_id::text, ''));
      if v_budget.owner_id is not null and not v_owner_left ? v_budget.owner_id::text then
        v_owner_left := v_owner_left || jsonb_build_object(v_budget.owner_id::text,
          public.owner_pages_remaining(v_budget.owner_id));
      end if;
    end if;
    v_owner := v_org_owner ->> v_org;
    v_remaining := (v_org_left ->> v_org)::integer;
    if v_owner <> '' then
      v_remaining := least(v_remaining, (v_owner_left ->> v_owner)::integer);
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
    v_org_left := public.jsonb_counter_add(v_org_left, v_org, -cardinality(v_claimed));
    v_org_counted := public.jsonb_counter_add(v_org_counted, v_org, v_first);
    if v_owner <> '' then
      v_owner_left := public.jsonb_counter_add(v_owner_left, v_owner, -cardinality(v_claimed));
      v_owner_counted := public.jsonb_counter_add(v_owner_counted, v_owner, v_first);
    end if;
    exit when v_left <= 0;
  end loop;

  insert into public.organisation_page_usage as u (organisation_id, day, pages)
  select c.key::uuid, public.utc_today(), c.value::integer
  from jsonb_each_text(v_org_counted) c
  where c.value::integer > 0
  order by c.key::uuid
  on conflict (organisation_id, day) do update set pages = u.pages + excluded.pages;
  insert into public.owner_page_usage as u (owner_id, day, pages)
  select c.key::uuid, public.utc_today(), c.value::integer
  from jsonb_each_text(v_owner_counted) c
  where c.value::integer > 0
  order by c.key::uuid
  on conflict (owner_id, day) do update set pages = u.pages + excluded.pages;
end
$$;

revoke execute on function public.claim_tasks(text, integer, interval, uuid[]) from public, anon, authenticated;
grant execute on function public.claim_tasks(text, integer, interval, uuid[]) to service_role;
-- They read any organisation's and any user's usage with no membership check, so they are the queue's only.
revoke execute on function public.organisation_page_budget(uuid, date) from public, anon, authenticated;
revoke execute on function public.owner_pages_remaining(uuid, date) from public, anon, authenticated;
revoke execute on function public.org_pages_remaining(uuid, date) from public, anon, authenticated;
revoke execute on function public.jsonb_counter_add(jsonb, text, integer) from public, anon, authenticated;
grant execute on function public.organisation_page_budget(uuid, date) to service_role;
grant execute on function public.owner_pages_remaining(uuid, date) to service_role;
grant execute on function public.org_pages_remaining(uuid, date) to service_role;
grant execute on function public.jsonb_counter_add(jsonb, text, integer) to service_role;
