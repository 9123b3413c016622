-- Row Level Security: the tenant boundary. The API runs every user query as role `authenticated` with the
-- JWT's claims set (as PostgREST does), so these policies decide what a user sees and changes.
--
-- Membership lookups go through SECURITY DEFINER helpers: a policy on organisation_members that queried
-- organisation_members would recurse. Policies call them as `(select ...)` so they run once per statement,
-- not once per row (Supabase's RLS performance advice).

-- PL/pgSQL rather than SQL: a security-definer SQL function is never inlined, and PL/pgSQL keeps its plan for
-- the session, which halved realtime's per-subscriber RLS check (docs/benchmarks.md#realtime).
create function public.user_organisation_ids()
returns setof uuid
language plpgsql stable security definer set search_path = '' as $$
begin
  return query select m.organisation_id from public.organisation_members m where m.user_id = auth.uid();
end
$$;

create function public.has_org_role(p_org uuid, p_roles text[])
returns boolean
language sql stable security definer set search_path = '' as $$
  select exists (
    select 1 from public.organisation_members
    where organisation_id = p_org and user_id = (select auth.uid()) and role = any (p_roles)
  );
$$;

-- The job a share-link token opens, if any. The token arrives as the `x-share-token` request header, which
-- PostgREST exposes as `request.headers` and the bbb API sets the same way; only its hash is stored.
create function public.shared_job_id()
returns uuid
language plpgsql stable security definer set search_path = '' as $$
declare
  v_token text := nullif(pg_catalog.current_setting('request.headers', true), '')::json ->> 'x-share-token';
begin
  if v_token is null then
    return null;
  end if;
  return (select s.job_id from public.job_share_links s
    where s.token_hash = pg_catalog.sha256(pg_catalog.convert_to(v_token, 'UTF8'))
      and s.revoked_at is null and s.expires_at > pg_catalog.now());
end
$$;

-- Only signed-in users' policies call the membership helpers; anon's (a share link's) need shared_job_id alone.
-- Each answers about the caller's own memberships only, so calling them directly reveals nothing more.
revoke execute on function public.user_organisation_ids() from public, anon;
revoke execute on function public.has_org_role(uuid, text[]) from public, anon;
grant execute on function public.user_organisation_ids() to authenticated, service_role;
grant execute on function public.has_org_role(uuid, text[]) to authenticated, service_role;

-- Default privileges give the API roles every privilege on public's tables and sequences; RLS governs only
-- SELECT, INSERT, UPDATE and DELETE. TRUNCATE ignores RLS, TRIGGER and REFERENCES attach objects to our
-- tables, and sequence privileges allow setval(): none of these is for tenants.
revoke truncate, references, trigger on all tables in schema public from anon, authenticated;
revoke all on all sequences in schema public from anon, authenticated;
alter default privileges in schema public revoke truncate, references, trigger on tables from anon, authenticated;
alter default privileges in schema public revoke all on sequences from anon, authenticated;

-- plans: a public price list; members also read their organisations' plans, which may be unlisted.
create policy plans_read on public.plans for select to anon, authenticated using (listed);
create policy plans_read_own on public.plans for select to authenticated
  using (id in (select o.plan_id from public.organisations o));

-- organisations: members read; owners and admins rename; owners delete. The plan is billing's or an operator's
-- (`bbb organisations set-plan`), never a tenant's: no tenant can write plan_id, nor created_by and is_cli,
-- which quotas and the CLI rely on.
create policy organisations_read on public.organisations for select to authenticated
  using (id in (select public.user_organisation_ids()));
create policy organisations_update on public.organisations for update to authenticated
  using ((select public.has_org_role(id, '{owner,admin}')))
  with check ((select public.has_org_role(id, '{owner,admin}')));
create policy organisations_delete on public.organisations for delete to authenticated
  using ((select public.has_org_role(id, '{owner}')));
-- Organisations are created by create_organisation(), which also makes the caller the owner.
revoke insert, update on public.organisations from anon, authenticated;
grant update (name) on public.organisations to authenticated;

-- organisation_members: members see each other; owners manage everyone, admins manage non-owners; anyone
-- may leave. Making someone an owner takes an owner.
create policy members_read on public.organisation_members for select to authenticated
  using (organisation_id in (select public.user_organisation_ids()));
create policy members_insert on public.organisation_members for insert to authenticated
  with check (
    (select public.has_org_role(organisation_id, '{owner}'))
    or ((select public.has_org_role(organisation_id, '{admin}')) and role <> 'owner'));
create policy members_update on public.organisation_members for update to authenticated
  using (
    (select public.has_org_role(organisation_id, '{owner}'))
    or ((select public.has_org_role(organisation_id, '{admin}')) and role <> 'owner'))
  with check (
    (select public.has_org_role(organisation_id, '{owner}'))
    or ((select public.has_org_role(organisation_id, '{admin}')) and role <> 'owner'));
create policy members_delete on public.organisation_members for delete to authenticated
  using (
    user_id = (select auth.uid())
    or (select public.has_org_role(organisation_id, '{owner}'))
    or ((select public.has_org_role(organisation_id, '{admin}')) and role <> 'owner'));
revoke update on public.organisation_members from anon, authenticated;
grant update (role) on public.organisation_members to authenticated;

-- An organisation always keeps an owner: the last one can be neither demoted nor removed (deleting the
-- organisation itself cascades, and is allowed).
create function public.members_keep_an_owner() returns trigger
language plpgsql as $$
begin
  if old.role = 'owner' and (tg_op = 'DELETE' or new.role <> 'owner') then
    -- Two owners demoting each other at once would each still see the other as owner: take turns per
    -- organisation, and the check below (a fresh snapshot after the wait) sees the first one's change.
    perform pg_advisory_xact_lock(hashtextextended('bbb.org_owners:' || old.organisation_id::text, 0));
  end if;
  if old.role = 'owner' and (tg_op = 'DELETE' or new.role <> 'owner')
     and exists (select 1 from public.organisations where id = old.organisation_id)
     and not exists (
       select 1 from public.organisation_members
       where organisation_id = old.organisation_id and role = 'owner' and user_id <> old.user_id) then
    raise exception 'an organisation needs an owner: make someone else owner first'
      using errcode = 'BBB20';
  end if;
  return case when tg_op = 'DELETE' then old else new end;
end
$$;
create trigger organisation_members_10_keep_owner before update of role or delete
  on public.organisation_members for each row execute function public.members_keep_an_owner();

-- organisation_invites: owners and admins; an owner invite takes an owner. Accepting is accept_invite().
create policy invites_read on public.organisation_invites for select to authenticated
  using ((select public.has_org_role(organisation_id, '{owner,admin}')));
create policy invites_insert on public.organisation_invites for insert to authenticated
  with check (
    created_by = (select auth.uid())
    and ((select public.has_org_role(organisation_id, '{owner}'))
      or ((select public.has_org_role(organisation_id, '{admin}')) and role <> 'owner')));
create policy invites_delete on public.organisation_invites for delete to authenticated
  using ((select public.has_org_role(organisation_id, '{owner,admin}')));
revoke update on public.organisation_invites from anon, authenticated;

-- user_settings: your own row only, pointing at an organisation you belong to.
create policy user_settings_own on public.user_settings for all to authenticated
  using (user_id = (select auth.uid()))
  with check (
    user_id = (select auth.uid())
    and (active_organisation_id is null
      or active_organisation_id in (select public.user_organisation_ids())));

-- jobs: members read their organisations' jobs; a share-link token reads its one job. Inserting is allowed
-- within your organisations and plan (check_job_limits, in the plan limits migration). Changes go through
-- the job service, which checks visibility as the user first.
create policy jobs_read on public.jobs for select to authenticated
  using (organisation_id in (select public.user_organisation_ids()));
create policy jobs_read_shared on public.jobs for select to anon, authenticated
  using (id = (select public.shared_job_id()));
-- Tenants choose a job's options only: status, counters, timestamps and stats are the system's (a back-dated
-- created_at would also slip past the 30-day job limit).
revoke insert, update, delete on public.jobs from anon, authenticated;
-- domain_id is not among them: a trigger derives it from root_url (jobs_set_domain, in the plan limits migration).
grant insert (organisation_id, created_by, root_url, source, max_pages, concurrency, use_sitemap,
  find_links, include_patterns, exclude_patterns, max_attempts, discovery_status) on public.jobs to authenticated;

-- tasks: visible through their job (the jobs policies apply inside the subquery).
create policy tasks_read on public.tasks for select to anon, authenticated
  using (job_id in (select id from public.jobs));
revoke insert, update, delete on public.tasks from anon, authenticated;
-- An owner deleting their organisation cascades to its tasks, and the counters' statement trigger then fires as
-- that tenant, who may not touch job counters: it runs as its owner (a trigger function cannot be called).
alter function public.tasks_count_deleted() security definer set search_path = '';

-- domains: shared across tenants; a tenant sees the host of a job it can see (the API filters jobs by host),
-- and not created_at, which would tell when anyone first crawled that host.
-- pages: shared across tenants and closed to them: no policy, so they read no row. A policy through jobs'
-- domains showed a tenant every path any organisation had crawled on a host it merely created a job for; a
-- tenant's own crawled URLs are its tasks.
create policy domains_read on public.domains for select to authenticated
  using (id in (select domain_id from public.jobs));
revoke all on public.domains from anon, authenticated;
grant select (id, host) on public.domains to anon, authenticated;
revoke insert, update, delete on public.pages from anon, authenticated;

-- job_share_links: members of the job's organisation create, list and revoke.
create policy share_links_read on public.job_share_links for select to authenticated
  using (job_id in (select id from public.jobs where organisation_id in (select public.user_organisation_ids())));
create policy share_links_insert on public.job_share_links for insert to authenticated
  with check (
    created_by = (select auth.uid())
    and job_id in (select id from public.jobs where organisation_id in (select public.user_organisation_ids())));
create policy share_links_revoke on public.job_share_links for update to authenticated
  using (job_id in (select id from public.jobs where organisation_id in (select public.user_organisation_ids())))
  with check (revoked_at is not null);
revoke update on public.job_share_links from anon, authenticated;
grant update (revoked_at) on public.job_share_links to authenticated;

-- organisation_page_usage: members read; owner_page_usage: the user it counts reads it. Only claim_tasks writes.
create policy page_usage_read on public.organisation_page_usage for select to authenticated
  using (organisation_id in (select public.user_organisation_ids()));
create policy owner_page_usage_read on public.owner_page_usage for select to authenticated
  using (owner_id = (select auth.uid()));
revoke insert, update, delete on public.organisation_page_usage, public.owner_page_usage from anon, authenticated;

-- Organisations for users: create one (you become its owner), the personal one on first use, and invites.

-- How many organisations one user may create (and so have counted against them): each has its own plan
-- limits, so without a cap a user could multiply their jobs per 30 days by creating organisations. Deleting
-- one frees its place; handing it to other owners does not.
create function public.max_organisations_per_user() returns integer
language sql immutable parallel safe as $$ select 10 $$;

create function public.create_organisation(p_name text)
returns public.organisations
language plpgsql volatile security definer set search_path = '' as $$
declare
  v_uid uuid := (select auth.uid());
  v_org public.organisations;
begin
  if v_uid is null then
    raise exception 'sign in to create an organisation' using errcode = '42501';
  end if;
  -- Two creates at once must not both take the last place: they take turns per user, and the count below
  -- runs after the wait with a fresh snapshot (this function is volatile), so it sees the other's.
  perform pg_advisory_xact_lock(hashtextextended('bbb.created_orgs:' || v_uid::text, 0));
  if (select count(*) from public.organisations where created_by = v_uid) >= public.max_organisations_per_user() then
    raise exception 'you have created % organisations, the most one user may; delete one you no longer need',
      public.max_organisations_per_user() using errcode = 'BBB03';
  end if;
  insert into public.organisations (name, created_by) values (btrim(p_name), v_uid) returning * into v_org;
  insert into public.organisation_members (organisation_id, user_id, role) values (v_org.id, v_uid, 'owner');
  return v_org;
end
$$;

-- Returns the caller's active organisation, creating a personal one if they belong to none.
create function public.ensure_active_organisation()
returns uuid
language plpgsql volatile security definer set search_path = '' as $$
declare
  v_uid uuid := (select auth.uid());
  v_org uuid;
begin
  if v_uid is null then
    raise exception 'sign in first' using errcode = '42501';
  end if;
  select s.active_organisation_id into v_org from public.user_settings s
  join public.organisation_members m on m.organisation_id = s.active_organisation_id and m.user_id = v_uid
  where s.user_id = v_uid;
  if v_org is not null then
    return v_org;
  end if;
  -- Two first requests at once must not make two personal organisations.
  perform pg_advisory_xact_lock(hashtextextended('bbb.personal_org:' || v_uid::text, 0));
  select organisation_id into v_org from public.organisation_members
  where user_id = v_uid order by created_at, organisation_id limit 1;
  if v_org is null then
    v_org := (public.create_organisation(
      left(coalesce(nullif((select auth.jwt()) ->> 'email', ''), 'My') || '''s organisation', 200))).id;
  end if;
  insert into public.user_settings (user_id, active_organisation_id) values (v_uid, v_org)
  on conflict (user_id) do update set active_organisation_id = excluded.active_organisation_id, updated_at = now();
  return v_org;
end
$$;

-- Accepting an invite: the token must be current and addressed to the caller's email.
create function public.accept_invite(p_token text)
returns uuid
language plpgsql volatile security definer set search_path = '' as $$
declare
  v_uid uuid := (select auth.uid());
  v_invite public.organisation_invites;
begin
  if v_uid is null then
    raise exception 'sign in to accept an invite' using errcode = '42501';
  end if;
  select * into v_invite from public.organisation_invites
  where token_hash = sha256(convert_to(p_token, 'UTF8')) for update;
  if not found or v_invite.accepted_at is not null then
    raise exception 'this invite does not exist or was already used' using errcode = 'BBB10';
  end if;
  if v_invite.expires_at <= now() then
    raise exception 'this invite has expired: ask for a new one' using errcode = 'BBB11';
  end if;
  if lower(coalesce((select auth.jwt()) ->> 'email', '')) <> v_invite.email then
    raise exception 'this invite is for another email address' using errcode = 'BBB12';
  end if;
  insert into public.organisation_members (organisation_id, user_id, role)
  values (v_invite.organisation_id, v_uid, v_invite.role)
  on conflict (organisation_id, user_id) do nothing;
  update public.organisation_invites set accepted_at = now(), accepted_by = v_uid where id = v_invite.id;
  return v_invite.organisation_id;
end
$$;

revoke execute on function public.max_organisations_per_user() from public, anon, authenticated;
grant execute on function public.max_organisations_per_user() to service_role;
revoke execute on function public.create_organisation(text) from public, anon;
revoke execute on function public.ensure_active_organisation() from public, anon;
revoke execute on function public.accept_invite(text) from public, anon;
revoke execute on function public.organisation_member_emails(uuid) from public, anon;
grant execute on function public.create_organisation(text) to authenticated, service_role;
grant execute on function public.ensure_active_organisation() to authenticated, service_role;
grant execute on function public.accept_invite(text) to authenticated, service_role;
grant execute on function public.organisation_member_emails(uuid) to authenticated, service_role;
