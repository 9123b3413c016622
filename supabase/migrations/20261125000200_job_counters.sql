-- Job counters and completion, kept by statement-level triggers with transition tables: a batch of 100
-- task changes updates its job row once, and nothing ever runs COUNT(*) per change (the original version's
-- largest database cost).
--
-- The lock order every queue function follows (docs/queue.md): jobs, then task rows, then pages in
-- (domain_id, path) order, then usage rows in organisation order, then in user order. A call that waits for
-- jobs locks every job it involves in one statement at its start, in id order (lock_jobs); the rest wait for
-- one job row holding nothing else, or never wait for a job or task (SKIP LOCKED). The triggers below lock
-- jobs too, but by then the caller already holds them, so they never add a lock out of order. PostgreSQL forbids
-- transition tables on a trigger with a column list (UPDATE OF status), so the update trigger fires for
-- heartbeats as well; it finds a zero delta and stops (docs/queue.md gives its measured cost).

create type public.job_task_delta as (
  job_id uuid,
  total integer,
  pending integer,
  retrying integer,
  running integer,
  completed integer,
  failed integer,
  skipped integer
);

-- Locks jobs in id order; every queue function calls it (or locks the same way) before touching task rows.
-- NO KEY UPDATE, so inserts of tasks (which take KEY SHARE on their job for the foreign key) do not wait.
create function public.lock_jobs(p_job_ids uuid[]) returns uuid[]
language sql volatile as $$
  select coalesce(array_agg(l.id), '{}') from (
    select j.id from public.jobs j where j.id = any (p_job_ids) order by j.id for no key update
  ) l
$$;

-- The jobs of the given tasks, locked in id order. A task's job never changes, so reading it unlocked is safe.
create function public.lock_task_jobs(p_task_ids bigint[]) returns uuid[]
language sql volatile as $$
  select public.lock_jobs(array(select distinct t.job_id from public.tasks t where t.id = any (p_task_ids)))
$$;

