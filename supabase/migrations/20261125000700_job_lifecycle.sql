-- Job lifecycle for the worker pool: sitemap discovery as a claimable job step (so creating a job never waits
-- on it), stats computed once when a job settles, and the maintenance passes the elected leader runs. Each
-- pass locks the jobs it changes in id order (the lock order in job_counters) and skips those another
-- transaction holds: a skipped job is simply looked at again on the next pass.

-- Discovery: claimed like a task, with a lease that the worker renews while the walk goes on. A claim that
-- never finishes (the worker died) is handed out again by recover_expired_discovery, at most
-- discovery_max_attempts() times; then discovery is given up with the reason on the job. As with claim_tasks,
-- a claim without p_job_ids never takes a CLI job (source 'cli'): only the CLI's own pool, naming it, does.
create function public.discovery_max_attempts() returns integer
language sql immutable parallel safe as $$ select 3 $$;

create function public.claim_discovery(
  p_worker_id text,
  p_limit integer,
  p_lease interval default interval '1 minute',
  p_job_ids uuid[] default null
)
returns setof public.jobs
language sql volatile as $$
  with ready as (
    select j.id from public.jobs j
    where j.status = 'running' and j.discovery_status = 'pending'
      and (case when p_job_ids is null then j.source <> 'cli' else j.id = any (p_job_ids) end)
    order by j.id
    limit p_limit
    for no key update skip locked
  )
  update public.jobs j set
    discovery_status = 'running',
    discovery_attempts = j.discovery_attempts + 1,
    discovery_locked_by = p_worker_id,
    discovery_locked_until = now() + p_lease,
    updated_at = now()
  from ready where j.id = ready.id
  returning j.*;
$$;

-- Heartbeat of a discovery, fenced by (worker, attempt). It waits for the job row, which claims and result
-- writes of the job hold only briefly (and it holds nothing else, so it cannot close a lock cycle): false
-- must mean the lease is no longer this attempt's, never that the row was busy.
create function public.extend_discovery_lease(p_job_id uuid, p_worker_id text, p_attempt integer, p_lease interval)
returns boolean language sql volatile as $$
  with extended as (
    update public.jobs j set discovery_locked_until = now() + p_lease
    where j.id = p_job_id and j.discovery_status = 'running'
      and j.discovery_locked_by = p_worker_id and j.discovery_attempts = p_attempt
    returning 1
  )
  select exists (select 1 from extended);
$$;

-- Ends discovery and completes the job if nothing is left (a site whose only page finished meanwhile).
create function public.finish_discovery(p_job_id uuid, p_worker_id text, p_attempt integer)
returns public.jobs
language plpgsql as $$
declare
  v_job public.jobs;
begin
  perform public.lock_jobs(array[p_job_id]);
  update public.jobs set
    discovery_status = 'done', discovery_locked_until = null, updated_at = now(),
    status = case when status = 'running' and pending_tasks = 0 and retrying_tasks = 0 and running_tasks = 0
      then 'completed' else status end,
    completed_at = case when status = 'running' and pending_tasks = 0 and retrying_tasks = 0 and running_tasks = 0
      then now() else completed_at end
  where id = p_job_id and discovery_status = 'running' and discovery_locked_by = p_worker_id
    and discovery_attempts = p_attempt
  returning * into v_job;
  return v_job;
end
$$;

-- Discovery leases that ran out go back to pending, or, after the last attempt, are given up: the job goes on
-- with what the home page's links find (complete_idle_jobs completes it if nothing is left).
create function public.recover_expired_discovery()
returns table (recovered bigint, abandoned bigint)
language sql volatile as $$
  with expired as (
    select j.id, j.discovery_attempts >= public.discovery_max_attempts() as give_up
    from public.jobs j
    where j.discovery_status = 'running' and j.discovery_locked_until < now()
    order by j.id
    for no key update skip locked
  ),
  changed as (
    update public.jobs j set
      discovery_status = case when e.give_up then 'failed' else 'pending' end,
      discovery_locked_by = null,
      discovery_locked_until = null,
      error_message = case when e.give_up then format(
        'Sitemap discovery was given up after %s attempts that never finished (the worker running it stopped '
        'each time); the crawl went on from the links of the home page.', j.discovery_attempts)
        else j.error_message end,
      updated_at = now()
    from expired e where j.id = e.id
    returning e.give_up
  )
  select count(*) filter (where not c.give_up), count(*) filter (where c.give_up) from changed c;
