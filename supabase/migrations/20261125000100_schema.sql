-- Tenancy and crawl tables. Every table has RLS enabled from the start: with no policy a table is closed to
-- anon and authenticated, while the service paths (the table owner and service_role) bypass RLS.

create table public.plans (
  id text primary key,
  name text not null,
  daily_page_quota integer not null check (daily_page_quota > 0),
  jobs_per_30_days integer not null check (jobs_per_30_days > 0),
  max_pages_per_job integer not null check (max_pages_per_job > 0),
  created_at timestamptz not null default now()
);

insert into public.plans (id, name, daily_page_quota, jobs_per_30_days, max_pages_per_job) values
  ('free', 'Free', 1000, 30, 500),
  ('pro', 'Pro', 50000, 1000, 10000),
  ('business', 'Business', 500000, 10000, 100000);

create table public.organisations (
  id uuid primary key default gen_random_uuid(),
  name text not null check (length(name) between 1 and 200),
  plan_id text not null default 'free' references public.plans (id),
  -- The user who created it (create_organisation): the one it counts against for the organisations-per-user
  -- cap and the per-owner daily page quota, whoever its owners are later. Null for organisations the system
  -- made. Tenants can neither set nor change it.
  created_by uuid references auth.users (id) on delete set null,
  -- The organisation `bbb crawl` runs its jobs in. Found by this flag, never by its name, which tenants choose:
  -- tenants can neither set nor change it, and at most one row has it (organisations_cli_idx).
  is_cli boolean not null default false,
  created_at timestamptz not null default now()
);
create index organisations_created_by_idx on public.organisations (created_by);
create unique index organisations_cli_idx on public.organisations (is_cli) where is_cli;

