// A page of a job's tasks in id order (the export's pages, GET /v1/jobs/:id/tasks sorted by id) reads about a
// page of rows, wherever the job's tasks sit in the table and whatever the statistics know of the job. Proved
// with EXPLAIN (ANALYZE, BUFFERS) of the queries the routes run, as the user (so with Row Level Security), on
// a table where the job's tasks sit between many other jobs' tasks: a plan that walks the primary key and
// filters by job reads the tasks before (or after) the job's; one that reads the job through unique (job_id,
// url) and sorts reads the whole job. Counts, not times.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { exportPage } from '../../src/api/jobs/export-stream.ts';
import { byIdPlan, TaskListQuery, taskListQuery } from '../../src/api/jobs/task-query.ts';
import { encodeCursor } from '../../src/api/pagination.ts';
import { asUser } from '../../src/db/as-user.ts';
import type { TxSql } from '../../src/db/client.ts';
import { apiFixture } from '../support/api.ts';
import { makeJob } from '../support/jobs.ts';

const PAGE = 100;
const JOB_TASKS = 3000;
// Other jobs' tasks before and after the job's: many times the job, as on a production table.
const OTHER_JOBS = 8;
const OTHER_TASKS = 5000;

const api = await apiFixture();
const { sql } = api.db;
const owner = await api.user();
const team = await api.team(owner);

async function addTasks(jobId: string, count: number): Promise<number[]> {
  const rows = await sql<{ id: number }[]>`
    insert into tasks (job_id, url, source, status)
    select ${jobId}::uuid, 'https://site.example/p' || g, 'link', 'completed' from generate_series(1, ${count}) g
    returning id`;
  return rows.map((r) => r.id).sort((a, b) => a - b);
}

async function otherJobs(): Promise<void> {
  for (let i = 0; i < OTHER_JOBS; i++) {
    await addTasks(
      await makeJob(sql, { host: `other${i}.example`, start: false, maxPages: OTHER_TASKS }),
      OTHER_TASKS,
    );
  }
}

async function ourJob(host: string): Promise<{ jobId: string; ids: number[] }> {
  const jobId = await makeJob(sql, { organisationId: team, host, start: false, maxPages: JOB_TASKS });
  return { jobId, ids: await addTasks(jobId, JOB_TASKS) };
}

await otherJobs();
// Analysed: the statistics know this job, and its tasks look like a fair share of every id range.
const known = await ourJob('known.example');
await otherJobs();
await sql`analyze tasks`;
// Added after the analysis: the statistics have not seen it (unless autovacuum gets there first).
const fresh = await ourJob('fresh.example');
await otherJobs();

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  'Shared Hit Blocks': number;
  'Shared Read Blocks': number;
  Plans?: PlanNode[];
}

interface Reads {
  /** Rows the scans of tasks produced or threw away. */
  rows: number;
  /** Buffers the scans of tasks touched, not counting the subplans under them (Row Level Security's). */
  buffers: number;
  /** Rows the query returned. */
  returned: number;
  plan: string;
}

const blocks = (n: PlanNode) => n['Shared Hit Blocks'] + n['Shared Read Blocks'];

function tasksReads(plan: PlanNode): Reads {
  const out: Reads = { rows: 0, buffers: 0, returned: plan['Actual Rows'], plan: '' };
  const visit = (n: PlanNode, depth: number) => {
    const on = [n['Relation Name'], n['Index Name']].filter(Boolean).join(' via ');
    out.plan += `${'  '.repeat(depth)}${n['Node Type']} ${on}\n`;
    if (n['Relation Name'] === 'tasks') {
      const seen =
        n['Actual Rows'] + (n['Rows Removed by Filter'] ?? 0) + (n['Rows Removed by Index Recheck'] ?? 0);
      out.rows += seen * n['Actual Loops'];
      out.buffers += blocks(n) - (n.Plans ?? []).reduce((sum, child) => sum + blocks(child), 0);
    }
    for (const child of n.Plans ?? []) visit(child, depth + 1);
  };
  visit(plan, 0);
  return out;
}

/** EXPLAIN ANALYZE of `query` as the owner, in a transaction set up as the routes' are (byIdPlan). */
async function explain(
  query: (tx: TxSql) => ReturnType<typeof exportPage> | ReturnType<typeof taskListQuery>,
): Promise<Reads> {
  return asUser(sql, { sub: owner.id, role: 'authenticated' }, async (tx) => {
    await tx`select ${byIdPlan(tx)}`;
    const [row] = await tx<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }[]>`
      explain (analyze, buffers, format json) ${query(tx)}`;
    return tasksReads(row!['QUERY PLAN'][0]!.Plan);
  });
}

/**
 * A query with `limit` returned `returned` rows, reading at most one row more (to see that the range has
 * ended), in a few index and heap pages; the job alone fills dozens of heap pages.
 */
function assertPageSized(reads: Reads, limit: number, returned: number): void {
  assert.equal(reads.returned, returned, reads.plan);
  assert.ok(reads.rows <= limit + 1, `${reads.rows} rows read for a limit of ${limit}:\n${reads.plan}`);
  assert.ok(reads.buffers <= 12, `${reads.buffers} buffers read for a limit of ${limit}:\n${reads.plan}`);
}

for (const [name, { jobId, ids }] of [
  ['a job the statistics know', known],
  ['a job added since the last analysis', fresh],
] as const) {
  // Where a page starts, in either direction: at the start, in the middle, and 40 rows before the end.
  const starts = {
    asc: [undefined, ids[JOB_TASKS / 2 - 1], ids[JOB_TASKS - 41]],
    desc: [undefined, ids[JOB_TASKS / 2], ids[40]],
  };
  const left = [JOB_TASKS, JOB_TASKS / 2, 40];

  describe(`pages of ${name}, between other jobs' tasks`, () => {
    test('an export page reads about a page, first, middle or last', async () => {
      for (const [i, after] of starts.asc.entries()) {
        const reads = await explain((tx) => exportPage(tx, jobId, after, PAGE));
        assertPageSized(reads, PAGE, Math.min(PAGE, left[i]!));
      }
    });

    test('a tasks-list page sorted by id reads about a page, in either order', async () => {
      for (const order of ['asc', 'desc'] as const) {
        for (const [i, after] of starts[order].entries()) {
          const filters = TaskListQuery.parse({
            sort: 'id',
            order,
            limit: String(PAGE),
            ...(after === undefined ? {} : { cursor: encodeCursor({ v: after, id: after }) }),
          });
          const reads = await explain((tx) => taskListQuery(tx, jobId, filters));
          // listTasks asks for one row more than the page, to know whether there is a next page.
          assertPageSized(reads, PAGE + 1, Math.min(PAGE + 1, left[i]!));
        }
      }
    });
  });
}
