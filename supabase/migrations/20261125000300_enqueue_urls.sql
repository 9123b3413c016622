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
  v_live uuid[];
  v_refused bigint[];
  v_reasons text[];
  -- The URLs to insert, one array per column, in insert order.
  k_job uuid[];
  k_url text[];
  k_found text[];
  k_priority integer[];
  k_depth integer[];
  k_domain bigint[];
  k_path text[];
  k_attempts smallint[];
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
  -- (Locked first, into a variable: called inside the query below it would run once per jobs row.)
  v_live := public.lock_jobs(array(select distinct unnest(p_job_ids)));
  v_live := array(select j.id from public.jobs j where j.id = any (v_live) and j.status in ('pending', 'running'));

  -- Each URL is checked once; the refused ones are reported at the end.
  select coalesce(array_agg(u.ord), '{}'), coalesce(array_agg(u.reason), '{}') into v_refused, v_reasons
  from (
    select x.ord, public.url_rejection(x.url) as reason
    from unnest(p_urls) with ordinality as x(url, ord)
  ) u
  where u.reason is not null;

  -- What to insert is worked out first, into arrays: planned as one statement with the inserts, the joins
  -- between CTEs estimated at one row each became nested loops, quadratic in the batch.
  with input as (
    select u.job_id, u.url, u.ord, coalesce(u.priority, 0) as priority, u.found_on, coalesce(u.depth, 0) as depth
    from unnest(p_job_ids, p_urls, p_found_on, p_priorities, p_depths)
      with ordinality as u(job_id, url, found_on, priority, depth, ord)
    where u.ord <= cardinality(p_urls) and u.job_id = any (v_live) and not (u.ord = any (v_refused))
  ),
  valid as (
    select distinct on (i.job_id, i.url) i.*,
      coalesce(substring(i.url from '^https?://[^/?#]+(/[^#]*)?$'), '/') as path
    from input i
    order by i.job_id, i.url, i.ord
  ),
  fresh as (
    select v.*, j.domain_id, j.max_attempts, greatest(j.max_pages - j.total_tasks, 0) as room,
      row_number() over (partition by v.job_id order by v.ord) as nth
    from valid v join public.jobs j on j.id = v.job_id
    where not exists (select 1 from public.tasks t where t.job_id = v.job_id and t.url = v.url)
  )
  select array_agg(f.job_id order by f.job_id, f.ord), array_agg(f.url order by f.job_id, f.ord),
    array_agg(f.found_on order by f.job_id, f.ord), array_agg(f.priority order by f.job_id, f.ord),
    array_agg(f.depth order by f.job_id, f.ord), array_agg(f.domain_id order by f.job_id, f.ord),
    array_agg(f.path order by f.job_id, f.ord), array_agg(f.max_attempts order by f.job_id, f.ord)
  into k_job, k_url, k_found, k_priority, k_depth, k_domain, k_path, k_attempts
  from fresh f where f.nth <= f.room;

  if k_job is not null then
    -- Pages are shared across jobs and organisations. An existing one is left alone (no row lock, no new
    -- version); a new one inserted by a concurrent call is waited for, in one global order, so two calls
    -- cannot wait on each other.
    insert into public.pages (domain_id, path)
    select distinct k.domain_id, k.path from unnest(k_domain, k_path) as k(domain_id, path) order by 1, 2
    on conflict (domain_id, path) do nothing;

    with inserted as (
      insert into public.tasks (job_id, page_id, url, source, found_on, priority, depth, max_attempts)
      select k.job_id, p.id, k.url, p_source, k.found_on, k.priority, k.depth, k.max_attempts
      from unnest(k_job, k_url, k_found, k_priority, k_depth, k_domain, k_path, k_attempts)
        with ordinality as k(job_id, url, found_on, priority, depth, domain_id, path, max_attempts, n)
      join public.pages p on p.domain_id = k.domain_id and p.path = k.path
      order by k.n
      on conflict (job_id, url) do nothing
      returning tasks.job_id, tasks.id, tasks.url
    )
    select coalesce(array_agg(i.job_id), '{}'), coalesce(array_agg(i.id), '{}'), coalesce(array_agg(i.url), '{}')
    into v_jobs, v_ids, v_urls
    from inserted i;
  end if;

  if cardinality(v_ids) > 0 then
    -- One wake-up per call, not per row: NOTIFY takes a global lock at commit. The payload names the jobs,
    -- up to 100 of them (3,700 bytes): a payload has to stay under 8,000 bytes, and an empty one, sent for a
    -- call spanning more jobs, wakes every listener just the same.
    perform pg_notify('bbb_tasks', (
      select case when count(*) <= 100 then string_agg(j::text, ',') else '' end
      from (select distinct unnest(v_jobs) as j) d));
  end if;

  return query
    select i.job_id, i.id, i.url, 'inserted'::text, null::text from unnest(v_jobs, v_ids, v_urls) as i(job_id, id, url)
    union all
    select u.job_id, null::bigint, u.url, 'rejected'::text,
      coalesce(r.reason, case when j.id is null then 'unknown job' else format('job is %s', j.status) end)
    from unnest(p_job_ids, p_urls) with ordinality as u(job_id, url, ord)
    left join unnest(v_refused, v_reasons) as r(ord, reason) on r.ord = u.ord
    left join public.jobs j on j.id = u.job_id
    where r.reason is not null or not coalesce(u.job_id = any (v_live), false);
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
