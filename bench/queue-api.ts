// The queue calls the benchmarks make, behind one interface, so bench/queue-figures.ts can drive the same
// workload through the code before the queue rework (874c856, imported from a git worktree, migrations
// included) and through this one's. Only the calls whose signature changed need an adapter: heartbeats were
// fenced by worker id before and by (id, attempt) now, and retries had no promotion step (a future run_after
// on a pending row).
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Sql } from '../src/db/client.ts';
import { migrate } from '../src/db/migrate.ts';
import { createOrganisation, insertJob, type NewJob, startJob } from '../src/queue/jobs.ts';
import { completeIdleJobs, promoteDueRetries, pruneTasks } from '../src/queue/maintenance.ts';
import {
  type ClaimedTask,
  claimTasks,
  enqueueUrls,
  extendLeases,
  type LinkToEnqueue,
  recoverExpiredLeases,
  type TaskAttempt,
  type TaskFailure,
  type TaskResult,
  type WrittenResults,
  writeTaskResults,
} from '../src/queue/tasks.ts';

export type { ClaimedTask, TaskAttempt };

export interface QueueApi {
  label: string;
  migrate(sql: Sql): Promise<unknown>;
  createOrganisation(sql: Sql, name: string, planId: string): Promise<string>;
  insertJob(sql: Sql, job: NewJob): Promise<{ id: string }>;
  startJob(sql: Sql, jobId: string): Promise<unknown>;
  enqueueUrls(
    sql: Sql,
    jobId: string,
    urls: string[],
    options: { source: 'sitemap'; priorities: number[] },
  ): Promise<unknown>;
  claimTasks(
    sql: Sql,
    workerId: string,
    limit: number,
    leaseSeconds: number,
    jobIds?: string[],
  ): Promise<ClaimedTask[]>;
  writeTaskResults(
    sql: Sql,
    links: Array<LinkToEnqueue & { jobId: string }>,
    results: TaskResult[],
    failures: TaskFailure[],
  ): Promise<WrittenResults>;
  extendLeases(sql: Sql, workerId: string, runs: TaskAttempt[], leaseSeconds: number): Promise<number[]>;
  /** 0 where the version has no such step (its retries become claimable when run_after passes). */
  promoteDueRetries(sql: Sql): Promise<number>;
  recoverExpiredLeases(sql: Sql): Promise<{ recovered: number; failed: number }>;
  pruneTasks(sql: Sql, olderThanMs: number, limit: number): Promise<number>;
  completeIdleJobs(sql: Sql): Promise<number>;
}

export const currentQueue: QueueApi = {
  label: 'working tree',
  migrate: (sql) => migrate(sql),
  createOrganisation,
  insertJob,
  startJob,
  enqueueUrls,
  claimTasks,
  writeTaskResults,
  extendLeases: (sql, _workerId, runs, leaseSeconds) => extendLeases(sql, runs, leaseSeconds),
  promoteDueRetries: (sql) => promoteDueRetries(sql),
  recoverExpiredLeases,
  pruneTasks,
  completeIdleJobs,
};

/** The queue of another checkout (e.g. `git worktree add /tmp/bbb-before 874c856`), run from its own files. */
export async function loadQueueFrom(root: string, label: string): Promise<QueueApi> {
  // biome-ignore lint/suspicious/noExplicitAny: another checkout's modules, typed by the adapter below.
  const load = (file: string): Promise<any> => import(pathToFileURL(path.join(root, file)).href);
  const [tasks, jobs, maint, mig] = await Promise.all([
    load('src/queue/tasks.ts'),
    load('src/queue/jobs.ts'),
    load('src/queue/maintenance.ts'),
    load('src/db/migrate.ts'),
  ]);
  // Heartbeats: (sql, workerId, ids, lease) before the rework, (sql, runs, lease) since.
  const oldHeartbeat = tasks.extendLeases.length >= 3;
  return {
    label,
    migrate: (sql) => mig.migrate(sql),
    createOrganisation: jobs.createOrganisation,
    insertJob: jobs.insertJob,
    startJob: jobs.startJob,
    enqueueUrls: tasks.enqueueUrls,
    claimTasks: tasks.claimTasks,
    writeTaskResults: tasks.writeTaskResults,
    extendLeases: (sql, workerId, runs, leaseSeconds) =>
      oldHeartbeat
        ? tasks.extendLeases(
            sql,
            workerId,
            runs.map((r) => r.id),
            leaseSeconds,
          )
        : tasks.extendLeases(sql, runs, leaseSeconds),
    promoteDueRetries: async (sql) => (maint.promoteDueRetries ? maint.promoteDueRetries(sql) : 0),
    recoverExpiredLeases: tasks.recoverExpiredLeases,
    pruneTasks: maint.pruneTasks,
    completeIdleJobs: maint.completeIdleJobs,
  };
}
