import type { Sql } from '../../src/db/client.ts';
import { createOrganisation, insertJob, type NewJob, startJob } from '../../src/queue/jobs.ts';

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
