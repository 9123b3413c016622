-- Job counters and completion, kept by statement-level triggers with transition tables: a batch of 100
-- task changes updates its job row once, and nothing ever runs COUNT(*) per change (the original version's
-- largest database cost).

create type public.job_task_delta as (
  job_id uuid,
  total integer,
  pending integer,
  running integer,
  completed integer,
  failed integer,
  skipped integer
);

create function public.apply_job_task_deltas(deltas public.job_task_delta[])
returns void language plpgsql as $$
begin
  if cardinality(deltas) = 0 then
    return;
  end if;
  -- Lock the jobs in id order: concurrent batches touching the same jobs then queue instead of deadlocking.
  -- NO KEY UPDATE, so inserts of tasks (which take KEY SHARE on their job for the foreign key) do not wait.
  perform 1 from public.jobs
  where id in (select d.job_id from unnest(deltas) d)
  order by id
  for no key update;

  update public.jobs j set
    total_tasks = j.total_tasks + d.total,
    pending_tasks = j.pending_tasks + d.pending,
    running_tasks = j.running_tasks + d.running,
    completed_tasks = j.completed_tasks + d.completed,
    failed_tasks = j.failed_tasks + d.failed,
    skipped_tasks = j.skipped_tasks + d.skipped,
    -- Only a running job completes here, and only once discovery has finished too (else its root page could
    -- finish before the sitemap's URLs are enqueued); cancelled and failed jobs keep their status.
    status = case
      when j.status = 'running' and j.discovery_status in ('done', 'skipped')
        and j.total_tasks + d.total > 0 and j.pending_tasks + d.pending = 0 and j.running_tasks + d.running = 0
      then 'completed' else j.status end,
    completed_at = case
      when j.status = 'running' and j.discovery_status in ('done', 'skipped')
        and j.total_tasks + d.total > 0 and j.pending_tasks + d.pending = 0 and j.running_tasks + d.running = 0
      then now() else j.completed_at end,
    last_claimed_at = case when d.running > 0 then now() else j.last_claimed_at end,
    last_progress_at = case
      when d.completed + d.failed + d.skipped > 0 then now() else j.last_progress_at end,
    updated_at = now()
  from unnest(deltas) d
  where j.id = d.job_id;
end
$$;

create function public.tasks_count_inserted() returns trigger language plpgsql as $$
begin
  perform public.apply_job_task_deltas(array(
    select row(
      job_id,
      count(*),
      count(*) filter (where status = 'pending'),
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
    select row(d.job_id, 0, d.pending, d.running, d.completed, d.failed, d.skipped)::public.job_task_delta
    from (
      select
        job_id,
        coalesce(sum(n) filter (where status = 'pending'), 0) as pending,
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
    where (d.pending, d.running, d.completed, d.failed, d.skipped) <> (0, 0, 0, 0, 0)
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
create trigger _100_count_inserted after insert on public.tasks
  referencing new table as new_rows for each statement execute function public.tasks_count_inserted();
create trigger _100_count_updated after update on public.tasks
  referencing old table as old_rows new table as new_rows
  for each statement execute function public.tasks_count_updated();
create trigger _100_count_deleted after delete on public.tasks
  referencing old table as old_rows for each statement execute function public.tasks_count_deleted();

-- Internal to the triggers; never callable through a Supabase API.
revoke execute on function public.apply_job_task_deltas(public.job_task_delta[]) from public, anon, authenticated;
