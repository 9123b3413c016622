// `bbb jobs list|show|cancel` against the configured database (DATABASE_URL, else the embedded one in
// BBB_DATA_DIR): look at and stop crawls without the API.

import { isUuid } from '../db/uuid.ts';
import { UnknownJobError } from '../queue/errors.ts';
import { cancelJob, getJob, type JobRow } from '../queue/jobs.ts';
import { formatReport, loadReport, type ReportFormat } from '../report/index.ts';
import { withDatabase } from './database.ts';
import { UsageError } from './errors.ts';

function checkId(id: string): void {
  if (!isUuid(id)) {
    throw new UsageError(`"${id}" is not a job id: give the UUID that \`bbb jobs list\` shows.`);
  }
}

function unknownJob(id: string): UsageError {
  return new UsageError(`No job has id ${id}. Run \`bbb jobs list\` to see the jobs in this database.`);
}

type ListRow = Pick<
  JobRow,
  'id' | 'status' | 'progress' | 'root_url' | 'source' | 'created_at' | 'total_tasks' | 'completed_tasks'
> & { done: number };

export function formatJobList(rows: ListRow[]): string {
  if (rows.length === 0) return 'No jobs yet. Start one with `bbb crawl <url>`.\n';
  const header = ['id', 'status', 'progress', 'pages', 'source', 'created', 'url'];
  const cells = rows.map((r) => [
    r.id,
    r.status,
    `${Number(r.progress).toFixed(0)}%`,
    `${r.done}/${r.total_tasks}`,
    r.source,
    r.created_at.toISOString().replace('T', ' ').slice(0, 19),
    r.root_url,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    c
      .map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...cells.map(line)].join('\n')}\n`;
}

export async function jobsListCommand(flags: { dataDir?: string; limit: number }): Promise<void> {
  if (flags.limit < 1) throw new UsageError('--limit: give a number of jobs, at least 1.');
  const rows = await withDatabase(
    flags.dataDir,
    'bbb jobs',
    (db) => db.sql<ListRow[]>`
      select id, status, progress, root_url, source, created_at, total_tasks, completed_tasks,
        completed_tasks + failed_tasks + skipped_tasks as done
      from jobs order by created_at desc, id limit ${flags.limit}`,
  );
  process.stdout.write(formatJobList(rows));
}

export async function jobsShowCommand(
  id: string,
  flags: { dataDir?: string; format: ReportFormat },
): Promise<void> {
  checkId(id);
  const text = await withDatabase(flags.dataDir, 'bbb jobs', async (db) => {
    try {
      return formatReport(await loadReport(db.sql, id), flags.format);
    } catch (err) {
      throw err instanceof UnknownJobError ? unknownJob(id) : err;
    }
  });
  process.stdout.write(text);
}

export async function jobsCancelCommand(id: string, flags: { dataDir?: string }): Promise<void> {
  checkId(id);
  const message = await withDatabase(flags.dataDir, 'bbb jobs', async (db) => {
    const before = await getJob(db.sql, id);
    if (!before) throw unknownJob(id);
    if (!['pending', 'running'].includes(before.status)) {
      return `job ${id} was already ${before.status}; nothing to cancel`;
    }
    const job = await cancelJob(db.sql, id);
    // It may have finished between the two statements; say what actually happened.
    return job.status === 'cancelled' ? `job ${id} cancelled` : `job ${id} was already ${job.status}`;
  });
  process.stdout.write(`${message}\n`);
}
