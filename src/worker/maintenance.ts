// The maintenance loop: every worker process runs one, and exactly one of them (the holder of a session
// advisory lock) does the work: promote due retries, skip what stopped jobs still hold, recover expired task
// and discovery leases, complete idle jobs (every tick); fail stalled jobs (every 10th); prune old tasks and
// idle politeness rows (every 60th). Each pass has its own error handling, so one failing pass never skips
// the others. The lock lives on a connection of its own, so it is released the moment that process or its
// connection dies; the others try for it on every tick and one takes over.
//
// That connection is a one-connection client of its own (cloneClient) rather than sql.reserve(): a reserved
// connection goes back to the shared pool when released, and the lock must stay with this one connection.
import { cloneClient, type Sql } from '../db/client.ts';
import {
  completeIdleJobs,
  failStalledJobs,
  promoteDueRetries,
  pruneTasks,
  recoverExpiredDiscovery,
  recoverExpiredLeases,
  skipStoppedJobsTasks,
} from '../queue/maintenance.ts';
import { MaintenanceIntervalMsDefault, RetentionMsDefault, StalledAfterMsDefault } from './defaults.ts';

// "bbb" + 1, arbitrary but fixed: every process of every version must contend for the same key.
const LOCK_KEY = 0x62626201;

export interface MaintenanceOptions {
  sql: Sql;
  /** Defaults for these three: src/worker/defaults.ts. */
  intervalMs?: number;
  stalledAfterMs?: number;
  retentionMs?: number;
  onEvent?: (event: MaintenanceEvent) => void;
}

/** What one tick did; a pass that did not run this tick (or failed) counts 0. */
export interface TickCounts {
  promoted: number;
  skipped: number;
  recovered: number;
  leasesFailed: number;
  discoveryRecovered: number;
  discoveryAbandoned: number;
  completed: number;
  stalled: number;
  pruned: number;
  politenessPruned: number;
}

export type MaintenanceEvent =
  | { type: 'leader'; leader: boolean }
  | ({ type: 'tick' } & TickCounts)
  /** `pass` names the pass that failed; without it, taking the leader lock failed. */
  | { type: 'error'; error: unknown; pass?: string };

interface Pass {
  name: string;
  /** Runs on every `every`-th tick. */
  every: number;
  run(): Promise<Partial<TickCounts>>;
}

function emptyCounts(): TickCounts {
  return {
    promoted: 0,
    skipped: 0,
    recovered: 0,
    leasesFailed: 0,
    discoveryRecovered: 0,
    discoveryAbandoned: 0,
    completed: 0,
    stalled: 0,
    pruned: 0,
    politenessPruned: 0,
  };
}

export interface Maintenance {
  isLeader(): boolean;
  /** Runs one tick with every pass now (tests, and `bbb` commands that want prompt cleanup). */
  tick(): Promise<void>;
  stop(): Promise<void>;
}

function lockClient(sql: Sql): Sql {
  // Never idle out or recycle: either would drop the lock between ticks.
  return cloneClient(sql, { max: 1, idle_timeout: 0, max_lifetime: null });
}

export function startMaintenance(options: MaintenanceOptions): Maintenance {
  const { sql } = options;
  const intervalMs = options.intervalMs ?? MaintenanceIntervalMsDefault;
  const stalledAfterMs = options.stalledAfterMs ?? StalledAfterMsDefault;
  const retentionMs = options.retentionMs ?? RetentionMsDefault;
  const emit = (event: MaintenanceEvent) => {
    try {
      options.onEvent?.(event);
    } catch {}
  };
  let conn: Sql | undefined;
  let leader = false;
  let stopped = false;
  let ticking: Promise<void> | undefined;
  let ticks = 0;

  const passes: Pass[] = [
    { name: 'promote due retries', every: 1, run: async () => ({ promoted: await promoteDueRetries(sql) }) },
    {
      name: "skip stopped jobs' tasks",
      every: 1,
      run: async () => ({ skipped: await skipStoppedJobsTasks(sql) }),
    },
    {
      name: 'recover expired leases',
      every: 1,
      run: async () => {
        const leases = await recoverExpiredLeases(sql);
        return { recovered: leases.recovered, leasesFailed: leases.failed };
      },
    },
    {
      name: 'recover expired discovery',
      every: 1,
      run: async () => {
        const d = await recoverExpiredDiscovery(sql);
        return { discoveryRecovered: d.recovered, discoveryAbandoned: d.abandoned };
      },
    },
    { name: 'complete idle jobs', every: 1, run: async () => ({ completed: await completeIdleJobs(sql) }) },
    {
      name: 'fail stalled jobs',
      every: 10,
      run: async () => ({ stalled: await failStalledJobs(sql, stalledAfterMs) }),
    },
    { name: 'prune tasks', every: 60, run: async () => ({ pruned: await pruneTasks(sql, retentionMs) }) },
    {
      name: 'prune host politeness',
      every: 60,
      run: async () => {
        const [row] = await sql<{ n: number }[]>`select prune_host_politeness(interval '1 day') as n`;
        return { politenessPruned: row?.n ?? 0 };
      },
    },
  ];

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

  async function runTick(all: boolean): Promise<void> {
    try {
      setLeader(await holdsOrTakesLock());
    } catch (error) {
      dropConnection();
      emit({ type: 'error', error });
      return;
    }
    if (!leader || stopped) return;
    const n = ticks++;
    const counts = emptyCounts();
    for (const pass of passes) {
      if (!all && n % pass.every !== 0) continue;
      try {
        Object.assign(counts, await pass.run());
      } catch (error) {
        emit({ type: 'error', error, pass: pass.name });
      }
    }
    emit({ type: 'tick', ...counts });
  }

  function tick(all = false): Promise<void> {
    ticking ??= runTick(all).finally(() => {
      ticking = undefined;
    });
    return ticking;
  }

  const timer = setInterval(() => void tick(), intervalMs);
  void tick(true);

  return {
    isLeader: () => leader,
    tick: async () => {
      // A timer tick may be in progress; wait for it, then run every pass.
      await ticking;
      await tick(true);
    },
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
