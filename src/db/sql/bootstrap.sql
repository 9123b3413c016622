-- Creates, on plain PostgreSQL, the pieces a Supabase database already has: the API roles, the auth schema
-- with auth.users and the claim functions, and the supabase_realtime publication. Every step checks before
-- it creates, so on Supabase (or on a second run) nothing changes. This file is not a migration: the Supabase
-- CLI must never apply it to a real project.

do $bootstrap$
declare
  created_roles boolean := false;
begin
  -- Roles are cluster-wide, so two databases bootstrapping at once may race; duplicate_object means the
  -- other one won, which is fine.
  if not exists (select 1 from pg_roles where rolname = 'anon') then
    begin
      create role anon nologin noinherit;
      created_roles := true;
    exception when duplicate_object then null;
    end;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then
    begin
      create role authenticated nologin noinherit;
      created_roles := true;
    exception when duplicate_object then null;
    end;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then
    begin
      create role service_role nologin noinherit bypassrls;
      created_roles := true;
    exception when duplicate_object then null;
    end;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticator') then
    begin
      create role authenticator login noinherit;
    exception when duplicate_object then null;
    end;
  end if;
  if created_roles then
    grant anon, authenticated, service_role to authenticator;
  end if;
  -- A non-superuser owner needs membership to `set role` per request, as PostgREST's authenticator has.
  if not (select rolsuper from pg_roles where rolname = current_user)
     and not pg_has_role(current_user, 'authenticated', 'member') then
    execute format('grant anon, authenticated, service_role to %I', current_user);
  end if;

  if not exists (select 1 from pg_namespace where nspname = 'auth') then
    create schema auth;
    grant usage on schema auth to anon, authenticated, service_role;
  end if;

  if to_regclass('auth.users') is null then
    -- Supabase's column names and types, so code written against Supabase reads the same rows.
    create table auth.users (
      instance_id uuid,
      id uuid not null primary key,
      aud varchar(255),
      role varchar(255),
      email varchar(255) unique,
      encrypted_password varchar(255),
      email_confirmed_at timestamptz,
      invited_at timestamptz,
      confirmation_token varchar(255),
      confirmation_sent_at timestamptz,
      recovery_token varchar(255),
      recovery_sent_at timestamptz,
      email_change_token_new varchar(255),
      email_change varchar(255),
      email_change_sent_at timestamptz,
      last_sign_in_at timestamptz,
      raw_app_meta_data jsonb,
      raw_user_meta_data jsonb,
      is_super_admin boolean,
      created_at timestamptz,
      updated_at timestamptz,
      phone text unique default null,
      phone_confirmed_at timestamptz,
      phone_change text default '',
      phone_change_token varchar(255) default '',
      phone_change_sent_at timestamptz,
      confirmed_at timestamptz generated always as (least(email_confirmed_at, phone_confirmed_at)) stored,
      email_change_token_current varchar(255) default '',
      email_change_confirm_status smallint default 0
        check (email_change_confirm_status >= 0 and email_change_confirm_status <= 2),
      banned_until timestamptz,
      reauthentication_token varchar(255) default '',
      reauthentication_sent_at timestamptz,
      is_sso_user boolean not null default false,
      deleted_at timestamptz,
      is_anonymous boolean not null default false
    );
    create index users_instance_id_email_idx on auth.users (instance_id, lower(email::text));
    alter table auth.users enable row level security;
  end if;

  -- GoTrue's session and refresh-token tables, for the password auth `bbb serve` provides standalone. Same
  -- names and columns as Supabase's (a subset); bbb stores a SHA-256 of each refresh token, never the token.
  if to_regclass('auth.sessions') is null then
    create table auth.sessions (
      id uuid not null primary key,
      user_id uuid not null references auth.users (id) on delete cascade,
      created_at timestamptz,
      updated_at timestamptz,
      not_after timestamptz,
      refreshed_at timestamp,
      user_agent text,
      ip inet
    );
    create index sessions_user_id_idx on auth.sessions (user_id);
    alter table auth.sessions enable row level security;
  end if;
  if to_regclass('auth.refresh_tokens') is null then
    create table auth.refresh_tokens (
      instance_id uuid,
      id bigserial primary key,
      token varchar(255) unique,
      user_id varchar(255),
      revoked boolean,
      created_at timestamptz,
      updated_at timestamptz,
      parent varchar(255),
      session_id uuid references auth.sessions (id) on delete cascade
    );
    create index refresh_tokens_session_id_revoked_idx on auth.refresh_tokens (session_id, revoked);
    alter table auth.refresh_tokens enable row level security;
  end if;

  -- Defined exactly as Supabase defines them; nullif() because a claim setting once set in a session reads
  -- back as '' rather than NULL.
  if to_regprocedure('auth.uid()') is null then
    create function auth.uid() returns uuid language sql stable as $f$
      select coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
      )::uuid
    $f$;
  end if;
  if to_regprocedure('auth.role()') is null then
    create function auth.role() returns text language sql stable as $f$
      select coalesce(
        nullif(current_setting('request.jwt.claim.role', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
      )::text
    $f$;
  end if;
  if to_regprocedure('auth.jwt()') is null then
    create function auth.jwt() returns jsonb language sql stable as $f$
      select coalesce(
        nullif(current_setting('request.jwt.claim', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')
      )::jsonb
    $f$;
  end if;

  if not exists (select 1 from pg_publication where pubname = 'supabase_realtime') then
    create publication supabase_realtime;
  end if;

  -- Supabase grants the API roles access to public by default and lets RLS decide; mirror that once per
  -- database (default privileges are per database) so a plain PostgreSQL behaves like a Supabase project.
  -- Functions too: there a function revoked only `from public` is still executable by anon and
  -- authenticated, so every migration must revoke from them by name, and tests must see the same.
  if not exists (
    select 1 from pg_default_acl d join pg_namespace n on n.oid = d.defaclnamespace
    where n.nspname = 'public' and d.defaclobjtype = 'r'
  ) then
    grant usage on schema public to anon, authenticated, service_role;
    alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
    alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
  end if;
  if not exists (
    select 1 from pg_default_acl d join pg_namespace n on n.oid = d.defaclnamespace
    where n.nspname = 'public' and d.defaclobjtype = 'f'
  ) then
    alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
  end if;
end
$bootstrap$;
