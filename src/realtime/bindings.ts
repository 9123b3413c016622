// A join's postgres_changes bindings, checked against what we can serve: the published tables (the catalog),
// the four events, and filters our hub evaluates (filters.ts). A binding that names no table, or table '*',
// stands for every published table of its schema (schema '*': of every schema), as on Supabase; it becomes
// one Binding per table, all with its id, and may not carry a filter (a filter needs one table's columns).
import { parseFilter } from './filters.ts';
import type { Binding, ChangeType, Filter, TableInfo } from './types.ts';

const EVENTS: ReadonlySet<string> = new Set(['INSERT', 'UPDATE', 'DELETE', '*']);

/** A join refused for its bindings; the message is the join's error reason. */
export class BindingError extends Error {
  override name = 'BindingError';
}

export interface ParsedBindings {
  bindings: Binding[];
  /** The reply's postgres_changes: each binding as the client sent it, in order, with its id. */
  echo: Record<string, unknown>[];
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const wildcard = (name: unknown) => name === undefined || name === null || name === '*';

export function parseBindings(
  raw: unknown,
  tables: ReadonlyMap<string, TableInfo>,
  maxBindings: number,
): ParsedBindings {
  if (raw === undefined || raw === null) return { bindings: [], echo: [] };
  if (!Array.isArray(raw)) throw refuse('postgres_changes must be a list of bindings');
  const entries = raw.filter((entry) => entry !== null);
  if (entries.length > maxBindings) {
    throw refuse(`${entries.length} postgres_changes bindings; a channel may have at most ${maxBindings}`);
  }
  const bindings: Binding[] = [];
  const echo: Record<string, unknown>[] = [];
  entries.forEach((entry, index) => {
    // realtime-js fires a binding only when its id is truthy and in a frame's ids: count from 1.
    const id = index + 1;
    for (const binding of parseOne(entry, id, tables, `postgres_changes[${index}]`)) bindings.push(binding);
    echo.push({ ...(entry as Record<string, unknown>), id });
  });
  return { bindings, echo };
}

function parseOne(entry: unknown, id: number, tables: ReadonlyMap<string, TableInfo>, at: string): Binding[] {
  if (!isObject(entry)) throw refuse(`${at} must be an object {event, schema, table, filter}`);
  const { event, schema, table, filter } = entry;
  const upper = typeof event === 'string' ? event.toUpperCase() : undefined;
  if (upper === undefined || !EVENTS.has(upper)) {
    throw refuse(`${at}: event must be INSERT, UPDATE, DELETE or *, not ${JSON.stringify(event)}`);
  }
  if (typeof schema !== 'string' || schema === '') throw refuse(`${at}: schema must be a schema name or *`);
  if (!wildcard(table) && (typeof table !== 'string' || table === '')) {
    throw refuse(`${at}: table must be a table name or *`);
  }
  if (filter !== undefined && filter !== null && typeof filter !== 'string') {
    throw refuse(`${at}: filter must be a string such as id=eq.1`);
  }
  const matching = [...tables.values()].filter(
    (t) => (schema === '*' || t.schema === schema) && (wildcard(table) || t.table === table),
  );
  if (matching.length === 0) {
    const published = [...tables.values()].map((t) => `${t.schema}.${t.table}`).join(', ') || 'none';
    const what = wildcard(table)
      ? `schema ${schema} has no table`
      : `table ${schema}.${String(table)} is not`;
    throw refuse(`${at}: ${what} published for realtime (published: ${published})`);
  }
  let parsed: Filter | undefined;
  if (filter) {
    if (wildcard(table) || matching.length > 1) throw refuse(`${at}: a filter needs one table: name it`);
    try {
      parsed = parseFilter(filter, matching[0]!);
    } catch (err) {
      throw refuse(`${at}: filter ${JSON.stringify(filter)}: ${(err as Error).message}`);
    }
  }
  return matching.map((t) => ({
    id,
    event: upper as ChangeType | '*',
    schema: t.schema,
    table: t.table,
    filter: parsed,
  }));
}

const refuse = (why: string) =>
  new BindingError(`Unable to subscribe to changes with given parameters: ${why}`);
