-- Leases: workers extend them while a task runs (heartbeat); maintenance takes back the expired ones; a
-- worker shutting down hands back what it will not finish. Job control: start and cancel, and the settling of
-- a stopped job. Every function that changes a task's status locks the jobs it involves first, in id order
-- (see job_counters), and reads the job's status under that lock: a task of a job that is no longer running
-- never goes back to pending.

-- A task of a stopped job that will not run again: skipped. NULL while the job runs.
create function public.stopped_task_status(p_job_status text) returns text
language sql immutable as $$
  select case when p_job_status = 'running' then null else 'skipped' end
$$;

-- Expired leases: the worker stopped renewing them (it crashed, or lost the database for longer than the
-- lease). The attempt counts, and the retry waits as after any failure, so a page that kills workers cannot
-- loop; with no attempt left the task fails with lease_expired.
create function public.recover_expired_leases()
returns table (recovered bigint, failed bigint)
language plpgsql as $$
declare
  v_jobs uuid[];
begin
  -- Found without locks (an expired lease stays expired), then locked jobs first, as everywhere.
  v_jobs := public.lock_jobs(array(
    select distinct t.job_id from public.tasks t where t.status = 'running' and t.locked_until < now()));
  if cardinality(v_jobs) = 0 then
    return query select 0::bigint, 0::bigint;
    return;
  end if;
  return query
  with expired as (
    -- SKIP LOCKED: a heartbeat renewing it right now means the worker is alive after all.
    select t.id, coalesce(public.stopped_task_status(j.status),
      case when t.attempts >= t.max_attempts then 'failed' else 'retrying' end) as next
    from public.tasks t join public.jobs j on j.id = t.job_id
    where t.job_id = any (v_jobs) and t.status = 'running' and t.locked_until < now()
    for update of t skip locked
  ),
  changed as (
    update public.tasks t set
      status = e.next,
      error_code = case when e.next = 'failed' then 'lease_expired' else t.error_code end,
      error_message = case when e.next = 'failed'
        then format('The worker %s stopped renewing its lease on attempt %s of %s', t.locked_by, t.attempts,
          t.max_attempts)
        else t.error_message end,
      completed_at = case when e.next in ('failed', 'skipped') then now() else null end,
      run_after = case when e.next = 'retrying' then now() + public.retry_delay(t.attempts) else t.run_after end,
      locked_until = null,
      updated_at = now()
    from expired e
    where t.id = e.id
    returning t.status
  )
  select count(*) filter (where c.status = 'retrying'), count(*) filter (where c.status = 'failed') from changed c;
end
$$;

-- Heartbeat, fenced by (id, attempt). It never waits: a task whose row is locked is being written right now.
-- locked_until is in no index, so this is a HOT update.
create function public.extend_leases(p_task_ids bigint[], p_attempts integer[], p_lease interval)
returns table (id bigint)
language sql volatile as $$
  with mine as (
    select t.id from public.tasks t
    join unnest(p_task_ids, p_attempts) as u(id, attempt) on u.id = t.id and u.attempt = t.attempts
    where t.status = 'running'
    for update of t skip locked
  )
  update public.tasks t set locked_until = now() + p_lease
  from mine where t.id = mine.id
  returning t.id;
$$;

