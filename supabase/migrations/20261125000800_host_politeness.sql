-- Per-host politeness shared by every worker process: one row per host (URL.host, port included) holding the
-- state of src/crawler/politeness-state.ts, and functions applying the same transitions in the database, so two
-- workers crawling one site together keep to one start rate and one backoff.
--
-- Times are handled as epoch milliseconds inside the transitions, exactly as the TypeScript does, and stored as
-- timestamptz for people reading the table. The caller may pass its own clock (p_now_ms, used by the tests
-- that compare both implementations); workers pass null and use the database clock, the one clock all worker
-- processes share.

create table public.host_politeness (
  host text primary key check (host = lower(host) and length(host) between 1 and 260),
  -- Earliest start of the next request; 'epoch' means "now is fine".
  next_start_at timestamptz not null default 'epoch',
  -- Nothing may start before this (Retry-After, or a pause after a 429/503).
  blocked_until timestamptz not null default 'epoch',
  extra_delay_ms integer not null default 0 check (extra_delay_ms >= 0),
  -- robots.txt Crawl-delay.
  floor_ms integer not null default 0 check (floor_ms >= 0),
  success_streak integer not null default 0 check (success_streak >= 0),
  updated_at timestamptz not null default now()
) with (
  -- Every request start updates its host's row: no column it changes is indexed, so with room on the page
  -- the update is HOT. Maintenance prunes idle rows by a scan of this small table instead of an index.
  fillfactor = 50,
  autovacuum_vacuum_scale_factor = 0,
  autovacuum_vacuum_threshold = 1000
);

-- Closed to anon and authenticated like every other table; workers run as the owner or service_role.
alter table public.host_politeness enable row level security;

create function public.politeness_ts_ms(p_at timestamptz)
returns bigint language sql immutable parallel safe as $$
  select round(extract(epoch from p_at) * 1000)::bigint
$$;

create function public.politeness_ms_ts(p_ms bigint)
returns timestamptz language sql immutable parallel safe as $$
  select to_timestamp(p_ms / 1000.0)
$$;

-- startGapMs: the minimum gap between starts, backoff included, capped, but never below Crawl-delay.
create function public.politeness_gap_ms(p_floor_ms integer, p_extra_delay_ms integer, p_config jsonb)
returns bigint language sql immutable parallel safe as $$
  select greatest(p_floor_ms::bigint,
    least((p_config ->> 'minDelayMs')::bigint + p_extra_delay_ms, (p_config ->> 'maxDelayMs')::bigint))
$$;

-- applyOutcome, line for line: the state after one response (or failure) from the host.
create function public.politeness_after_outcome(
  inout next_start_ms bigint,
  inout blocked_until_ms bigint,
  inout extra_delay_ms integer,
  floor_ms integer,
  inout success_streak integer,
  p_ok boolean,
  p_status_code integer,
  p_retry_after_ms bigint,
  p_now_ms bigint,
  p_config jsonb
)
language plpgsql immutable as $$
declare
  c_max_delay integer := (p_config ->> 'maxDelayMs')::integer;
  c_backoff_start integer := (p_config ->> 'backoffStartMs')::integer;
  v_pause bigint;
  v_halved integer;
begin
  if p_status_code in (429, 503) then
    extra_delay_ms := least(c_max_delay, greatest(extra_delay_ms * 2, c_backoff_start));
    success_streak := 0;
    -- Without Retry-After, pause for one (new, longer) gap so requests already waiting do not pile in.
    v_pause := case when p_retry_after_ms is null
      then public.politeness_gap_ms(floor_ms, extra_delay_ms, p_config)
      else least(greatest(p_retry_after_ms, 0), (p_config ->> 'maxRetryAfterMs')::bigint) end;
    blocked_until_ms := greatest(blocked_until_ms, p_now_ms + v_pause);
    next_start_ms := greatest(next_start_ms, blocked_until_ms);
  elsif not coalesce(p_ok, false) or extra_delay_ms = 0 then
    success_streak := 0;
  else
    success_streak := success_streak + 1;
    if success_streak >= (p_config ->> 'recoverAfterSuccesses')::integer then
      -- Halve slowly; once the extra is small against the backoff step it is noise, so drop it.
      v_halved := extra_delay_ms / 2;
      extra_delay_ms := case when v_halved < c_backoff_start / 4.0 then 0 else v_halved end;
      success_streak := 0;
    end if;
  end if;
end
$$;

-- reserveSlot: claims the host's start slot if it is free now and returns 0, else returns the milliseconds to
-- wait before asking again. The claim is the conditional UPDATE, so of two workers asking at once exactly one
-- gets the slot; the other sees the new next_start_at.
create function public.politeness_reserve(p_host text, p_config jsonb, p_now_ms bigint default null)
returns bigint language plpgsql as $$
declare
  v_now bigint := coalesce(p_now_ms, public.politeness_ts_ms(clock_timestamp()));
  v_wait bigint;
