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
 * The keyset condition for rows after `cursor`, in `ORDER BY <col> <dir> NULLS LAST, id <dir>`: past the
 * cursor's value, or at it with a later id, or (while still among values) any null; among nulls, a later id.
 */
function after(tx: TxSql, f: TaskListFilters, cursor: Cursor) {
  const asc = f.order === 'asc';
  if (typeof cursor.id !== 'number' || !Number.isSafeInteger(cursor.id)) throw invalidCursor();
  const id = cursor.id;
  if (f.sort === 'id') {
    return asc ? tx`and t.id > ${id}::bigint` : tx`and t.id < ${id}::bigint`;
  }
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
  return asc
    ? tx`and ((${col}, t.id) > (${v}, ${id}::bigint) or ${col} is null)`
    : tx`and ((${col}, t.id) < (${v}, ${id}::bigint) or ${col} is null)`;
}

export async function listTasks(tx: TxSql, jobId: string, f: TaskListFilters) {
  const cursor = decodeCursor(f.cursor);
  const col = sortColumn(tx, f.sort);
  const dir = f.order === 'asc' ? tx`asc` : tx`desc`;
  const rows = await tx<TaskRow[]>`
    select ${taskColumns(tx)} from tasks t
    where t.job_id = ${jobId}::uuid
      ${f.status ? tx`and t.status = any (${f.status}::text[])` : tx``}
      ${
        f.cache_status
          ? tx`and coalesce(t.warm_cache_status, t.cache_status) = any (${f.cache_status}::text[])`
          : tx``
      }
      ${f.path ? tx`and t.url ilike ${likeContains(f.path)} escape '\\'` : tx``}
      ${f.min_response_time_ms !== undefined ? tx`and t.response_time_ms >= ${f.min_response_time_ms}` : tx``}
      ${cursor ? after(tx, f, cursor) : tx``}
    order by ${col} ${dir} nulls last, t.id ${dir}
    limit ${f.limit + 1}`;
  const result = page(rows, f.limit, (t) => ({ v: f.sort === 'id' ? t.id : t[f.sort], id: t.id }));
  return { data: result.data.map(taskJson), next_cursor: result.next_cursor };
}
