-- Job lifecycle for the worker pool: sitemap discovery as a claimable job step (so creating a job never waits
-- on it), stats computed once when a job finishes, and the maintenance passes the elected leader runs.

-- Discovery: claimed like a task, with a lease, by any worker process.
create function public.claim_discovery(
  p_worker_id text,
  p_limit integer,
  p_lease interval default interval '2 minutes',
  p_job_ids uuid[] default null
)
returns setof public.jobs
language sql volatile as $$
  with ready as (
    select j.id from public.jobs j
    where j.status = 'running'
      and (p_job_ids is null or j.id = any (p_job_ids))
      and (j.discovery_status = 'pending'
        or (j.discovery_status = 'running' and j.discovery_locked_until < now()))
    order by j.created_at
    limit p_limit
    for no key update skip locked
  )
  update public.jobs j set
    discovery_status = 'running',
    discovery_locked_by = p_worker_id,
    discovery_locked_until = now() + p_lease,
    updated_at = now()
  from ready where j.id = ready.id
  returning j.*;
$$;

-- Ends discovery and completes the job if nothing is left (a site whose only page finished meanwhile).
create function public.finish_discovery(p_job_id uuid, p_worker_id text)
returns public.jobs
language plpgsql as $$
declare
  v_job public.jobs;
begin
  update public.jobs set
    discovery_status = 'done', discovery_locked_until = null, updated_at = now(),
    status = case when status = 'running' and pending_tasks = 0 and running_tasks = 0 then 'completed'
      else status end,
    completed_at = case when status = 'running' and pending_tasks = 0 and running_tasks = 0 then now()
      else completed_at end
  where id = p_job_id and discovery_status = 'running' and discovery_locked_by = p_worker_id
  returning * into v_job;
  return v_job;
end
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
        'warm_response_time_ms', s.warm_response_time_ms) order by s.response_time_ms desc)
      from (select url, response_time_ms, warm_response_time_ms from t
            where response_time_ms is not null order by response_time_ms desc limit 10) s), '[]'::jsonb),
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

-- BEFORE, so the stats land in the same row version that records the final status.
create trigger _200_stats_on_finish before update of status on public.jobs
  for each row
  when (old.status in ('pending', 'running') and new.status in ('completed', 'failed', 'cancelled'))
  execute function public.jobs_set_stats();

-- Maintenance, run by the elected leader.

-- Running jobs with nothing left whose counters never flipped them (e.g. every URL was rejected).
create function public.complete_idle_jobs()
returns integer language sql volatile as $$
  with done as (
    update public.jobs set status = 'completed', completed_at = now(), updated_at = now()
    where status = 'running' and discovery_status in ('done', 'skipped')
      and pending_tasks = 0 and running_tasks = 0
    returning 1
  )
  select count(*)::int from done;
$$;

-- Running jobs that have finished no task for p_after: fail them and skip what is left.
create function public.fail_stalled_jobs(p_after interval)
returns integer language plpgsql as $$
declare
  v_ids uuid[];
begin
  select array_agg(id) into v_ids from public.jobs
  where status = 'running' and coalesce(last_progress_at, started_at, created_at) < now() - p_after;
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

-- Deletes task rows of jobs that finished before the retention window, a bounded batch per call so a
-- large backlog never holds locks for long.
create function public.prune_tasks(p_older_than interval, p_limit integer default 10000)
returns integer language sql volatile as $$
  with doomed as (
    select t.id from public.tasks t
    join public.jobs j on j.id = t.job_id
    where j.status in ('completed', 'failed', 'cancelled') and j.completed_at < now() - p_older_than
    limit p_limit
  ),
  gone as (delete from public.tasks t using doomed where t.id = doomed.id returning 1)
  select count(*)::int from gone;
$$;

revoke execute on function public.claim_discovery(text, integer, interval, uuid[]) from public, anon, authenticated;
revoke execute on function public.finish_discovery(uuid, text) from public, anon, authenticated;
revoke execute on function public.compute_job_stats(uuid) from public, anon, authenticated;
revoke execute on function public.complete_idle_jobs() from public, anon, authenticated;
revoke execute on function public.fail_stalled_jobs(interval) from public, anon, authenticated;
revoke execute on function public.prune_tasks(interval, integer) from public, anon, authenticated;
grant execute on function public.claim_discovery(text, integer, interval, uuid[]) to service_role;
grant execute on function public.finish_discovery(uuid, text) to service_role;
grant execute on function public.complete_idle_jobs() to service_role;
grant execute on function public.fail_stalled_jobs(interval) to service_role;
grant execute on function public.prune_tasks(interval, integer) to service_role;
