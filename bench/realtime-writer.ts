// The writes of `npm run bench:realtime`: the worker path (claim_tasks, then write_task_results with the
// claimed batch's results), paced to a number of task changes per second. Every claimed task changes twice,
// once claimed (running) and once written (completed), so each loop claims at half its share of the rate on a
// fixed tick and writes each batch on the next tick. claim_tasks serves the job claimed longest ago first, so
// the changes spread over every running job. What committed is counted per job: the deliveries to expect.
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import type { Sql } from '../src/db/client.ts';
import { type ClaimedTask, claimTasks, type TaskResult, writeTaskResults } from '../src/queue/tasks.ts';

export interface Writes {
  /** Task changes committed (claims + completions), and per job. */
  changes: number;
  perJob: Map<string, number>;
  seconds: number;
  /** Claims that found fewer ready tasks than they asked for. */
  shortClaims: number;
  /** Results write_task_results no longer found held (must be 0: leases are 30 s). */
  lost: number;
  claimMs: number[];
  writeMs: number[];
}

export interface WriteOptions {
  /** Task changes per second, over every job. */
  rate: number;
  seconds: number;
  /** Concurrent claim → write loops, each on its own connection. */
  loops: number;
  tickMs: number;
}

export async function writeAtRate(sql: Sql, options: WriteOptions): Promise<Writes> {
  const writes: Writes = {
    changes: 0,
    perJob: new Map(),
    seconds: 0,
    shortClaims: 0,
    lost: 0,
    claimMs: [],
    writeMs: [],
  };
  const count = (tasks: ClaimedTask[]) => {
    writes.changes += tasks.length;
    for (const t of tasks) writes.perJob.set(t.job_id, (writes.perJob.get(t.job_id) ?? 0) + 1);
  };
  const start = performance.now();
  const claimsPerSecond = options.rate / 2 / options.loops;
  await Promise.all(
    Array.from({ length: options.loops }, async (_, loop) => {
      const workerId = `bench-writer-${process.pid}-${loop}`;
      let asked = 0;
      let held: ClaimedTask[] = [];
      for (let tick = 1; ; tick++) {
        const elapsed = (performance.now() - start) / 1000;
        if (held.length > 0) {
          const t0 = performance.now();
          const result = await writeTaskResults(sql, [], held.map(completion), []);
          writes.writeMs.push(performance.now() - t0);
          writes.lost += result.lost;
          count(held.slice(0, result.completed));
          held = [];
        }
        if (elapsed >= options.seconds) break;
        const due = Math.floor(claimsPerSecond * elapsed) - asked;
        if (due > 0) {
          const t0 = performance.now();
          held = await claimTasks(sql, workerId, due);
          writes.claimMs.push(performance.now() - t0);
          asked += due;
          if (held.length < due) writes.shortClaims++;
          count(held);
        }
        const wait = start + tick * options.tickMs - performance.now();
        if (wait > 0) await delay(wait);
      }
    }),
  );
  writes.seconds = (performance.now() - start) / 1000;
  return writes;
}

/** A page fetched and its cache warmed, as a worker reports it. */
function completion(task: ClaimedTask): TaskResult {
  const ms = 40 + Math.floor(Math.random() * 400);
  return {
    id: task.id,
    attempt: task.attempts,
    status_code: 200,
    response_time_ms: ms,
    timing: { dns_ms: 1, connect_ms: 3, tls_ms: 8, ttfb_ms: ms - 20, transfer_ms: 7 },
    cache_status: 'MISS',
    warm_cache_status: 'HIT',
    warm_attempts: 1,
    warm_response_time_ms: Math.floor(ms / 4),
    content_type: 'text/html; charset=utf-8',
    content_length: 20_000 + Math.floor(Math.random() * 60_000),
  };
}
