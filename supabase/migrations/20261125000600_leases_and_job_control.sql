-- Leases: workers extend them while a task runs (heartbeat); maintenance takes back the expired ones; a
-- worker shutting down hands back what it will not finish. Job control: start and cancel.

create function public.recover_expired_leases()
returns table (recovered bigint, failed bigint)
language sql volatile as $$
  with expired as (
    -- SKIP LOCKED: a task whose worker is writing its result right now is not expired in practice.
    select t.id from public.tasks t
    where t.status = 'running' and t.locked_until < now()
    order by t.id
    for update skip locked
  ),
  changed as (
    update public.tasks t set
      status = case when t.attempts >= t.max_attempts then 'failed' else 'pending' end,
      error_code = case when t.attempts >= t.max_attempts then 'lease_expired' else t.error_code end,
      error_message = case when t.attempts >= t.max_attempts
        then format('The worker %s stopped renewing its lease on attempt %s of %s', t.locked_by, t.attempts,
          t.max_attempts)
        else t.error_message end,
      completed_at = case when t.attempts >= t.max_attempts then now() else null end,
      run_after = now(),
      locked_until = null,
      updated_at = now()
    from expired e
    where t.id = e.id
    returning t.status
  )
  select count(*) filter (where status = 'pending'), count(*) filter (where status = 'failed') from changed;
$$;

create function public.extend_leases(p_worker_id text, p_task_ids bigint[], p_lease interval)
returns table (id bigint)
language sql volatile as $$
  update public.tasks t set locked_until = now() + p_lease
  where t.id = any (p_task_ids) and t.status = 'running' and t.locked_by = p_worker_id
  returning t.id;
$$;

-- Graceful shutdown: the attempt did not really happen, so it is not counted.
create function public.release_tasks(p_worker_id text, p_task_ids bigint[])
returns table (id bigint)
language sql volatile as $$
  with mine as (
    select t.id from public.tasks t
    where t.id = any (p_task_ids) and t.status = 'running' and t.locked_by = p_worker_id
    order by t.id
    for update
  )
  update public.tasks t set
    status = 'pending', attempts = greatest(t.attempts - 1, 0), locked_until = null, locked_by = null,
    run_after = now(), updated_at = now()
  from mine where t.id = mine.id
  returning t.id;
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

-- Cancelling skips the pending tasks; running ones finish and keep their results. Locks are taken tasks
-- first, then the job, the order every other path uses, so cancel cannot deadlock with workers. The job is
-- marked cancelled before the tasks change, so the counter trigger cannot complete it in between.
create function public.cancel_job(p_job_id uuid)
returns public.jobs
language plpgsql as $$
declare
  v_job public.jobs;
begin
  perform 1 from public.jobs where id = p_job_id;
  if not found then
    raise exception 'unknown job %', p_job_id using errcode = 'P0002', hint = 'Check the job id.';
  end if;

  perform 1 from public.tasks where job_id = p_job_id and status = 'pending' order by id for update;

  update public.jobs set status = 'cancelled', completed_at = now(), updated_at = now()
  where id = p_job_id and status in ('pending', 'running');

  update public.tasks set status = 'skipped', locked_until = null, updated_at = now(), completed_at = now()
  where job_id = p_job_id and status = 'pending';

  select * into v_job from public.jobs where id = p_job_id;
  return v_job;
end
$$;

revoke execute on function public.recover_expired_leases() from public, anon, authenticated;
revoke execute on function public.extend_leases(text, bigint[], interval) from public, anon, authenticated;
revoke execute on function public.release_tasks(text, bigint[]) from public, anon, authenticated;
revoke execute on function public.start_job(uuid) from public, anon, authenticated;
revoke execute on function public.cancel_job(uuid) from public, anon, authenticated;
grant execute on function public.recover_expired_leases() to service_role;
grant execute on function public.extend_leases(text, bigint[], interval) to service_role;
grant execute on function public.release_tasks(text, bigint[]) to service_role;
grant execute on function public.start_job(uuid) to service_role;
grant execute on function public.cancel_job(uuid) to service_role;
