// Streams every task of a job as CSV or one JSON array, however many there are. The rows come from a
// server-side cursor, 500 at a time, inside the user's transaction (so RLS applies to every batch); the next
// batch is fetched only after the client has taken the last one (each write is awaited), and a client that
// goes away ends the query.
import type { Context } from 'hono';
import { log } from '../../log.ts';
import { csvCell } from '../../report/csv.ts';
import type { AppDeps, AppEnv } from '../context.ts';
import { notFound } from '../errors.ts';
import { userTx } from '../user-db.ts';
import { jobVisible } from './job-view.ts';
import { type TaskJson, type TaskRow, taskColumns, taskJson } from './task-query.ts';

export type ExportFormat = 'csv' | 'json';

const BATCH_ROWS = 500;

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

/**
 * Resolves with the response once the job is known to be visible (an unknown job rejects: a normal 404),
 * while the transaction stays open to feed the body.
 */
export function exportTasks(
  deps: AppDeps,
  c: Context<AppEnv>,
  jobId: string,
  format: ExportFormat,
): Promise<Response> {
  const f = FORMATS[format];
  const encoder = new TextEncoder();
  return new Promise((respond, fail) => {
    let responded = false;
    let clientGone = false;
    userTx(deps, c, async (tx) => {
      if (!(await jobVisible(tx, jobId))) throw notFound('job');
      const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
      const writer = writable.getWriter();
      // A write fails only when the client stopped reading (the response stream was cancelled).
      const write = (text: string) =>
        writer.write(encoder.encode(text)).catch((err: unknown) => {
          clientGone = true;
          throw err;
        });
      const abort = () => writer.abort(new Error('the client went away')).catch(() => {});
      c.req.raw.signal.addEventListener('abort', abort, { once: true });
      respond(
        new Response(readable, {
          status: 200,
          headers: {
            'content-type': f.contentType,
            'content-disposition': `attachment; filename="job-${jobId}-tasks.${format}"`,
            'cache-control': 'no-store',
          },
        }),
      );
      responded = true;
      try {
        await write(f.head);
        let first = true;
        // Leaving the loop by a throw closes the cursor: the query stops and the transaction ends.
        for await (const rows of tx<TaskRow[]>`
          select ${taskColumns(tx)} from tasks t where t.job_id = ${jobId}::uuid order by t.id
        `.cursor(BATCH_ROWS)) {
          await write(f.rows(rows.map(taskJson), first));
          first = false;
        }
        await write(f.tail);
        await writer.close();
      } catch (err) {
        // The client sees a cut-off body (a CSV without its last rows, a JSON array without its `]`).
        await writer.abort(err).catch(() => {});
        throw err;
      } finally {
        c.req.raw.signal.removeEventListener('abort', abort);
      }
    }).catch((err: unknown) => {
      if (!responded) fail(err);
      else if (clientGone || c.req.raw.signal.aborted)
        log.debug(`export of job ${jobId}: the client went away`);
      else log.warn(`export of job ${jobId} stopped: ${(err as Error)?.stack ?? err}`);
    });
  });
}