begin
  insert into public.host_politeness (host) values (p_host) on conflict (host) do nothing;
  update public.host_politeness h set
    next_start_at = public.politeness_ms_ts(v_now + public.politeness_gap_ms(h.floor_ms, h.extra_delay_ms, p_config)),
    updated_at = now()
  where h.host = p_host
    and greatest(public.politeness_ts_ms(h.next_start_at), public.politeness_ts_ms(h.blocked_until)) <= v_now;
  if found then
    return 0;
  end if;
  select greatest(public.politeness_ts_ms(h.next_start_at), public.politeness_ts_ms(h.blocked_until)) - v_now
  into v_wait from public.host_politeness h where h.host = p_host;
  -- The slot may have come free since the update looked; 0 would mean "granted", so ask again shortly instead.
  return greatest(coalesce(v_wait, 1), 1);
end
$$;

-- Records what a request told us about the host's load (applyOutcome), in one UPDATE under the row lock.
create function public.politeness_record(
  p_host text,
  p_ok boolean,
  p_status_code integer,
  p_retry_after_ms bigint,
  p_config jsonb,
  p_now_ms bigint default null
)
returns void language plpgsql as $$
declare
  v_now bigint := coalesce(p_now_ms, public.politeness_ts_ms(clock_timestamp()));
begin
  insert into public.host_politeness (host) values (p_host) on conflict (host) do nothing;
  update public.host_politeness h set
    (next_start_at, blocked_until, extra_delay_ms, success_streak) = (
      select public.politeness_ms_ts(o.next_start_ms), public.politeness_ms_ts(o.blocked_until_ms),
        o.extra_delay_ms, o.success_streak
      from public.politeness_after_outcome(public.politeness_ts_ms(h.next_start_at),
        public.politeness_ts_ms(h.blocked_until), h.extra_delay_ms, h.floor_ms, h.success_streak,
        p_ok, p_status_code, p_retry_after_ms, v_now, p_config) o),
    updated_at = now()
  where h.host = p_host;
end
$$;

-- robots.txt Crawl-delay becomes the host's floor for every worker.
create function public.politeness_set_floor(p_host text, p_floor_ms integer)
returns void language sql as $$
  insert into public.host_politeness (host, floor_ms) values (p_host, greatest(p_floor_ms, 0))
  on conflict (host) do update set floor_ms = excluded.floor_ms, updated_at = now();
$$;

-- Rows idle past p_older_than carry no wait any more (every time in them is in the past); dropping them
-- forgets only a backoff the host has long recovered from. A robots floor is re-learned on the next crawl.
create function public.prune_host_politeness(p_older_than interval)
returns integer language sql volatile as $$
  with gone as (
    delete from public.host_politeness
    where updated_at < now() - p_older_than and greatest(next_start_at, blocked_until) < now()
    returning 1
  )
  select count(*)::int from gone;
$$;

revoke execute on function public.politeness_ts_ms(timestamptz) from public, anon, authenticated;
revoke execute on function public.politeness_ms_ts(bigint) from public, anon, authenticated;
revoke execute on function public.politeness_gap_ms(integer, integer, jsonb) from public, anon, authenticated;
revoke execute on function public.politeness_after_outcome(bigint, bigint, integer, integer, integer, boolean,
  integer, bigint, bigint, jsonb) from public, anon, authenticated;
revoke execute on function public.politeness_reserve(text, jsonb, bigint) from public, anon, authenticated;
revoke execute on function public.politeness_record(text, boolean, integer, bigint, jsonb, bigint)
  from public, anon, authenticated;
revoke execute on function public.politeness_set_floor(text, integer) from public, anon, authenticated;
revoke execute on function public.prune_host_politeness(interval) from public, anon, authenticated;
grant execute on function public.politeness_reserve(text, jsonb, bigint) to service_role;
grant execute on function public.politeness_record(text, boolean, integer, bigint, jsonb, bigint) to service_role;
grant execute on function public.politeness_set_floor(text, integer) to service_role;
grant execute on function public.prune_host_politeness(interval) to service_role;
-- The public functions call these with the caller's rights.
grant execute on function public.politeness_ts_ms(timestamptz) to service_role;
grant execute on function public.politeness_ms_ts(bigint) to service_role;
grant execute on function public.politeness_gap_ms(integer, integer, jsonb) to service_role;
grant execute on function public.politeness_after_outcome(bigint, bigint, integer, integer, integer, boolean,
  integer, bigint, bigint, jsonb) to service_role;
