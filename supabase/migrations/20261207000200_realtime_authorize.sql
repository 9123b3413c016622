-- Realtime's Row Level Security check (src/realtime/authorizer.ts): which of a window's changed rows each
-- distinct subscriber audience may read, in ONE call per table per window. For each audience it does what
-- PostgREST does for a request (role, request.jwt.claims and request.headers set transaction-locally), then
-- asks the table itself, `select pk from <table> where pk = any(<the keys its subscriptions matched>)`, so
-- the policies decide.
--
-- A DELETE's row is gone: a job's DELETE is checked through its old row's organisation (jobs has replica
-- identity full), which the audience must be able to read. Deleting an organisation takes its memberships
-- with it, so those jobs' DELETEs reach nobody; a share link goes with its job, so share-link viewers get no
-- DELETE. Tasks' DELETEs carry only their key and are not delivered (docs/realtime.md).
--
-- SECURITY INVOKER, so that it may switch roles (a security-definer function may not): PostgreSQL checks the
-- switch against the session user, the connection's login role, which must be a member of anon and
-- authenticated, as for every user-scoped query (src/db/as-user.ts). Only that role may call it: whoever
-- calls it chooses the claims, so a tenant calling it could read as anyone.
create function public.realtime_authorize(
  p_table regclass,
  p_pk_column text,
  p_roles text[],
  p_claims text[],
  p_headers text[],
  p_pks text[],
  p_pk_sets text[],
  p_organisation_ids uuid[]
)
returns table (audience integer, pk text, organisation_id uuid)
language plpgsql volatile security invoker set search_path = '' as $$
declare
  v_role text := current_setting('role');
  v_claims text := coalesce(current_setting('request.jwt.claims', true), '');
  v_headers text := coalesce(current_setting('request.headers', true), '');
  v_pk_type text;
  v_query text;
  v_pks text[];
  i integer;
begin
  if not exists (
    select 1 from pg_catalog.pg_publication_tables t
    join pg_catalog.pg_class c on c.relname = t.tablename
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace and n.nspname = t.schemaname
    where t.pubname = 'supabase_realtime' and c.oid = p_table
  ) then
    raise exception 'realtime_authorize: % is not in the supabase_realtime publication', p_table
      using errcode = '42501';
  end if;
  select pg_catalog.format_type(a.atttypid, a.atttypmod) into v_pk_type
  from pg_catalog.pg_index x
  join pg_catalog.pg_attribute a on a.attrelid = x.indrelid and a.attnum = x.indkey[0]
  where x.indrelid = p_table and x.indisprimary and x.indnkeyatts = 1 and a.attname = p_pk_column;
  if v_pk_type is null then
    raise exception 'realtime_authorize: % is not the single-column primary key of %', p_pk_column, p_table
      using errcode = '22023';
  end if;
  if cardinality(p_claims) is distinct from cardinality(p_roles)
     or cardinality(p_headers) is distinct from cardinality(p_roles)
     or cardinality(p_pk_sets) is distinct from cardinality(p_roles) then
    raise exception 'realtime_authorize: one role, claims, headers and key set per audience'
      using errcode = '22023';
  end if;

  v_query := format('select $1, %1$I::text, null::uuid from %2$s where %1$I = any ($2::%3$s[])',
    p_pk_column, p_table, v_pk_type);
  for i in 1 .. coalesce(cardinality(p_roles), 0) loop
    if p_roles[i] is null or p_roles[i] not in ('anon', 'authenticated', 'service_role') then
      raise exception 'realtime_authorize: role must be anon, authenticated or service_role, not %', p_roles[i]
        using errcode = '22023';
    end if;
    perform pg_catalog.set_config('role', p_roles[i], true),
      pg_catalog.set_config('request.jwt.claims', coalesce(p_claims[i], ''), true),
      pg_catalog.set_config('request.headers', coalesce(p_headers[i], ''), true);
    -- The keys this audience's subscriptions matched: an integer array literal of positions in p_pks, or
    -- null for all of them. Checking only those keeps an audience's cost to its own rows' index probes.
    v_pks := case when p_pk_sets[i] is null then p_pks
                  else array(select p_pks[k] from unnest(p_pk_sets[i]::integer[]) k) end;
    if cardinality(v_pks) > 0 then
      -- The published tables' queries are static, so each session plans them once and every audience reuses
      -- the plan (PostgreSQL plans a row-security query again when the role changes, so anon's and
      -- authenticated's policies are each applied; claims are read at execution). EXECUTE would plan the
      -- query again for every audience, a third to a half of its cost (docs/benchmarks.md#realtime). Any
      -- other published table goes through v_query.
      if p_table = 'public.jobs'::regclass then
        return query select i, j.id::text, null::uuid from public.jobs j where j.id = any (v_pks::uuid[]);
      elsif p_table = 'public.tasks'::regclass then
        return query select i, t.id::text, null::uuid from public.tasks t where t.id = any (v_pks::bigint[]);
      else
        return query execute v_query using i, v_pks;
      end if;
    end if;
    if cardinality(p_organisation_ids) > 0 then
      return query select i, null::text, o.id from public.organisations o where o.id = any (p_organisation_ids);
    end if;
  end loop;
  -- Back to the caller, so anything after this call in its transaction runs as it did before.
  perform pg_catalog.set_config('role', v_role, true),
    pg_catalog.set_config('request.jwt.claims', v_claims, true),
    pg_catalog.set_config('request.headers', v_headers, true);
end
$$;

revoke execute on function public.realtime_authorize(regclass, text, text[], text[], text[], text[], text[], uuid[])
  from public, anon, authenticated, service_role;