create table public.organisation_members (
  organisation_id uuid not null references public.organisations (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  role text not null default 'member' check (role in ('owner', 'admin', 'member')),
  created_at timestamptz not null default now(),
  primary key (organisation_id, user_id)
);
-- Policies look members up by user; the primary key serves lookups by organisation.
create index organisation_members_user_idx on public.organisation_members (user_id);

-- Domains and pages are shared by every organisation that crawls them. Tenants see a domain only through their
-- own jobs, and no page at all: what a tenant crawled is in its tasks, and a page row says nothing of whose.
create table public.domains (
  id bigint generated always as identity primary key,
  host text not null unique check (host = lower(host) and length(host) between 1 and 253),
  created_at timestamptz not null default now()
);

create table public.pages (
  id bigint generated always as identity primary key,
  domain_id bigint not null references public.domains (id) on delete cascade,
  -- Path plus query string, as normalised by the crawler.
  path text not null check (left(path, 1) = '/'),
  created_at timestamptz not null default now(),
  unique (domain_id, path)
);

create table public.jobs (
  id uuid primary key default gen_random_uuid(),
  organisation_id uuid not null references public.organisations (id) on delete cascade,
  created_by uuid references auth.users (id) on delete set null,
  domain_id bigint not null references public.domains (id),
  root_url text not null check (root_url ~ '^https?://'),
  source text not null default 'manual' check (source in ('manual', 'webhook', 'schedule', 'cli')),
  status text not null default 'pending'
    check (status in ('pending', 'running', 'completed', 'failed', 'cancelled')),
  -- Options. Defaults and bounds are src/queue/job-options.ts's (test/queue/job-options.test.ts keeps them equal).
  max_pages integer not null default 1000 check (max_pages between 1 and 1000000),
  concurrency integer not null default 4 check (concurrency between 1 and 200),
  use_sitemap boolean not null default true,
  find_links boolean not null default true,
  include_patterns text[] not null default '{}',
  exclude_patterns text[] not null default '{}',
  max_attempts smallint not null default 3 check (max_attempts between 1 and 20),
  -- Counters, kept by statement-level triggers on tasks so progress is O(1) to read.
  total_tasks integer not null default 0,
  pending_tasks integer not null default 0,
  running_tasks integer not null default 0,
  completed_tasks integer not null default 0,
  failed_tasks integer not null default 0,
  skipped_tasks integer not null default 0,
  -- Failed an attempt and waiting for run_after; maintenance promotes them to pending when due.
  retrying_tasks integer not null default 0,
  -- Percent of tasks finished, set from the counters by jobs_set_progress (job counters migration). Not a
  -- generated column: logical replication before PostgreSQL 18 leaves generated columns out, and realtime
  -- clients watch a job's progress.
  progress numeric(5, 2) not null default 0,
  stats jsonb,
  error_message text,
  created_at timestamptz not null default now(),
  started_at timestamptz,
  completed_at timestamptz,
  updated_at timestamptz not null default now(),
  -- Claim fairness: the job served longest ago goes first.
  last_claimed_at timestamptz,
  -- Maintenance fails jobs whose tasks stop finishing.
  last_progress_at timestamptz,
  -- Sitemap discovery is a job step claimed under a lease (claim_discovery); the job completes only after it.
  -- 'failed': it was given up after discovery_attempts claims that never finished (see docs/queue.md).
  discovery_status text not null default 'skipped'
    check (discovery_status in ('pending', 'running', 'done', 'skipped', 'failed')),
  discovery_locked_until timestamptz,
  discovery_locked_by text,
  discovery_attempts smallint not null default 0,
  -- Set by prune_tasks once the job's tasks are gone, so it is never looked at again.
  tasks_pruned_at timestamptz
) with (
  -- Counter updates on every claim and result batch are HOT (no indexed column changes), given room on the
  -- page; vacuum keeps the few pages clean, triggered by row count rather than by a fraction of a small table.
  fillfactor = 50,
  autovacuum_vacuum_scale_factor = 0,
  autovacuum_vacuum_threshold = 1000,
  autovacuum_analyze_scale_factor = 0.05
);
create index jobs_organisation_created_idx on public.jobs (organisation_id, created_at desc);
create index jobs_domain_idx on public.jobs (domain_id);
-- Claims and maintenance read running jobs. Nothing a claim changes (counters, last_claimed_at) is indexed.
create index jobs_running_idx on public.jobs (id) where status = 'running';
create index jobs_discovery_idx on public.jobs (created_at) where discovery_status in ('pending', 'running');
-- Stopped jobs whose stats wait for their last tasks (skip_stopped_jobs_tasks), and settled jobs whose tasks
-- retention has not pruned yet (prune_tasks): both small, so neither pass ever reads the tasks table to find work.
create index jobs_unsettled_idx on public.jobs (id)
  where status in ('completed', 'failed', 'cancelled') and stats is null;
create index jobs_prunable_idx on public.jobs (completed_at) where stats is not null and tasks_pruned_at is null;

create table public.tasks (
  id bigint generated always as identity primary key,
  job_id uuid not null references public.jobs (id) on delete cascade,
  page_id bigint references public.pages (id) on delete set null,
  url text not null,
  -- pending: ready to claim; retrying: waits for run_after after a failed attempt (promote_due_retries makes it
  -- pending), so claims never read past tasks that are not ready.
  status text not null default 'pending'
    check (status in ('pending', 'running', 'retrying', 'completed', 'failed', 'skipped')),
  priority integer not null default 0,
  depth smallint not null default 0,
  source text not null check (source in ('root', 'sitemap', 'link')),
  found_on text,
  -- Claims so far: the fencing token, never decreasing (docs/queue.md).
  attempts smallint not null default 0,
  max_attempts smallint not null default 3,
  run_after timestamptz not null default now(),
  -- The lease: a running task whose locked_until has passed belongs to nobody.
  locked_until timestamptz,
  locked_by text,
  -- Results.
  status_code smallint,
  response_time_ms integer,
  timing jsonb,
  cache_status text,
  warm_cache_status text,
  warm_attempts smallint,
  warm_response_time_ms integer,
  warm_results jsonb,
  redirect_url text,
  content_type text,
  content_length bigint,
  error_code text,
  error_message text,
  created_at timestamptz not null default now(),
  started_at timestamptz,
  completed_at timestamptz,
  updated_at timestamptz not null default now(),
  unique (job_id, url)
) with (
  -- A heartbeat changes only locked_until, which no index holds: with room on the page it is a HOT update.
  fillfactor = 90,
  autovacuum_vacuum_scale_factor = 0.02,
  autovacuum_vacuum_insert_scale_factor = 0.05,
  autovacuum_analyze_scale_factor = 0.02
);
-- The claim path reads only pending rows; a partial index keeps it fast however many finished rows pile up.
create index tasks_claimable_idx on public.tasks (job_id, priority desc, id) where status = 'pending';
-- Lease recovery and settling read running rows by job; leases are checked on the (few) rows, not indexed.
create index tasks_running_idx on public.tasks (job_id) where status = 'running';
-- Promotion of due retries, and skipping a stopped job's retries.
create index tasks_retrying_idx on public.tasks (job_id, run_after) where status = 'retrying';
-- A job's tasks in id order, a page at a time: the export's pages and the tasks list's default sort. Without it
-- a page reads either the whole job through unique (job_id, url), which holds a job's tasks in url order, or
-- the primary key from the start, past every other job's tasks. No index here can serve instead: the unique
-- one's second column must be url for the per-job dedup, and the claim index holds only pending tasks. It
-- costs one more entry per insert; neither column ever changes, so updates stay HOT. Queries reach it with
-- jobIdRange (src/api/jobs/task-query.ts): `job_id = $1 order by id` alone can still walk the primary key.
create index tasks_job_id_idx on public.tasks (job_id, id);

-- One row per organisation per UTC day, bumped by claim_tasks: the counter the daily page quota reads, so
-- enforcing it never counts tasks.
create table public.organisation_page_usage (
  organisation_id uuid not null references public.organisations (id) on delete cascade,
  day date not null,
  pages integer not null default 0 check (pages >= 0),
  primary key (organisation_id, day)
) with (fillfactor = 50);

-- The same per user and UTC day, for the pages of every organisation the user created (organisations.created_by):
-- the per-owner quota, so creating more organisations does not multiply the daily pages. Bumped by claim_tasks.
create table public.owner_page_usage (
  owner_id uuid not null references auth.users (id) on delete cascade,
  day date not null,
  pages integer not null default 0 check (pages >= 0),
  primary key (owner_id, day)
) with (fillfactor = 50);

alter table public.plans enable row level security;
alter table public.organisations enable row level security;
alter table public.organisation_members enable row level security;
alter table public.domains enable row level security;
alter table public.pages enable row level security;
alter table public.jobs enable row level security;
alter table public.tasks enable row level security;
alter table public.organisation_page_usage enable row level security;
alter table public.owner_page_usage enable row level security;
