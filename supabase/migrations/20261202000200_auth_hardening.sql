-- Share links live at most 720 hours (30 days) however they are inserted. The API's own cap was only in its
-- request schema, and members may insert through PostgREST (supabase-js) with any expires_at, or with a
-- created_at of their choosing that a CHECK against created_at alone would trust.
--
-- Sessions need nothing here: their absolute lifetime (BBB_SESSION_MAX_AGE) is counted from
-- auth.sessions.created_at, which both GoTrue's table and our bootstrap's have.

-- Links made before the cap existed are shortened to it rather than failing the migration.
update public.job_share_links
set expires_at = created_at + interval '720 hours'
where expires_at > created_at + interval '720 hours';

alter table public.job_share_links
  add constraint job_share_links_expiry_cap check (expires_at <= created_at + interval '720 hours');

-- Tenants may name only these columns, so created_at is always the default, now(), and the CHECK above
-- bounds expiry from the moment of insertion. (id keeps its default too.)
revoke insert on public.job_share_links from anon, authenticated;
grant insert (job_id, token_hash, created_by, expires_at) on public.job_share_links to authenticated;
