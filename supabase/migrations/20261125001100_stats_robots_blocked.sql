-- Pages that robots.txt kept us from fetching are the site owner's choice, not errors: count them on their
-- own (pages.blocked_by_robots) instead of under pages.errored.

create or replace function public.compute_job_stats(p_job_id uuid)
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

