-- enqueue_urls: one call per batch of discovered URLs. Dedupes per job on (job_id, url), stops at
-- max_pages, and reports each invalid URL with a reason instead of failing the batch.
-- Returns one row per inserted task (outcome 'inserted') and one per invalid URL (outcome 'rejected').
-- Duplicates and URLs beyond max_pages are dropped silently: they are normal during a crawl.
-- enqueue_batch takes a found_on, priority and depth per URL, so a worker writes the links of a whole batch
-- of pages in one statement per job; enqueue_urls is the one-source-page form of it.

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

create function public.enqueue_batch(
  p_job_id uuid,
  p_urls text[],
  p_source text,
  p_found_on text[],
  p_priorities integer[],
  p_depths integer[]
)
returns table (task_id bigint, url text, outcome text, reason text)
language plpgsql as $$
-- The output columns share names with table columns; inside queries, names mean columns.
#variable_conflict use_column
declare
  v_job public.jobs%rowtype;
  v_ids bigint[];
  v_urls text[];
begin
  if p_source not in ('root', 'sitemap', 'link') then
    raise exception 'enqueue_batch: source must be root, sitemap or link, not %', p_source
      using errcode = '22023';
  end if;

  -- Locking the job serialises enqueues into it, which is what makes the max_pages check exact.
  select * into v_job from public.jobs j where j.id = p_job_id for no key update;
  if not found then
    raise exception 'unknown job %', p_job_id using errcode = 'P0002', hint = 'Check the job id.';
  end if;

  if v_job.status not in ('pending', 'running') then
    return query
      select null::bigint, u.url, 'rejected'::text, format('job is %s', v_job.status)
      from unnest(p_urls) as u(url);
    return;
  end if;

  with input as (
    select u.url, u.ord, coalesce(p_priorities[u.ord], 0) as priority, p_found_on[u.ord] as found_on,
      coalesce(p_depths[u.ord], 0) as depth
    from unnest(p_urls) with ordinality as u(url, ord)
  ),
  valid as (
    select distinct on (i.url) i.url, i.ord, i.priority, i.found_on, i.depth,
      coalesce(substring(i.url from '^https?://[^/?#]+(/[^#]*)?$'), '/') as path
    from input i
    where public.url_rejection(i.url) is null
    order by i.url, i.ord
  ),
  fresh as (
    select v.* from valid v
    where not exists (select 1 from public.tasks t where t.job_id = p_job_id and t.url = v.url)
    order by v.ord
    limit greatest(v_job.max_pages - v_job.total_tasks, 0)
  ),
  -- Pages are shared across jobs, so concurrent upserts from two jobs must take row locks in one order.
  page_rows as (
    insert into public.pages (domain_id, path)
    select distinct v_job.domain_id, f.path from fresh f order by f.path
    on conflict (domain_id, path) do update set last_seen_at = now()
    returning id, path
  ),
  inserted as (
    insert into public.tasks (job_id, page_id, url, source, found_on, priority, depth, max_attempts)
    select p_job_id, p.id, f.url, p_source, f.found_on, f.priority, f.depth, v_job.max_attempts
    from fresh f join page_rows p on p.path = f.path
    order by f.ord
    on conflict (job_id, url) do nothing
    returning id, tasks.url
  )
  select coalesce(array_agg(i.id), '{}'), coalesce(array_agg(i.url), '{}') into v_ids, v_urls from inserted i;

  if cardinality(v_ids) > 0 then
    -- One wake-up per batch, not per row: NOTIFY takes a global lock at commit.
    perform pg_notify('bbb_tasks', p_job_id::text);
  end if;

  return query
    select i.id, i.url, 'inserted'::text, null::text from unnest(v_ids, v_urls) as i(id, url)
    union all
    select null::bigint, u.url, 'rejected'::text, public.url_rejection(u.url)
    from unnest(p_urls) as u(url)
    where public.url_rejection(u.url) is not null;
end
$$;

revoke execute on function public.enqueue_batch(uuid, text[], text, text[], integer[], integer[])
  from public, anon, authenticated;
grant execute on function public.enqueue_batch(uuid, text[], text, text[], integer[], integer[]) to service_role;

create function public.enqueue_urls(
  p_job_id uuid,
  p_urls text[],
  p_source text default 'link',
  p_found_on text default null,
  p_priorities integer[] default null,
  p_depth integer default 0
)
returns table (task_id bigint, url text, outcome text, reason text)
language sql volatile as $$
  select * from public.enqueue_batch(
    p_job_id, p_urls, p_source,
    array_fill(p_found_on, array[cardinality(p_urls)]),
    p_priorities,
    array_fill(p_depth, array[cardinality(p_urls)])
  )
$$;

revoke execute on function public.enqueue_urls(uuid, text[], text, text, integer[], integer)
  from public, anon, authenticated;
grant execute on function public.enqueue_urls(uuid, text[], text, text, integer[], integer) to service_role;
