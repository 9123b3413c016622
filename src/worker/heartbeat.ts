// Keeps the leases of this worker's task runs alive while they run or wait to be written, so lease recovery
// only ever takes tasks from a worker that has really stopped.
import type { Sql } from '../db/client.ts';
import { extendLeases, type TaskAttempt } from '../queue/tasks.ts';
import { withDeadline } from './db-retry.ts';

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
  // A third of the lease: two beats can fail (a database restart) before the lease is at risk.
  const timer = setInterval(
    async () => {
      if (beating) return;
      beating = true;
      try {
        await withDeadline(extendLeases(sql, options.runs(), leaseSeconds));
      } catch (err) {
        options.onError(err);
      } finally {
        beating = false;
      }
    },
    Math.max(50, (leaseSeconds * 1000) / 3),
  );
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
