-- Live updates (docs/realtime.md): stream jobs and tasks through the `supabase_realtime` publication, which
-- Supabase's own Realtime reads on a Supabase project and `bbb serve`'s change source reads elsewhere.

-- On Supabase the publication already exists and may list other tables (a project's own, or ours from an earlier
-- run), and `alter publication … add table` fails for a table already in it: add each table only when missing.
do $$
declare
  t text;
begin
  foreach t in array array['jobs', 'tasks'] loop
    if not exists (
      select 1 from pg_publication_tables
      where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = t
    ) then
      execute format('alter publication supabase_realtime add table public.%I', t);
    end if;
  end loop;
end
$$;

-- A job's UPDATE and DELETE must carry its whole old row: subscribers are authorised for a DELETE through the
-- organisation_id it still names (the row is gone by then), and an UPDATE's old_record shows what changed.
-- Jobs change a few times a second per job, so logging the full old row costs little.
alter table public.jobs replica identity full;

-- tasks keep the default identity (the primary key): they change thousands of times a second while a job runs,
-- and a full old row on each of those updates would multiply the WAL written for them. Their UPDATEs and
-- DELETEs carry only the id as old_record.