-- Graceful shutdown: the attempt did not really happen, so it is not counted. attempts is the fencing token
-- and never goes back; instead the task is allowed one more (as River's snooze does).
create function public.release_tasks(p_task_ids bigint[], p_attempts integer[])
returns table (id bigint)
language plpgsql as $$
#variable_conflict use_column
begin
  perform public.lock_task_jobs(p_task_ids);
  return query
  with mine as (
    select t.id, public.stopped_task_status(j.status) as stopped from public.tasks t
    join unnest(p_task_ids, p_attempts) as u(id, attempt) on u.id = t.id and u.attempt = t.attempts
    join public.jobs j on j.id = t.job_id
    where t.status = 'running'
  )
  update public.tasks t set
    status = coalesce(mine.stopped, 'pending'),
    max_attempts = case when mine.stopped is null then t.max_attempts + 1 else t.max_attempts end,
    completed_at = case when mine.stopped is null then null else now() end,
    locked_until = null, locked_by = null, run_after = now(), updated_at = now()
  from mine where t.id = mine.id
  returning t.id;
end
$$;

-- A claim that committed but whose answer the worker never got (the connection died on the way back) leaves
-- tasks running under the worker's id that the worker does not know of. Released as above, instead of waiting
-- for their leases to expire and costing an attempt. p_known: the runs the worker does hold.
create function public.release_orphaned_tasks(p_worker_id text, p_known bigint[])
returns table (id bigint)
language plpgsql as $$
#variable_conflict use_column
declare
  v_ids bigint[];
  v_attempts integer[];
begin
  -- Each orphan's run read in one statement, so the release is fenced to that run and no later one.
  select coalesce(array_agg(t.id), '{}'), coalesce(array_agg(t.attempts::integer), '{}') into v_ids, v_attempts
  from public.tasks t
  where t.status = 'running' and t.locked_by = p_worker_id and not (t.id = any (coalesce(p_known, '{}')));
  if cardinality(v_ids) = 0 then
    return;
  end if;
  return query select r.id from public.release_tasks(v_ids, v_attempts) r;
end
$$;

create function public.start_job(p_job_id uuid)
returns public.jobs
language plpgsql as $$
declare
  v_job public.jobs;
begin
  update public.jobs set status = 'running', started_at = coalesce(started_at, now()), updated_at = now()
  where id = p_job_id and status = 'pending'
  returning * into v_job;
  if not found then
    select * into v_job from public.jobs where id = p_job_id;
    if not found then
      raise exception 'unknown job %', p_job_id using errcode = 'P0002', hint = 'Check the job id.';
    end if;
  end if;
  if v_job.status = 'running' then
    perform pg_notify('bbb_tasks', p_job_id::text);
  end if;
  return v_job;
end
$$;

-- Skips up to p_limit pending and retrying tasks of the given jobs that have stopped. Bounded, so stopping a
-- job with 100k tasks never holds a transaction for long; maintenance calls it until nothing is left.
create function public.skip_stopped_tasks(p_job_ids uuid[], p_limit integer)
returns integer language plpgsql as $$
declare
  v_jobs uuid[];
  v_n integer;
begin
  v_jobs := public.lock_jobs(p_job_ids);
  with doomed as (
    select t.id from public.tasks t join public.jobs j on j.id = t.job_id
    where t.job_id = any (v_jobs) and j.status in ('completed', 'failed', 'cancelled')
      and t.status in ('pending', 'retrying')
    limit p_limit
    for update of t skip locked
  )
  update public.tasks t set status = 'skipped', locked_until = null, completed_at = now(), updated_at = now()
  from doomed where t.id = doomed.id;
  get diagnostics v_n = row_count;
  return v_n;
end
$$;

-- How many tasks a cancel skips inline; the rest are skipped by maintenance (skip_stopped_jobs_tasks).
create function public.inline_skip_limit() returns integer
language sql immutable parallel safe as $$ select 1000 $$;

-- Cancelling stops claims at once (they take only running jobs' tasks), skips a bounded first batch of the
-- pending tasks, and leaves the rest to maintenance; running tasks finish and keep their results. The stats
-- are computed once the last of them is settled, so they always equal a recount.
create function public.cancel_job(p_job_id uuid)
returns public.jobs
language plpgsql as $$
declare
  v_job public.jobs;
begin
  if cardinality(public.lock_jobs(array[p_job_id])) = 0 then
    raise exception 'unknown job %', p_job_id using errcode = 'P0002', hint = 'Check the job id.';
  end if;
  update public.jobs set status = 'cancelled', completed_at = now(), updated_at = now()
  where id = p_job_id and status in ('pending', 'running');
  perform public.skip_stopped_tasks(array[p_job_id], public.inline_skip_limit());
  select * into v_job from public.jobs where id = p_job_id;
  return v_job;
end
$$;

revoke execute on function public.stopped_task_status(text) from public, anon, authenticated;
revoke execute on function public.recover_expired_leases() from public, anon, authenticated;
revoke execute on function public.extend_leases(bigint[], integer[], interval) from public, anon, authenticated;
revoke execute on function public.release_tasks(bigint[], integer[]) from public, anon, authenticated;
revoke execute on function public.release_orphaned_tasks(text, bigint[]) from public, anon, authenticated;
revoke execute on function public.start_job(uuid) from public, anon, authenticated;
revoke execute on function public.skip_stopped_tasks(uuid[], integer) from public, anon, authenticated;
revoke execute on function public.inline_skip_limit() from public, anon, authenticated;
revoke execute on function public.cancel_job(uuid) from public, anon, authenticated;
grant execute on function public.stopped_task_status(text) to service_role;
grant execute on function public.recover_expired_leases() to service_role;
grant execute on function public.extend_leases(bigint[], integer[], interval) to service_role;
grant execute on function public.release_tasks(bigint[], integer[]) to service_role;
grant execute on function public.release_orphaned_tasks(text, bigint[]) to service_role;
grant execute on function public.start_job(uuid) to service_role;
grant execute on function public.skip_stopped_tasks(uuid[], integer) to service_role;
grant execute on function public.inline_skip_limit() to service_role;
grant execute on function public.cancel_job(uuid) to service_role;