$$;

-- Per-job results, computed once when the job reaches a final status. Pages robots.txt kept us from
-- fetching are the site owner's choice, not errors: they are counted on their own.
create function public.compute_job_stats(p_job_id uuid)
returns jsonb
language sql stable as $$
  with t as (
    select url, status, status_code, response_time_ms, redirect_url, cache_status, found_on,
      coalesce(warm_cache_status, cache_status) as final_cache_status,
      coalesce(warm_response_time_ms, response_time_ms) as final_ms,
      warm_response_time_ms, error_code
    from public.tasks where job_id = p_job_id
  ),
  agg as (
    select
      count(*) filter (where status = 'completed' and status_code between 200 and 299) as ok,
      count(*) filter (where status_code >= 400) as broken,
      count(*) filter (where redirect_url is not null) as redirected,
      count(*) filter (where status = 'skipped') as skipped,
      count(*) filter (where status = 'failed' and status_code is null
        and coalesce(error_code, '') <> 'robots_disallowed') as errored,
      count(*) filter (where error_code = 'robots_disallowed') as blocked,
      count(*) filter (where cache_status is not null and cache_status <> 'UNKNOWN') as cache_known,
      count(*) filter (where cache_status in ('HIT', 'STALE', 'REVALIDATED')) as hits_before,
      count(*) filter (where final_cache_status in ('HIT', 'STALE', 'REVALIDATED')) as hits_after,
      percentile_cont(array[0.5, 0.9, 0.95, 0.99]) within group (order by response_time_ms)
        filter (where response_time_ms is not null) as before_p,
      percentile_cont(array[0.5, 0.9, 0.95, 0.99]) within group (order by final_ms)
        filter (where final_ms is not null) as after_p,
      coalesce(sum(greatest(response_time_ms - warm_response_time_ms, 0))
        filter (where warm_response_time_ms is not null), 0) as saved_ms
    from t
  )
  select jsonb_build_object(
    'pages', jsonb_build_object('ok', a.ok, 'broken', a.broken, 'redirected', a.redirected,
      'skipped', a.skipped, 'errored', a.errored, 'blocked_by_robots', a.blocked),
    'cache_hit_ratio', jsonb_build_object(
      'before', case when a.cache_known > 0 then round(a.hits_before::numeric / a.cache_known, 4) end,
      'after', case when a.cache_known > 0 then round(a.hits_after::numeric / a.cache_known, 4) end),
    'response_time_ms', jsonb_build_object(
      'before', jsonb_build_object('p50', a.before_p[1], 'p90', a.before_p[2], 'p95', a.before_p[3],
        'p99', a.before_p[4]),
      'after', jsonb_build_object('p50', a.after_p[1], 'p90', a.after_p[2], 'p95', a.after_p[3],
        'p99', a.after_p[4])),
    'slowest', coalesce((
      select jsonb_agg(jsonb_build_object('url', s.url, 'response_time_ms', s.response_time_ms,
        'warm_response_time_ms', s.warm_response_time_ms) order by s.response_time_ms desc, s.url)
      from (select url, response_time_ms, warm_response_time_ms from t
            -- Ties broken by URL, so the list is the same however often it is computed.
            where response_time_ms is not null order by response_time_ms desc, url limit 10) s), '[]'::jsonb),
    'time_saved_ms', a.saved_ms
  )
  from agg a
$$;

create function public.jobs_set_stats() returns trigger language plpgsql as $$
begin
  new.stats := public.compute_job_stats(new.id);
  return new;
end
$$;

