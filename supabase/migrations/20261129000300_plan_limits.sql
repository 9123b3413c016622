-- Plan limits, enforced in the database so no client path can skip them:
--   * jobs per 30 days and pages per job: the jobs INSERT policy (WITH CHECK) calls check_job_limits();
--   * pages per UTC day: claim_tasks stops handing out an organisation's tasks once its quota, or its
--     creator's quota across all the organisations they created, is used, and starts again the next UTC day.
--     The job stays running meanwhile; it is paused, not failed. That part, with org_pages_remaining() and the
--     usage tables, lives with the claim (20261125000400_claim_tasks.sql);
--   * organisations per user: create_organisation (max_organisations_per_user(), in the policies migration).

-- The INSERT policy's limit check. Raises a specific SQLSTATE so the API can say which limit was hit:
--   BBB01 jobs per 30 days, BBB02 pages per job. Returns false (a plain RLS refusal) for non-members.
create function public.check_job_limits(p_org uuid, p_max_pages integer) returns boolean
language plpgsql volatile security definer set search_path = '' as $$
declare
  v_plan public.plans;
  v_recent integer;
begin
  if not exists (select 1 from public.organisation_members
                 where organisation_id = p_org and user_id = (select auth.uid())) then
    return false;
  end if;
  select p.* into v_plan from public.organisations o join public.plans p on p.id = o.plan_id where o.id = p_org;
  if p_max_pages > v_plan.max_pages_per_job then
    raise exception 'the % plan allows at most % pages per job', v_plan.name, v_plan.max_pages_per_job
      using errcode = 'BBB02', hint = 'Lower max_pages or upgrade the plan.';
  end if;
  -- Two creates at once must not both take the last slot: serialise them per organisation. The count below
  -- runs after the wait with a fresh snapshot (this function is volatile), so it sees the other's job.
  perform pg_advisory_xact_lock(hashtextextended('bbb.job_limit:' || p_org::text, 0));
  -- An index range scan on (organisation_id, created_at), stopping at the limit.
  select count(*) into v_recent from (
    select 1 from public.jobs
    where organisation_id = p_org and created_at > now() - interval '30 days'
    limit v_plan.jobs_per_30_days
  ) recent;
  if v_recent >= v_plan.jobs_per_30_days then
    raise exception 'the % plan allows % jobs in 30 days, and they are used', v_plan.name,
      v_plan.jobs_per_30_days
      using errcode = 'BBB01', hint = 'Wait for older jobs to age out or upgrade the plan.';
  end if;
  return true;
end
$$;

-- A job's domain, which tenants cannot write directly. An existing domain is only read, so creating jobs for
-- the same site never queues on its row; a new one is inserted, and when another transaction inserted it
-- first, read again (a fresh snapshot per statement). The service's only: jobs get theirs from the trigger below.
create function public.ensure_domain(p_host text) returns bigint
language plpgsql volatile security definer set search_path = '' as $$
declare
  v_id bigint;
begin
  select id into v_id from public.domains where host = lower(p_host);
  if v_id is null then
    insert into public.domains (host) values (lower(p_host)) on conflict (host) do nothing returning id into v_id;
  end if;
  if v_id is null then
    select id into v_id from public.domains where host = lower(p_host);
  end if;
  return v_id;
end
$$;

-- A job's domain is always its root URL's host: derived here for every insert, whoever makes it, so no job
-- can name another domain, and neither the jobs INSERT policy nor a tenant needs a domain function. BEFORE,
-- so the policy and the NOT NULL check see the domain. SECURITY DEFINER, because it writes a table tenants
-- may not; a trigger function cannot be called directly.
--
-- The crawler reads the URL with the WHATWG parser, and this regex agrees with it only on plainly written
-- URLs, such as src/crawler/url.ts makes: the host is what follows the authority's last '@', before any port.
-- Elsewhere they part: the parser ends the authority at a backslash (https://evil.test\@victim.test/ is
-- evil.test to it and victim.test to the regex), drops tabs and newlines, trims spaces and control
-- characters, percent-decodes and IDNA-maps the host. So a root URL with any of those is refused (23514, a
-- 400 from the API), never guessed at.
create function public.jobs_set_domain() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  v_authority text := substring(new.root_url from '^https?://([^/?#]*)');
  v_host text := substring(v_authority from '^(?:.*@)?(\[[^]]*\]|[^:]*)');
begin
  if v_authority is null or v_host = '' or new.root_url ~ '[[:space:][:cntrl:]]'
     or v_authority ~ '[^\x21-\x7e]' or strpos(v_authority, '\') > 0 or strpos(v_host, '%') > 0 then
    raise exception 'root_url must be an http(s) URL written plainly, as bbb normalises it: no backslash, whitespace or control character, and no percent-encoding or non-ASCII character in its host'
      using errcode = '23514', hint = 'Normalise the URL first (new URL(url).href); the API does.';
  end if;
  new.domain_id := public.ensure_domain(v_host);
  return new;
end
$$;
create trigger _050_set_domain before insert or update of root_url, domain_id on public.jobs
  for each row execute function public.jobs_set_domain();

create policy jobs_insert on public.jobs for insert to authenticated
  with check (
    created_by = (select auth.uid())
    and source = 'manual'
    and public.check_job_limits(organisation_id, max_pages));

revoke execute on function public.check_job_limits(uuid, integer) from public, anon;
grant execute on function public.check_job_limits(uuid, integer) to authenticated, service_role;
revoke execute on function public.ensure_domain(text) from public, anon, authenticated;
grant execute on function public.ensure_domain(text) to service_role;
