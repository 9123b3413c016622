-- Tenancy for the HTTP API: each user's active organisation, invites, share links and daily page usage.
-- Tokens (invites, share links) are stored only as SHA-256 hashes: a database read never yields a usable one.

-- Plans a tenant can choose are listed; 'operator' is for the people running bbb itself (the CLI's
-- organisation), whose crawls no quota should stop.
alter table public.plans add column listed boolean not null default true;
insert into public.plans (id, name, daily_page_quota, jobs_per_30_days, max_pages_per_job, listed)
values ('operator', 'Operator', 2147483647, 2147483647, 1000000, false);

create table public.user_settings (
  user_id uuid primary key references auth.users (id) on delete cascade,
  active_organisation_id uuid references public.organisations (id) on delete set null,
  updated_at timestamptz not null default now()
);

create table public.organisation_invites (
  id uuid primary key default gen_random_uuid(),
  organisation_id uuid not null references public.organisations (id) on delete cascade,
  email text not null check (email = lower(email) and email like '%_@_%'),
  role text not null default 'member' check (role in ('owner', 'admin', 'member')),
  token_hash bytea not null unique,
  created_by uuid references auth.users (id) on delete set null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  accepted_at timestamptz,
  accepted_by uuid references auth.users (id) on delete set null,
  check (expires_at > created_at)
);
create index organisation_invites_org_idx on public.organisation_invites (organisation_id, created_at desc);

create table public.job_share_links (
  id uuid primary key default gen_random_uuid(),
  job_id uuid not null references public.jobs (id) on delete cascade,
  token_hash bytea not null unique,
  created_by uuid references auth.users (id) on delete set null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  revoked_at timestamptz,
  check (expires_at > created_at)
);
create index job_share_links_job_idx on public.job_share_links (job_id, created_at desc);


alter table public.user_settings enable row level security;
alter table public.organisation_invites enable row level security;
alter table public.job_share_links enable row level security;

-- Organisation members are listed with their email, which lives in auth.users (closed to API roles).
create function public.organisation_member_emails(p_org uuid)
returns table (user_id uuid, email text)
language sql stable security definer set search_path = '' as $$
  select m.user_id, u.email::text
  from public.organisation_members m join auth.users u on u.id = m.user_id
  where m.organisation_id = p_org
    and exists (select 1 from public.organisation_members me
                where me.organisation_id = p_org and me.user_id = (select auth.uid()));
$$;
