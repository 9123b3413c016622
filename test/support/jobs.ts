import type { Sql } from '../../src/db/client.ts';
import {
  createOrganisation,
  getJob,
  insertJob,
  type JobRow,
  type NewJob,
  startJob,
} from '../../src/queue/jobs.ts';
import { waitFor } from './wait.ts';

/** An organisation plus a job on https://<host>/, started unless `start: false`. */
export async function makeJob(
  sql: Sql,
  options: Partial<NewJob> & { host?: string; start?: boolean } = {},
): Promise<string> {
  const organisationId = options.organisationId ?? (await createOrganisation(sql, 'Test org'));
  const host = options.host ?? 'example.com';
  const job = await insertJob(sql, { rootUrl: `https://${host}/`, ...options, organisationId });
  if (options.start !== false) await startJob(sql, job.id);
  return job.id;
}

export function urls(host: string, count: number, prefix = 'p'): string[] {
  return Array.from({ length: count }, (_, i) => `https://${host}/${prefix}${i}`);
}

/** Waits until the job has left `running` (completed, failed or cancelled), and returns its row. */
export function waitForJobEnd(sql: Sql, jobId: string, timeoutMs?: number): Promise<JobRow> {
  return waitFor(
    'the job to finish',
    async () => {
      const row = await getJob(sql, jobId);
      return row && row.status !== 'running' ? row : undefined;
    },
    { timeoutMs },
  );
}
