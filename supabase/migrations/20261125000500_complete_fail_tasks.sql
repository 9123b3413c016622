-- complete_tasks / fail_tasks: write a whole batch of results, one statement each after the job locks.
-- Each entry names the task id and the attempt it ran as (claim_tasks returned it). (id, attempt) is the
-- fencing token: a worker whose lease expired and whose task was claimed again cannot overwrite the newer run,
-- even when both results arrive in one batch. Both return the ids they applied; a missing id means the task
-- was no longer held by that attempt.

create function public.complete_tasks(p_results jsonb)
returns table (id bigint)
language plpgsql as $$
#variable_conflict use_column
begin
  perform public.lock_task_jobs(array(select (e ->> 'id')::bigint from jsonb_array_elements(p_results) e));
  return query
  with r as (
    select distinct on (x.id, x.attempt) x.* from jsonb_to_recordset(p_results) as x(
      id bigint, attempt integer, status_code integer, response_time_ms integer, timing jsonb,
      cache_status text, warm_cache_status text, warm_attempts integer, warm_response_time_ms integer,
      warm_results jsonb, redirect_url text, content_type text, content_length bigint
    )
    order by x.id, x.attempt
  )
  update public.tasks t set
    status = 'completed',
    status_code = r.status_code,
    response_time_ms = r.response_time_ms,
    timing = r.timing,
    cache_status = r.cache_status,
    warm_cache_status = r.warm_cache_status,
    warm_attempts = r.warm_attempts,
    warm_response_time_ms = r.warm_response_time_ms,
    warm_results = r.warm_results,
    redirect_url = r.redirect_url,
    content_type = r.content_type,
    content_length = r.content_length,
    error_code = null,
    error_message = null,
    locked_until = null,
    completed_at = now(),
    updated_at = now()
  from r
  where t.id = r.id and t.attempts = r.attempt and t.status = 'running'
  returning t.id;
end
$$;

-- The longest Retry-After honoured, in ms. The same figure as MAX_RETRY_AFTER_MS in
-- src/crawler/fetch-errors.ts (a test keeps them equal); anything longer is the queue's own retry curve.
create function public.max_retry_after_ms() returns bigint
language sql immutable parallel safe as $$ select 120000::bigint $$;

-- Backoff before retry number n (n = attempts so far): graphile-worker's curve, e^n seconds (2.7 s, 7.4 s,
-- 20 s, 55 s, 148 s, ...), capped at 5 minutes so a retry never outlasts the stall window, times a jitter of
-- 0.75-1.25 so a batch that failed together does not return together. A Retry-After from the server (capped)
-- is a floor.
create function public.retry_delay(p_attempts integer, p_retry_after_ms bigint default null)
returns interval language sql volatile as $$
  select greatest(
    make_interval(secs => least(300, exp(least(greatest(p_attempts, 1), 10))) * (0.75 + random() * 0.5)),
    make_interval(secs => least(greatest(coalesce(p_retry_after_ms, 0), 0), public.max_retry_after_ms()) / 1000.0)
  )
$$;

create function public.fail_tasks(p_failures jsonb)
returns table (id bigint, status text, run_after timestamptz)
language plpgsql as $$
#variable_conflict use_column
begin
  perform public.lock_task_jobs(array(select (e ->> 'id')::bigint from jsonb_array_elements(p_failures) e));
  return query
  with r as (
    select distinct on (x.id, x.attempt) x.* from jsonb_to_recordset(p_failures) as x(
      id bigint, attempt integer, retryable boolean, error_code text, error_message text,
      retry_after_ms bigint, status_code integer, response_time_ms integer, timing jsonb,
      cache_status text, redirect_url text, content_type text, content_length bigint
    )
    order by x.id, x.attempt
  ),
  mine as (
    select t.id, r.attempt,
      -- Retry only while attempts remain and the job still runs (its status read under the job's lock).
      (coalesce(r.retryable, false) and t.attempts < t.max_attempts and j.status = 'running') as retry
    from public.tasks t
    join r on r.id = t.id and r.attempt = t.attempts
    join public.jobs j on j.id = t.job_id
    where t.status = 'running'
  )
  update public.tasks t set
    status = case when mine.retry then 'retrying' else 'failed' end,
    run_after = case when mine.retry then now() + public.retry_delay(t.attempts, r.retry_after_ms)
      else t.run_after end,
    completed_at = case when mine.retry then null else now() end,
    error_code = left(coalesce(r.error_code, 'unknown'), 100),
    error_message = left(r.error_message, 2000),
    status_code = r.status_code,
    response_time_ms = r.response_time_ms,
    timing = r.timing,
    cache_status = r.cache_status,
    redirect_url = r.redirect_url,
    content_type = r.content_type,
    content_length = r.content_length,
    locked_until = null,
    updated_at = now()
  from r, mine
  where t.id = mine.id and r.id = mine.id and r.attempt = mine.attempt
  returning t.id, t.status, t.run_after;
end
$$;

revoke execute on function public.complete_tasks(jsonb) from public, anon, authenticated;
revoke execute on function public.fail_tasks(jsonb) from public, anon, authenticated;
revoke execute on function public.retry_delay(integer, bigint) from public, anon, authenticated;
revoke execute on function public.max_retry_after_ms() from public, anon, authenticated;
grant execute on function public.complete_tasks(jsonb) to service_role;
grant execute on function public.fail_tasks(jsonb) to service_role;
grant execute on function public.retry_delay(integer, bigint) to service_role;
grant execute on function public.max_retry_after_ms() to service_role;
