// The maintenance loop: every worker process runs one, and exactly one of them (the holder of a session
// advisory lock) does the work each tick: recover expired leases, complete idle jobs, fail stalled ones, prune
// old tasks and idle politeness rows. The lock lives on a connection of its own, so it is released the moment
// that process or its connection dies; the others try for it on every tick and one takes over.
//
// That connection is a one-connection client cloned from `sql`'s options rather than sql.reserve(): in
// postgres.js 3.4 a reserved connection whose backend is killed throws from a timer on its next query (an
// uncaught exception) and goes back to the pool broken when released.
import postgres from 'postgres';
import type { Sql } from '../db/client.ts';
import { completeIdleJobs, failStalledJobs, pruneTasks, recoverExpiredLeases } from '../queue/maintenance.ts';

// "bbb" + 1, arbitrary but fixed: every process of every version must contend for the same key.
const LOCK_KEY = 0x62626201;

export interface MaintenanceOptions {
  sql: Sql;
  /** Default 5000. */
  intervalMs?: number;
  /** A running job that finished no task for this long is failed. Default 10 minutes. */
  stalledAfterMs?: number;
  /** Task rows of jobs finished longer ago than this are deleted. Default 30 days. */
  retentionMs?: number;
  onEvent?: (event: MaintenanceEvent) => void;
}

export type MaintenanceEvent =
  | { type: 'leader'; leader: boolean }
  | {
      type: 'tick';
      recovered: number;
      leasesFailed: number;
      completed: number;
      stalled: number;
      pruned: number;
    }
  | { type: 'error'; error: unknown };

export interface Maintenance {
  isLeader(): boolean;
  /** Runs one tick now (tests, and `bbb` commands that want prompt cleanup). */
  tick(): Promise<void>;
  stop(): Promise<void>;
}

function lockClient(sql: Sql): Sql {
  // `shared` is per-client state; handing it over would make the clone share the pool's connection queues.
  const { shared: _, ...options } = sql.options as typeof sql.options & { shared?: unknown };
  // Never idle out or recycle: either would drop the lock between ticks.
  return postgres({ ...(options as object), max: 1, idle_timeout: 0, max_lifetime: null } as never);
}

export function startMaintenance(options: MaintenanceOptions): Maintenance {
  const { sql } = options;
  const intervalMs = options.intervalMs ?? 5_000;
  const stalledAfterMs = options.stalledAfterMs ?? 10 * 60_000;
  const retentionMs = options.retentionMs ?? 30 * 24 * 3_600_000;
  const emit = (event: MaintenanceEvent) => {
    try {
      options.onEvent?.(event);
    } catch {}
  };
  let conn: Sql | undefined;
  let leader = false;
  let stopped = false;
  let ticking: Promise<void> | undefined;

  const setLeader = (value: boolean) => {
    if (value !== leader) emit({ type: 'leader', leader: value });
    leader = value;
  };

  const dropConnection = () => {
    void conn?.end({ timeout: 1 }).catch(() => {});
    conn = undefined;
    setLeader(false);
  };

  // The check is against pg_locks, not a remembered flag: a reserved connection that was lost and silently
  // replaced holds no lock, and must not go on believing it leads.
  async function holdsOrTakesLock(): Promise<boolean> {
    conn ??= lockClient(sql);
    const [row] = await conn<{ held: boolean }[]>`
      select case when exists (
        select 1 from pg_locks
        where locktype = 'advisory' and pid = pg_backend_pid() and granted
          and classid = 0 and objid = ${LOCK_KEY} and objsubid = 1
      ) then true else pg_try_advisory_lock(${LOCK_KEY}::bigint) end as held`;
    return row?.held === true;
  }

  async function runTick(): Promise<void> {
    try {
      setLeader(await holdsOrTakesLock());
    } catch (error) {
      dropConnection();
      emit({ type: 'error', error });
      return;
    }
    if (!leader || stopped) return;
    try {
      const leases = await recoverExpiredLeases(sql);
      const completed = await completeIdleJobs(sql);
      const stalled = await failStalledJobs(sql, stalledAfterMs);
      const pruned = await pruneTasks(sql, retentionMs);
      await sql`select prune_host_politeness(interval '1 day')`;
      emit({
        type: 'tick',
        recovered: leases.recovered,
        leasesFailed: leases.failed,
        completed,
        stalled,
        pruned,
      });
    } catch (error) {
      emit({ type: 'error', error });
    }
  }

  function tick(): Promise<void> {
    ticking ??= runTick().finally(() => {
      ticking = undefined;
    });
    return ticking;
  }

  const timer = setInterval(() => void tick(), intervalMs);
  void tick();

  return {
    isLeader: () => leader,
    tick,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      await ticking;
      if (conn) {
        // Unlocking first lets a follower take over on its next tick, without waiting for the disconnect.
        await conn`select pg_advisory_unlock_all()`.catch(() => {});
        await conn.end({ timeout: 1 }).catch(() => {});
        conn = undefined;
        setLeader(false);
      }
    },
  };
}
