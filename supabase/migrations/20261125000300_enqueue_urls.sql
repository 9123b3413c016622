-- enqueue_tasks: one call per batch of discovered URLs, for any number of jobs (a worker's result batch holds
-- the links of pages from several jobs). Dedupes per job on (job_id, url), stops at each job's max_pages, and
-- reports each invalid URL with a reason instead of failing the batch.
-- Returns one row per inserted task (outcome 'inserted') and one per refused URL (outcome 'rejected': invalid,
-- or its job is unknown or no longer running). Duplicates and URLs beyond max_pages are dropped silently: they
-- are normal during a crawl. enqueue_urls is the one-job, one-source-page form of it.

-- The last line of defence for URLs reaching the queue; the crawler normalises before it enqueues.
create function public.url_rejection(p_url text) returns text
language sql immutable parallel safe as $$
  select case
    when p_url is null or p_url = '' then 'empty URL'
    when length(p_url) > 2048 then 'URL is longer than 2048 characters'
    when p_url !~* '^https?://' then 'not an http or https URL'
    when p_url ~ '[\s<>"{}|\\^`]' then 'URL contains characters that must be percent-encoded'
    when p_url ~ '#' then 'URL has a fragment; strip it before enqueueing'
    when p_url !~* '^https?://[a-z0-9.\-\[\]:]+(/[^#]*)?$' then 'URL has no valid host'
  end
$$;

create function public.enqueue_tasks(
  p_job_ids uuid[],
  p_urls text[],
  p_source text,
  p_found_on text[] default null,
  p_priorities integer[] default null,
  p_depths integer[] default null
)
returns table (job_id uuid, task_id bigint, url text, outcome text, reason text)
language plpgsql as $$
-- The output columns share names with table columns; inside queries, names mean columns.
#variable_conflict use_column
declare
  v_jobs uuid[];
  v_ids bigint[];
  v_urls text[];
begin
  if p_source is null or p_source not in ('root', 'sitemap', 'link') then
    raise exception 'enqueue_tasks: source must be root, sitemap or link, not %', p_source
      using errcode = '22023';
  end if;
  if cardinality(p_job_ids) is distinct from cardinality(p_urls) then
    raise exception 'enqueue_tasks: % job ids for % URLs', cardinality(p_job_ids), cardinality(p_urls)
      using errcode = '22023', hint = 'Pass one job id per URL.';
  end if;

  -- Holding the jobs serialises enqueues into each of them, which is what makes the max_pages check exact.
  perform public.lock_jobs(array(select distinct unnest(p_job_ids)));

  with input as (
    select u.job_id, u.url, u.ord, coalesce(u.priority, 0) as priority, u.found_on, coalesce(u.depth, 0) as depth
    from unnest(p_job_ids, p_urls, p_found_on, p_priorities, p_depths)
      with ordinality as u(job_id, url, found_on, priority, depth, ord)
    where u.ord <= cardinality(p_urls)
  ),
  live as (
    select j.id, j.domain_id, j.max_attempts, greatest(j.max_pages - j.total_tasks, 0) as room
    from public.jobs j
    where j.id in (select i.job_id from input i) and j.status in ('pending', 'running')
  ),
  valid as (
    select distinct on (i.job_id, i.url) i.job_id, i.url, i.ord, i.priority, i.found_on, i.depth,
      coalesce(substring(i.url from '^https?://[^/?#]+(/[^#]*)?$'), '/') as path
    from input i
    where public.url_rejection(i.url) is null and i.job_id in (select l.id from live l)
    order by i.job_id, i.url, i.ord
  ),
  fresh as (
    select v.*, l.domain_id, l.max_attempts, l.room,
      row_number() over (partition by v.job_id order by v.ord) as nth
    from valid v join live l on l.id = v.job_id
    where not exists (select 1 from public.tasks t where t.job_id = v.job_id and t.url = v.url)
  ),
  kept as (select f.* from fresh f where f.nth <= f.room),
  -- Pages are shared across jobs and organisations: one statement takes their row locks in one global order.
  page_rows as (
    insert into public.pages (domain_id, path)
    select distinct k.domain_id, k.path from kept k order by 1, 2
    on conflict (domain_id, path) do update set last_seen_at = now()
    returning id, domain_id, path
  ),
  inserted as (
    insert into public.tasks (job_id, page_id, url, source, found_on, priority, depth, max_attempts)
    select k.job_id, p.id, k.url, p_source, k.found_on, k.priority, k.depth, k.max_attempts
    from kept k join page_rows p on p.domain_id = k.domain_id and p.path = k.path
    order by k.job_id, k.ord
    on conflict (job_id, url) do nothing
    returning tasks.job_id, tasks.id, tasks.url
  )
  select coalesce(array_agg(i.job_id), '{}'), coalesce(array_agg(i.id), '{}'), coalesce(array_agg(i.url), '{}')
  into v_jobs, v_ids, v_urls
  from inserted i;

  if cardinality(v_ids) > 0 then
    -- One wake-up per call, not per row: NOTIFY takes a global lock at commit. The payload names the jobs.
    perform pg_notify('bbb_tasks', (select string_agg(distinct j::text, ',') from unnest(v_jobs) j));
  end if;

  return query
    select i.job_id, i.id, i.url, 'inserted'::text, null::text from unnest(v_jobs, v_ids, v_urls) as i(job_id, id, url)
    union all
    select u.job_id, null::bigint, u.url, 'rejected'::text,
      coalesce(public.url_rejection(u.url), case when j.id is null then 'unknown job' else format('job is %s', j.status) end)
    from unnest(p_job_ids, p_urls) as u(job_id, url)
    left join public.jobs j on j.id = u.job_id
    where public.url_rejection(u.url) is not null or j.id is null or j.status not in ('pending', 'running');
end
$$;

revoke execute on function public.enqueue_tasks(uuid[], text[], text, text[], integer[], integer[])
  from public, anon, authenticated;
grant execute on function public.enqueue_tasks(uuid[], text[], text, text[], integer[], integer[]) to service_role;

-- One job, one source page. An unknown job is an error here (SQLSTATE P0002), since the caller named it.
create function public.enqueue_urls(
  p_job_id uuid,
  p_urls text[],
  p_source text default 'link',
  p_found_on text default null,
  p_priorities integer[] default null,
  p_depth integer default 0
)
returns table (task_id bigint, url text, outcome text, reason text)
language plpgsql as $$
#variable_conflict use_column
begin
  if not exists (select 1 from public.jobs j where j.id = p_job_id) then
    raise exception 'unknown job %', p_job_id using errcode = 'P0002', hint = 'Check the job id.';
  end if;
  return query
    select e.task_id, e.url, e.outcome, e.reason
    from public.enqueue_tasks(
      array_fill(p_job_id, array[coalesce(cardinality(p_urls), 0)]), coalesce(p_urls, '{}'), p_source,
      array_fill(p_found_on, array[coalesce(cardinality(p_urls), 0)]), p_priorities,
      array_fill(p_depth, array[coalesce(cardinality(p_urls), 0)])) e;
end
$$;

revoke execute on function public.enqueue_urls(uuid, text[], text, text, integer[], integer)
  from public, anon, authenticated;
grant execute on function public.enqueue_urls(uuid, text[], text, text, integer[], integer) to service_role;
grant execute on function public.url_rejection(text) to service_role;
