// Streams every task of a job as CSV or one JSON array, however many there are, without holding the database
// while the client reads. Rows are read a page at a time, keyset by id through tasks_job_id_idx, each page in
// its own short asUser transaction (so RLS decides every page, and a job the user can no longer see ends the
// export) on one of the exports' few connections (export-gate.ts), waited for and run under time limits;
// between pages nothing is held but the last id. Each write must be taken by the client within the idle
// deadline, or the connection is cut (response-body.ts); a client that goes away ends the export too, and
// however it ends, its slot is given back. What goes wrong before the first byte is an error answer; after
// it, the body stops short. A running job's export is not one snapshot: a page sees tasks as they are when it
// is read; each task appears once, by id.
import type { Context } from 'hono';
import type { TxSql } from '../../db/client.ts';
import { log } from '../../log.ts';
import { csvCell } from '../../report/csv.ts';
import type { AppDeps, AppEnv } from '../context.ts';
import { ApiError, notFound } from '../errors.ts';
import { userTx } from '../user-db.ts';
import type { ExportGate } from './export-gate.ts';
import { jobVisible } from './job-view.ts';
import { IdleTimeout, ResponseBody } from './response-body.ts';
import { byIdPlan, jobIdRange, type TaskJson, type TaskRow, taskColumns, taskJson } from './task-query.ts';

export type ExportFormat = 'csv' | 'json';

// statement_timeout's cancellation (and any other): the page did not finish in time.
const QUERY_CANCELED = '57014';

// The CSV has the Task JSON's fields, in the same order.
const CSV_COLUMNS: ReadonlyArray<keyof TaskJson> = [
  'id',
  'url',
  'status',
  'source',
  'depth',
  'found_on',
  'attempts',
  'status_code',
  'response_time_ms',
  'cache_status',
  'warm_cache_status',
  'final_cache_status',
  'warm_response_time_ms',
  'redirect_url',
  'content_type',
  'content_length',
  'error_code',
  'error_message',
  'created_at',
  'started_at',
  'completed_at',
];

interface Format {
  contentType: string;
  head: string;
  rows(tasks: TaskJson[], first: boolean): string;
  tail: string;
}

const FORMATS: Record<ExportFormat, Format> = {
  // RFC 4180: CRLF line ends; csvCell quotes where needed and defuses spreadsheet formulas.
  csv: {
    contentType: 'text/csv; charset=utf-8',
    head: `${CSV_COLUMNS.join(',')}\r\n`,
    rows: (tasks) => tasks.map((t) => `${CSV_COLUMNS.map((k) => csvCell(t[k])).join(',')}\r\n`).join(''),
    tail: '',
  },
  json: {
    contentType: 'application/json; charset=utf-8',
    head: '[',
    rows: (tasks, first) => (first ? '' : ',') + tasks.map((t) => JSON.stringify(t)).join(','),
    tail: ']\n',
  },
};

/** One page of the export: up to `rows` of the job's tasks after task `afterId`; run it under byIdPlan. */
export function exportPage(tx: TxSql, jobId: string, afterId: number | undefined, rows: number) {
  return tx<TaskRow[]>`
    select ${taskColumns(tx)} from tasks t
    where ${jobIdRange(tx, jobId, 'asc', afterId)}
    order by t.job_id, t.id limit ${rows}`;
}

/**
 * Takes one of the user's export slots (or throws a 429), checks that the job is visible (or throws: a normal
 * 404; a 503 if the database does not answer in time), and returns the response whose body is then read
 * page by page.
 */
export async function exportTasks(
  deps: AppDeps,
  gate: ExportGate,
  c: Context<AppEnv>,
  jobId: string,
  format: ExportFormat,
): Promise<Response> {
  const { pageRows, idleTimeoutMs, statementTimeoutMs } = gate.limits;
  const f = FORMATS[format];
  const headers = {
    'content-type': f.contentType,
    'content-disposition': `attachment; filename="job-${jobId}-tasks.${format}"`,
    'cache-control': 'no-store',
  };
  const release = gate.admit(c.get('claims').sub);
  // Every transaction checks visibility first: membership can end mid-export, and then so does the export.
  const asUser = <T>(fn: (tx: TxSql) => Promise<T>) =>
    gate.withConnection(() =>
      userTx(deps, c, async (tx) => {
        await tx`select set_config('statement_timeout', ${String(statementTimeoutMs)}, true), ${byIdPlan(tx)}`;
        if (!(await jobVisible(tx, jobId))) throw notFound('job');
        return fn(tx);
      }).catch((err: unknown) => {
        if ((err as { code?: unknown })?.code !== QUERY_CANCELED) throw err;
        throw new ApiError(
          503,
          'exports_busy',
          `the database did not answer the export within ${statementTimeoutMs / 1000} s: try again in a minute`,
          undefined,
          { cause: err },
        );
      }),
    );
  try {
    await asUser(async () => {});
  } catch (err) {
    release();
    throw err;
  }
  // Hono answers HEAD with this GET handler and drops the body unread, which would hold the slot until the
  // idle deadline.
  if (c.req.method === 'HEAD') {
    release();
    return new Response(null, { status: 200, headers });
  }

  const body = new ResponseBody(c, idleTimeoutMs);
  const pump = async () => {
    await body.send(f.head);
    let after: number | undefined;
    for (;;) {
      const rows = await asUser((tx) => exportPage(tx, jobId, after, pageRows));
      if (rows.length > 0) await body.send(f.rows(rows.map(taskJson), after === undefined));
      if (rows.length < pageRows) break;
      after = rows.at(-1)!.id;
    }
    await body.send(f.tail);
    await body.close();
  };
  pump()
    .catch((err: unknown) => {
      if (body.clientGone) log.debug(`export of job ${jobId}: the client went away`);
      else if (err instanceof IdleTimeout) {
        log.info(`export of job ${jobId} cut off: the client read nothing for ${idleTimeoutMs} ms`);
      } else if (err instanceof ApiError) log.info(`export of job ${jobId} stopped: ${err.message}`);
      else log.warn(`export of job ${jobId} stopped: ${(err as Error)?.stack ?? err}`);
      // The client sees a cut-off body (a CSV without its last rows, a JSON array without its `]`).
      body.cut(err);
    })
    .finally(() => {
      body.dispose();
      release();
    });
  return new Response(body.readable, { status: 200, headers });
}