create function public.apply_job_task_deltas(deltas public.job_task_delta[])
returns void language plpgsql as $$
begin
  if cardinality(deltas) = 0 then
    return;
  end if;
  -- Already held by the queue function that changed the tasks; this keeps a direct UPDATE (an operator's) in
  -- the same order.
  perform public.lock_jobs(array(select d.job_id from unnest(deltas) d));

  update public.jobs j set
    total_tasks = j.total_tasks + d.total,
    pending_tasks = j.pending_tasks + d.pending,
    retrying_tasks = j.retrying_tasks + d.retrying,
    running_tasks = j.running_tasks + d.running,
    completed_tasks = j.completed_tasks + d.completed,
    failed_tasks = j.failed_tasks + d.failed,
    skipped_tasks = j.skipped_tasks + d.skipped,
    -- Only a running job completes here, and only once discovery has ended too (else its root page could
    -- finish before the sitemap's URLs are enqueued); cancelled and failed jobs keep their status.
    status = case when j.status = 'running' and public.job_is_drained(j, d) then 'completed' else j.status end,
    completed_at = case when j.status = 'running' and public.job_is_drained(j, d) then now()
      else j.completed_at end,
    last_claimed_at = case when d.running > 0 then now() else j.last_claimed_at end,
    -- An attempt ended (finished, failed for good, skipped or waiting to retry): the job is not stalled.
    last_progress_at = case when d.completed + d.failed + d.skipped > 0 or d.retrying > 0 then now()
      else j.last_progress_at end,
    updated_at = now()
  from unnest(deltas) d
  where j.id = d.job_id;
end
$$;

-- Nothing of the job is left to run once the delta is applied, and discovery has ended.
create function public.job_is_drained(j public.jobs, d public.job_task_delta) returns boolean
language sql immutable as $$
  select j.discovery_status in ('done', 'skipped', 'failed')
    and j.total_tasks + d.total > 0
    and j.pending_tasks + d.pending = 0
    and j.retrying_tasks + d.retrying = 0
    and j.running_tasks + d.running = 0
$$;

create function public.tasks_count_inserted() returns trigger language plpgsql as $$
begin
  perform public.apply_job_task_deltas(array(
    select row(
      job_id,
      count(*),
      count(*) filter (where status = 'pending'),
      count(*) filter (where status = 'retrying'),
      count(*) filter (where status = 'running'),
      count(*) filter (where status = 'completed'),
      count(*) filter (where status = 'failed'),
      count(*) filter (where status = 'skipped')
    )::public.job_task_delta
    from new_rows group by job_id
  ));
  return null;
end
$$;

create function public.tasks_count_updated() returns trigger language plpgsql as $$
begin
  perform public.apply_job_task_deltas(array(
    select row(d.job_id, 0, d.pending, d.retrying, d.running, d.completed, d.failed, d.skipped)::public.job_task_delta
    from (
      select
        job_id,
        coalesce(sum(n) filter (where status = 'pending'), 0) as pending,
        coalesce(sum(n) filter (where status = 'retrying'), 0) as retrying,
        coalesce(sum(n) filter (where status = 'running'), 0) as running,
        coalesce(sum(n) filter (where status = 'completed'), 0) as completed,
        coalesce(sum(n) filter (where status = 'failed'), 0) as failed,
        coalesce(sum(n) filter (where status = 'skipped'), 0) as skipped
      from (
        select job_id, status, 1 as n from new_rows
        union all
        select job_id, status, -1 from old_rows
      ) changes
      group by job_id
    ) d
    -- Lease extensions and result writes that keep the status change no counter.
    where (d.pending, d.retrying, d.running, d.completed, d.failed, d.skipped) <> (0, 0, 0, 0, 0, 0)
  ));
  return null;
end
$$;

-- Pruned tasks of finished jobs leave the job's counters as its final record.
create function public.tasks_count_deleted() returns trigger language plpgsql as $$
begin
  perform public.apply_job_task_deltas(array(
    select row(
      o.job_id,
      -count(*),
      -count(*) filter (where o.status = 'pending'),
      -count(*) filter (where o.status = 'retrying'),
      -count(*) filter (where o.status = 'running'),
      -count(*) filter (where o.status = 'completed'),
      -count(*) filter (where o.status = 'failed'),
      -count(*) filter (where o.status = 'skipped')
    )::public.job_task_delta
    from old_rows o
    join public.jobs j on j.id = o.job_id and j.status in ('pending', 'running')
    group by o.job_id
  ));
  return null;
end
$$;

-- PostgreSQL fires triggers in name order; the number keeps counters ahead of anything added later that
-- reads them.
-- A job's progress follows its counters, whatever changes them. BEFORE, in the same row version, so the counter
-- update stays one HOT update.
create function public.jobs_set_progress() returns trigger
language plpgsql as $$
begin
  new.progress := case when new.total_tasks = 0 then 0
    else round(100.0 * (new.completed_tasks + new.failed_tasks + new.skipped_tasks) / new.total_tasks, 2) end;
  return new;
end
$$;
create trigger _010_set_progress before insert or update of total_tasks, completed_tasks, failed_tasks,
  skipped_tasks on public.jobs for each row execute function public.jobs_set_progress();

create trigger _100_count_inserted after insert on public.tasks
  referencing new table as new_rows for each statement execute function public.tasks_count_inserted();
create trigger _100_count_updated after update on public.tasks
  referencing old table as old_rows new table as new_rows
  for each statement execute function public.tasks_count_updated();
create trigger _100_count_deleted after delete on public.tasks
  referencing old table as old_rows for each statement execute function public.tasks_count_deleted();

-- Internal to the queue; never callable through a Supabase API.
revoke execute on function public.apply_job_task_deltas(public.job_task_delta[]) from public, anon, authenticated;
revoke execute on function public.job_is_drained(public.jobs, public.job_task_delta) from public, anon, authenticated;
revoke execute on function public.lock_jobs(uuid[]) from public, anon, authenticated;
revoke execute on function public.lock_task_jobs(bigint[]) from public, anon, authenticated;
-- The queue functions granted to service_role call these with the caller's rights.
grant execute on function public.apply_job_task_deltas(public.job_task_delta[]) to service_role;
grant execute on function public.job_is_drained(public.jobs, public.job_task_delta) to service_role;
grant execute on function public.lock_jobs(uuid[]) to service_role;
grant execute on function public.lock_task_jobs(bigint[]) to service_role;
