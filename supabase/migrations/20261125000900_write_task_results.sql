-- write_task_results: everything a worker's result batch needs, in one call and so one transaction and one
-- commit: first the links its pages found (per job, jobs in id order so concurrent writers lock them in the
-- same order), then the completions and the failures. Links of a job deleted meanwhile are dropped.
-- p_links: [{job_id, url, found_on, depth, priority}]; p_results / p_failures: as complete_tasks / fail_tasks.
create function public.write_task_results(p_links jsonb, p_results jsonb, p_failures jsonb)
returns table (links integer, completed integer, retried integer, failed integer, lost integer)
language plpgsql as $$
#variable_conflict use_column
declare
  v_job uuid;
  v_links integer := 0;
  v_completed integer := 0;
  v_retried integer := 0;
  v_failed integer := 0;
  v_n integer;
begin
  for v_job in
    select distinct (l ->> 'job_id')::uuid from jsonb_array_elements(coalesce(p_links, '[]')) l order by 1
  loop
    continue when not exists (select 1 from public.jobs j where j.id = v_job);
    with items as (
      select l ->> 'url' as url, l ->> 'found_on' as found_on, (l ->> 'depth')::integer as depth,
        (l ->> 'priority')::integer as priority, ord
      from jsonb_array_elements(p_links) with ordinality as x(l, ord)
      where (l ->> 'job_id')::uuid = v_job
    )
    select count(*) filter (where e.outcome = 'inserted') into v_n
    from public.enqueue_batch(
      v_job,
      array(select url from items order by ord),
      'link',
      array(select found_on from items order by ord),
      array(select priority from items order by ord),
      array(select depth from items order by ord)
    ) e;
    v_links := v_links + v_n;
  end loop;

  if jsonb_array_length(coalesce(p_results, '[]')) > 0 then
    select count(*) into v_completed from public.complete_tasks(p_results);
  end if;
  if jsonb_array_length(coalesce(p_failures, '[]')) > 0 then
    select count(*) filter (where f.status = 'pending'), count(*) filter (where f.status = 'failed')
    into v_retried, v_failed
    from public.fail_tasks(p_failures) f;
  end if;

  return query select v_links, v_completed, v_retried, v_failed,
    jsonb_array_length(coalesce(p_results, '[]')) + jsonb_array_length(coalesce(p_failures, '[]'))
      - v_completed - v_retried - v_failed;
end
$$;

revoke execute on function public.write_task_results(jsonb, jsonb, jsonb) from public, anon, authenticated;
grant execute on function public.write_task_results(jsonb, jsonb, jsonb) to service_role;
