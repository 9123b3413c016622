// A job's tasks, filtered, sorted and paged by keyset: shared by the signed-in route and the share-link route,
// which differ only in whose transaction (and so which RLS view) the query runs in.
import { z } from '@hono/zod-openapi';
import { CACHE_STATUSES } from '../../crawler/types.ts';
import type { TxSql } from '../../db/client.ts';
import { TASK_STATUSES, type TaskSource, type TaskStatus } from '../../queue/tasks.ts';
import { cursorParam, limitParam } from '../openapi.ts';
import { type Cursor, decodeCursor, invalidCursor, page } from '../pagination.ts';
import { commaList, likeContains } from './schemas.ts';

const SORTS = ['id', 'url', 'response_time_ms', 'status_code'] as const;

export const TaskListQuery = z.object({
  status: commaList(TASK_STATUSES, 'status'),
  cache_status: commaList(CACHE_STATUSES, 'cache_status').openapi({
    type: 'string',
    description:
      'comma-separated final cache statuses (HIT, MISS, …): the status after warming when the page was warmed, else the first response’s — final_cache_status in each task',
  }),
  path: z
    .string()
    .max(2048, 'path is at most 2048 characters')
    .optional()
    .openapi({ description: 'text the URL contains, matched literally and case-insensitively' }),
  min_response_time_ms: z.coerce
    .number('min_response_time_ms is a whole number of milliseconds')
    .int('min_response_time_ms is a whole number of milliseconds')
    .min(0, 'min_response_time_ms cannot be negative')
    .max(2_147_483_647, 'min_response_time_ms is too large')
    .optional(),
  sort: z
    .enum(SORTS, `sort is one of ${SORTS.join(', ')}`)
    .default('id')
    .openapi({ description: 'rows without a value (no response yet) come last in either order' }),
  order: z.enum(['asc', 'desc'], 'order is asc or desc').default('asc'),
  limit: limitParam,
  cursor: cursorParam,
});
export type TaskListFilters = z.output<typeof TaskListQuery>;

export const Task = z
  .object({
    id: z.number(),
    url: z.string(),
    status: z.enum(TASK_STATUSES),
    source: z.enum(['root', 'sitemap', 'link']),
    depth: z.number(),
    found_on: z.string().nullable(),
    attempts: z.number(),
    status_code: z.number().nullable(),
    response_time_ms: z.number().nullable(),
    cache_status: z.string().nullable().openapi({ description: 'the first response’s cache status' }),
    warm_cache_status: z.string().nullable().openapi({ description: 'after warming, when warmed' }),
    final_cache_status: z.string().nullable(),
    warm_response_time_ms: z.number().nullable(),
    redirect_url: z.string().nullable(),
    content_type: z.string().nullable(),
    content_length: z.number().nullable(),
    error_code: z.string().nullable(),
    error_message: z.string().nullable(),
    created_at: z.string(),
    started_at: z.string().nullable(),
    completed_at: z.string().nullable(),
  })
  .openapi('Task');
export type TaskJson = z.infer<typeof Task>;

export interface TaskRow {
  id: number;
  url: string;
  status: TaskStatus;
  source: TaskSource;
  depth: number;
  found_on: string | null;
  attempts: number;
  status_code: number | null;
  response_time_ms: number | null;
  cache_status: string | null;
  warm_cache_status: string | null;
  warm_response_time_ms: number | null;
  redirect_url: string | null;
  content_type: string | null;
  content_length: number | null;
  error_code: string | null;
  error_message: string | null;
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
}

/** The columns a TaskRow needs, from `tasks t`. */
export function taskColumns(tx: TxSql) {
  return tx`t.id, t.url, t.status, t.source, t.depth, t.found_on, t.attempts, t.status_code,
    t.response_time_ms, t.cache_status, t.warm_cache_status, t.warm_response_time_ms, t.redirect_url,
    t.content_type, t.content_length, t.error_code, t.error_message, t.created_at, t.started_at,
    t.completed_at`;
}

export function taskJson(t: TaskRow): TaskJson {
  return {
    ...t,
    final_cache_status: t.warm_cache_status ?? t.cache_status,
    created_at: t.created_at.toISOString(),
    started_at: t.started_at?.toISOString() ?? null,
    completed_at: t.completed_at?.toISOString() ?? null,
  };
}

function sortColumn(tx: TxSql, sort: TaskListFilters['sort']) {
  if (sort === 'url') return tx`t.url`;
  if (sort === 'status_code') return tx`t.status_code`;
  if (sort === 'response_time_ms') return tx`t.response_time_ms`;
  return tx`t.id`;
}

/**
 * A job's tasks past task `pastId` (from its first when undefined), for `order by t.job_id <dir>, t.id <dir>`:
 * a range of tasks_job_id_idx, from (job, pastId) to the job's end. Written as `job_id = $1 and id > $2 order
 * by id`, the planner may instead walk the primary key and filter by job, reading every other job's tasks on
 * the way: a job's tasks are together in id order, but the statistics cannot say so. A row comparison and a
 * bound leave job_id a range rather than a constant, so only tasks_job_id_idx yields that order unsorted, and
 * byIdPlan keeps the planner from sorting something else.
 */
