-- complete_tasks / fail_tasks: write a whole batch of results in one statement each.
-- Each entry names the task id and the attempt it ran as (claim_tasks returned it). The attempt is a fencing
-- token: a worker whose lease expired and whose task was claimed again cannot overwrite the newer run.
-- Both return the ids they applied; a missing id means the task was no longer this worker's.

create function public.complete_tasks(p_results jsonb)
returns table (id bigint)
language sql volatile as $$
  with r as (
    select * from jsonb_to_recordset(p_results) as x(
      id bigint, attempt integer, status_code integer, response_time_ms integer, timing jsonb,
      cache_status text, warm_cache_status text, warm_attempts integer, warm_response_time_ms integer,
      warm_results jsonb, redirect_url text, content_type text, content_length bigint
    )
  ),
  -- Row locks in id order, so a batch never deadlocks with lease recovery touching the same rows.
  mine as (
    select t.id from public.tasks t join r on r.id = t.id
    where t.status = 'running' and t.attempts = r.attempt
    order by t.id
    for update of t
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
  from r, mine
  where t.id = mine.id and r.id = mine.id
  returning t.id;
$$;

-- Backoff before retry number n (n = attempts so far): 2^(n-1) seconds, capped at 5 minutes, times a jitter
-- of 0.75-1.25 so retries of a batch that failed together do not return together. A Retry-After from the
-- server is a floor.
create function public.retry_delay(p_attempts integer, p_retry_after_ms integer default null)
returns interval language sql volatile as $$
  select greatest(
    make_interval(secs => least(300, power(2, greatest(p_attempts, 1) - 1)) * (0.75 + random() * 0.5)),
    make_interval(secs => coalesce(p_retry_after_ms, 0) / 1000.0)
  )
$$;

create function public.fail_tasks(p_failures jsonb)
returns table (id bigint, status text, run_after timestamptz)
language sql volatile as $$
  with r as (
    select * from jsonb_to_recordset(p_failures) as x(
      id bigint, attempt integer, retryable boolean, error_code text, error_message text,
      retry_after_ms integer, status_code integer, response_time_ms integer, timing jsonb,
      cache_status text, redirect_url text, content_type text, content_length bigint
    )
  ),
  mine as (
    select t.id,
      -- Retry only while attempts remain and the job still runs; a cancelled job's retries end here.
      (coalesce(r.retryable, false) and t.attempts < t.max_attempts and j.status = 'running') as retry
    from public.tasks t
    join r on r.id = t.id
    join public.jobs j on j.id = t.job_id
    where t.status = 'running' and t.attempts = r.attempt
    order by t.id
    for update of t
  )
  update public.tasks t set
    status = case when mine.retry then 'pending' else 'failed' end,
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
  where t.id = mine.id and r.id = mine.id
  returning t.id, t.status, t.run_after;
$$;

revoke execute on function public.complete_tasks(jsonb) from public, anon, authenticated;
revoke execute on function public.fail_tasks(jsonb) from public, anon, authenticated;
revoke execute on function public.retry_delay(integer, integer) from public, anon, authenticated;
grant execute on function public.complete_tasks(jsonb) to service_role;
grant execute on function public.fail_tasks(jsonb) to service_role;