-- A job settles when it has stopped and none of its tasks is left to run or still running: only then do its
-- stats equal a recount, results that landed after a cancel included. BEFORE, so they land in that row version.
create trigger _200_stats_on_settle before update on public.jobs
  for each row
  when (new.stats is null and new.status in ('completed', 'failed', 'cancelled')
    and new.pending_tasks = 0 and new.retrying_tasks = 0 and new.running_tasks = 0)
  execute function public.jobs_set_stats();

-- Maintenance, run by the elected leader.

-- Running jobs with nothing left whose counters never flipped them (e.g. every URL was rejected).
create function public.complete_idle_jobs()
returns integer language sql volatile as $$
  with idle as (
    select j.id from public.jobs j
    where j.status = 'running' and j.discovery_status in ('done', 'skipped', 'failed')
      and j.pending_tasks = 0 and j.retrying_tasks = 0 and j.running_tasks = 0
    order by j.id
    for no key update skip locked
  ),
  done as (
    update public.jobs j set status = 'completed', completed_at = now(), updated_at = now()
    from idle where j.id = idle.id
    returning 1
  )
  select count(*)::int from done;
$$;

-- Retries whose wait is over become claimable. Found through the running jobs that have retries (a counter),
-- then a range of each one's retrying index: the cost is the due rows, not the waiting ones.
create function public.promote_due_retries(p_limit integer default 10000)
returns integer language plpgsql as $$
declare
  v_jobs uuid[];
  v_n integer;
begin
  -- SKIP LOCKED, as every maintenance pass: waiting behind a writer while holding the jobs already locked
  -- would queue the next writers behind this pass. A skipped job is promoted on the next tick.
  v_jobs := array(
    select j.id from public.jobs j
    where j.status = 'running' and j.retrying_tasks > 0
      and exists (select 1 from public.tasks t
                  where t.job_id = j.id and t.status = 'retrying' and t.run_after <= now())
    order by j.id
    for no key update skip locked);
  if cardinality(v_jobs) = 0 then
    return 0;
  end if;
  with due as (
    select t.id from public.tasks t
    where t.job_id = any (v_jobs) and t.status = 'retrying' and t.run_after <= now()
    limit p_limit
    for update skip locked
  )
  update public.tasks t set status = 'pending', updated_at = now() from due where t.id = due.id;
  get diagnostics v_n = row_count;
  if v_n > 0 then
    perform pg_notify('bbb_tasks', '');
  end if;
  return v_n;
end
$$;

-- Stopped jobs still holding pending or retrying tasks (a cancel skips only a first batch inline): skip up
-- to p_limit more. Found through jobs_unsettled_idx, so an idle pass reads no task.
create function public.skip_stopped_jobs_tasks(p_limit integer default 10000)
returns integer language sql volatile as $$
  select public.skip_stopped_tasks(array(
    select j.id from public.jobs j
    where j.status in ('completed', 'failed', 'cancelled') and j.stats is null
      and (j.pending_tasks > 0 or j.retrying_tasks > 0)
    order by j.id
    limit 100), p_limit);
$$;

-- Running jobs that have finished no attempt for p_after: fail them and skip what is left. A job paused by its
-- organisation's daily quota (or its creator's: org_pages_remaining is the lesser) is waiting, not stalled: skip it while the quota is used, and after the UTC day
-- rolls over measure its silence from midnight, not from its last page.
create function public.fail_stalled_jobs(p_after interval)
returns integer language plpgsql as $$
declare
  v_ids uuid[];
  v_midnight timestamptz := (public.utc_today()::timestamp at time zone 'UTC');
