// Keeps the leases of this worker's task runs alive while they run or wait to be written, so lease recovery
// only ever takes tasks from a worker that has really stopped.
import type { Sql } from '../db/client.ts';
import { extendLeases, type TaskAttempt } from '../queue/tasks.ts';
import { withDeadline } from './db-retry.ts';
import { leaseRenewalMs } from './defaults.ts';

export interface Heartbeat {
  stop(): void;
}

export function startHeartbeat(options: {
  sql: Sql;
  leaseSeconds: number;
  runs: () => TaskAttempt[];
  onError: (err: unknown) => void;
}): Heartbeat {
  const { sql, leaseSeconds } = options;
  let beating = false;
  const timer = setInterval(async () => {
    if (beating) return;
    beating = true;
    try {
      await withDeadline(extendLeases(sql, options.runs(), leaseSeconds));
    } catch (err) {
      options.onError(err);
    } finally {
      beating = false;
    }
  }, leaseRenewalMs(leaseSeconds));
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
