// Waits for a job to stop by reading its row once a second: the counters make that one cheap query, and the
// same read feeds the progress display. Returns early on a stop signal or when the time limit passes. A
// database that goes away meanwhile is waited out like the workers wait it out (withDbRetry).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Sql } from '../db/client.ts';
import { getJob, type JobRow } from '../queue/jobs.ts';
import { withDbRetry } from '../worker/db-retry.ts';

export type WaitOutcome =
  | { reason: 'finished'; job: JobRow }
  | { reason: 'timeout'; job: JobRow }
  | { reason: 'signal'; job: JobRow; signal: string };

const FINAL = new Set(['completed', 'failed', 'cancelled']);

export async function waitForJob(
  sql: Sql,
  jobId: string,
  options: {
    stop: AbortSignal;
    timeoutMs?: number | undefined;
    pollMs?: number;
    onPoll?: (job: JobRow) => void;
    onDbRetry?: (err: unknown, waitMs: number) => void;
  },
): Promise<WaitOutcome> {
  const deadline =
    options.timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.timeoutMs;
  const pollMs = options.pollMs ?? 1000;
  let last: JobRow | undefined;
  for (;;) {
    let job: JobRow | undefined;
    try {
      job = await withDbRetry(() => getJob(sql, jobId), { signal: options.stop, onRetry: options.onDbRetry });
    } catch (err) {
      // Stopped while the database was away: report what was last seen (or give the read ten more seconds).
      if (!options.stop.aborted) throw err;
      job = last ?? (await withDbRetry(() => getJob(sql, jobId), { signal: AbortSignal.timeout(10_000) }));
    }
    if (!job) throw new Error(`Job ${jobId} disappeared while it was running; was it deleted by hand?`);
    last = job;
    options.onPoll?.(job);
    if (FINAL.has(job.status)) return { reason: 'finished', job };
    if (options.stop.aborted) return { reason: 'signal', job, signal: String(options.stop.reason) };
    const left = deadline - Date.now();
    if (left <= 0) return { reason: 'timeout', job };
    try {
      await sleep(Math.min(pollMs, left), undefined, { signal: options.stop });
    } catch {
      // Aborted by the signal: loop once more to read the latest row, then return.
    }
  }
}