export function jobIdRange(tx: TxSql, jobId: string, order: 'asc' | 'desc', pastId: number | undefined) {
  if (order === 'asc') {
    return tx`(t.job_id, t.id) > (${jobId}::uuid, ${pastId ?? 0}::bigint) and t.job_id <= ${jobId}::uuid`;
  }
  return pastId === undefined
    ? tx`t.job_id >= ${jobId}::uuid and t.job_id <= ${jobId}::uuid`
    : tx`(t.job_id, t.id) < (${jobId}::uuid, ${pastId}::bigint) and t.job_id >= ${jobId}::uuid`;
}

/**
 * Settings, for the rest of the transaction, under which a jobIdRange query reads only its page: with sorts
 * off, the one plan left that needs none is that index's, whatever the statistics say about the job (a
 * bitmap scan, or unique (job_id, url) with an incremental sort, reads the whole job). For a select list.
 */
export function byIdPlan(tx: TxSql) {
  return tx`set_config('enable_sort', 'off', true), set_config('enable_incremental_sort', 'off', true)`;
}

/**
 * The keyset condition for rows after `cursor` in a sort other than id's, `ORDER BY <col> <dir> NULLS LAST,
 * id <dir>`: past the cursor's value, or at it with a later id, or (while still among values) any null; among
 * nulls, a later id. url is never null, so past it is a row comparison alone, which lets unique (job_id, url)
 * start the page at the cursor instead of at the job's first url.
 */
function after(tx: TxSql, f: TaskListFilters, cursor: Cursor) {
  const asc = f.order === 'asc';
  const id = cursorId(cursor);
  const col = sortColumn(tx, f.sort);
  if (cursor.v === null) {
    if (f.sort === 'url') throw invalidCursor();
    return asc
      ? tx`and ${col} is null and t.id > ${id}::bigint`
      : tx`and ${col} is null and t.id < ${id}::bigint`;
  }
  const v =
    f.sort === 'url'
      ? typeof cursor.v === 'string'
        ? tx`${cursor.v}::text`
        : undefined
      : typeof cursor.v === 'number' && Number.isSafeInteger(cursor.v)
        ? tx`${cursor.v}::integer`
        : undefined;
  if (!v) throw invalidCursor();
  if (f.sort === 'url') {
    return asc
      ? tx`and (t.url, t.id) > (${v}, ${id}::bigint)`
      : tx`and (t.url, t.id) < (${v}, ${id}::bigint)`;
  }
  return asc
    ? tx`and ((${col}, t.id) > (${v}, ${id}::bigint) or ${col} is null)`
    : tx`and ((${col}, t.id) < (${v}, ${id}::bigint) or ${col} is null)`;
}

function cursorId(cursor: Cursor): number {
  if (typeof cursor.id !== 'number' || !Number.isSafeInteger(cursor.id)) throw invalidCursor();
  return cursor.id;
}

/** The query of one page of listTasks (limit + 1 rows); by id, run it under byIdPlan. */
export function taskListQuery(tx: TxSql, jobId: string, f: TaskListFilters) {
  const cursor = decodeCursor(f.cursor);
  const dir = f.order === 'asc' ? tx`asc` : tx`desc`;
  const byId = f.sort === 'id';
  const col = sortColumn(tx, f.sort);
  return tx<TaskRow[]>`
    select ${taskColumns(tx)} from tasks t
    where ${byId ? jobIdRange(tx, jobId, f.order, cursor && cursorId(cursor)) : tx`t.job_id = ${jobId}::uuid`}
      ${f.status ? tx`and t.status = any (${f.status}::text[])` : tx``}
      ${
        f.cache_status
          ? tx`and coalesce(t.warm_cache_status, t.cache_status) = any (${f.cache_status}::text[])`
          : tx``
      }
      ${f.path ? tx`and t.url ilike ${likeContains(f.path)} escape '\\'` : tx``}
      ${f.min_response_time_ms !== undefined ? tx`and t.response_time_ms >= ${f.min_response_time_ms}` : tx``}
      ${cursor && !byId ? after(tx, f, cursor) : tx``}
    order by ${
      // id and url are never null, and NULLS LAST on a descending order would keep an index from serving it.
      byId
        ? tx`t.job_id ${dir}, t.id ${dir}`
        : f.sort === 'url'
          ? tx`t.url ${dir}, t.id ${dir}`
          : tx`${col} ${dir} nulls last, t.id ${dir}`
    }
    limit ${f.limit + 1}`;
}

export async function listTasks(tx: TxSql, jobId: string, f: TaskListFilters) {
  const query = taskListQuery(tx, jobId, f);
  if (f.sort === 'id') await tx`select ${byIdPlan(tx)}`;
  const rows = await query;
  const result = page(rows, f.limit, (t) => ({ v: f.sort === 'id' ? t.id : t[f.sort], id: t.id }));
  return { data: result.data.map(taskJson), next_cursor: result.next_cursor };
}