begin
  -- FOR UPDATE re-checks the condition on the row it locks, so a job that progressed meanwhile is left alone.
  v_ids := array(
    select j.id from public.jobs j
    where j.status = 'running'
      and greatest(
        coalesce(j.last_progress_at, j.started_at, j.created_at),
        case when public.org_pages_remaining(j.organisation_id, public.utc_today() - 1) = 0
          then v_midnight end
      ) < now() - p_after
      and public.org_pages_remaining(j.organisation_id) > 0
    order by j.id
    for no key update skip locked);
  if cardinality(v_ids) = 0 then
    return 0;
  end if;
  update public.jobs set status = 'failed', completed_at = now(), updated_at = now(),
    error_message = format('No task finished for %s; the job was stopped.', p_after)
  where id = any (v_ids);
  perform public.skip_stopped_tasks(v_ids, public.inline_skip_limit());
  return cardinality(v_ids);
end
$$;

-- Deletes task rows of jobs that settled before the retention window, a bounded batch per call so a large
-- backlog never holds locks for long. Driven by jobs_prunable_idx: a job whose tasks are gone is marked and
-- never read again, and with nothing due no task is read at all. The jobs are locked first, in id order, in one
-- statement (the lock order), skipping any another transaction holds: a skipped job is pruned on a later pass.
create function public.prune_tasks(p_older_than interval, p_limit integer default 10000)
returns integer language plpgsql as $$
declare
  v_jobs uuid[];
  v_job uuid;
  v_total integer := 0;
  v_n integer;
begin
  v_jobs := array(
    select j.id from public.jobs j
    where j.id in (
      select p.id from public.jobs p
      where p.stats is not null and p.tasks_pruned_at is null and p.completed_at < now() - p_older_than
      order by p.completed_at
      limit 100)
    order by j.id
    for no key update skip locked);
  for v_job in select j.id from public.jobs j where j.id = any (v_jobs) order by j.completed_at, j.id loop
    -- Through tasks_job_id_idx (the ORDER BY keeps the planner on it whatever the statistics: ordered by url,
    -- the narrower (job_id, id) index plus a sort of the whole job looked cheaper), then the primary key: no
    -- plan here reads the table at large.
    delete from public.tasks t
    where t.id = any (array(
      select d.id from public.tasks d where d.job_id = v_job order by d.job_id, d.id limit p_limit - v_total));
    get diagnostics v_n = row_count;
    if v_n < p_limit - v_total then
      update public.jobs set tasks_pruned_at = now() where id = v_job;
    end if;
    v_total := v_total + v_n;
    exit when v_total >= p_limit;
  end loop;
  return v_total;
end
$$;

revoke execute on function public.discovery_max_attempts() from public, anon, authenticated;
revoke execute on function public.claim_discovery(text, integer, interval, uuid[]) from public, anon, authenticated;
revoke execute on function public.extend_discovery_lease(uuid, text, integer, interval) from public, anon, authenticated;
revoke execute on function public.finish_discovery(uuid, text, integer) from public, anon, authenticated;
revoke execute on function public.recover_expired_discovery() from public, anon, authenticated;
revoke execute on function public.compute_job_stats(uuid) from public, anon, authenticated;
revoke execute on function public.complete_idle_jobs() from public, anon, authenticated;
revoke execute on function public.promote_due_retries(integer) from public, anon, authenticated;
revoke execute on function public.skip_stopped_jobs_tasks(integer) from public, anon, authenticated;
revoke execute on function public.fail_stalled_jobs(interval) from public, anon, authenticated;
revoke execute on function public.prune_tasks(interval, integer) from public, anon, authenticated;
grant execute on function public.discovery_max_attempts() to service_role;
grant execute on function public.claim_discovery(text, integer, interval, uuid[]) to service_role;
grant execute on function public.extend_discovery_lease(uuid, text, integer, interval) to service_role;
grant execute on function public.finish_discovery(uuid, text, integer) to service_role;
grant execute on function public.recover_expired_discovery() to service_role;
grant execute on function public.compute_job_stats(uuid) to service_role;
grant execute on function public.complete_idle_jobs() to service_role;
grant execute on function public.promote_due_retries(integer) to service_role;
grant execute on function public.skip_stopped_jobs_tasks(integer) to service_role;
grant execute on function public.fail_stalled_jobs(interval) to service_role;
grant execute on function public.prune_tasks(interval, integer) to service_role;
