-- write_task_results: everything a worker's result batch needs, in one call and so one transaction and one
-- commit. It first locks every job the batch involves (the links' jobs and the results' jobs) in one ordered
-- statement, the lock order every queue function follows; then the links its pages found (one enqueue for all
-- jobs), then the completions and the failures. Links of a job deleted or stopped meanwhile are dropped.
-- p_links: [{job_id, url, found_on, depth, priority}]; p_results / p_failures: as complete_tasks / fail_tasks.
create function public.write_task_results(p_links jsonb, p_results jsonb, p_failures jsonb)
returns table (links integer, completed integer, retried integer, failed integer, lost integer)
language plpgsql as $$
#variable_conflict use_column
declare
  v_links integer := 0;
  v_completed integer := 0;
  v_retried integer := 0;
  v_failed integer := 0;
  v_results integer := jsonb_array_length(coalesce(p_results, '[]'));
  v_failures integer := jsonb_array_length(coalesce(p_failures, '[]'));
begin
  perform public.lock_jobs(array(
    select (l ->> 'job_id')::uuid from jsonb_array_elements(coalesce(p_links, '[]')) l
    union
    select t.job_id from public.tasks t
    where t.id in (
      select (e ->> 'id')::bigint
      from jsonb_array_elements(coalesce(p_results, '[]') || coalesce(p_failures, '[]')) e)));

  if jsonb_array_length(coalesce(p_links, '[]')) > 0 then
    with items as (
      select (l ->> 'job_id')::uuid as job_id, l ->> 'url' as url, l ->> 'found_on' as found_on,
        (l ->> 'depth')::integer as depth, (l ->> 'priority')::integer as priority, ord
      from jsonb_array_elements(p_links) with ordinality as x(l, ord)
    )
    select count(*) filter (where e.outcome = 'inserted') into v_links
    from public.enqueue_tasks(
      array(select job_id from items order by ord),
      array(select url from items order by ord),
      'link',
      array(select found_on from items order by ord),
      array(select priority from items order by ord),
      array(select depth from items order by ord)
    ) e;
  end if;

  if v_results > 0 then
    select count(*) into v_completed from public.complete_tasks(p_results);
  end if;
  if v_failures > 0 then
    select count(*) filter (where f.status = 'retrying'), count(*) filter (where f.status = 'failed')
    into v_retried, v_failed
    from public.fail_tasks(p_failures) f;
  end if;

  return query select v_links, v_completed, v_retried, v_failed, v_results + v_failures - v_completed - v_retried - v_failed;
end
$$;

revoke execute on function public.write_task_results(jsonb, jsonb, jsonb) from public, anon, authenticated;
grant execute on function public.write_task_results(jsonb, jsonb, jsonb) to service_role;
