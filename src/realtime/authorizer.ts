// Which of a window's changes to one table each audience may see, under Row Level Security, with ONE database
// call for every audience together (public.realtime_authorize, in the realtime_authorize migration). The
// check runs after the commit, so it sees the row as it is now: a row deleted or hidden since is not
// delivered. Any failure delivers nothing to the audiences it was checking, rather than risk a leak.
import type { Sql } from '../db/client.ts';
import { errorMessage } from '../errors.ts';
import { log as defaultLog } from '../log.ts';
import { valueKey } from './filters.ts';
import type { Audience, Change, TableInfo } from './types.ts';

/**
 * What a DELETE of a table is authorised by, its row being gone: the organisation its old row names (replica
 * identity full), which the audience must be able to read. A table with RLS that is not here has its DELETEs
 * delivered to service_role only: tasks' old rows carry nothing but their key.
 */
const DELETE_SCOPES: Readonly<Record<string, string>> = { 'public.jobs': 'organisation_id' };

export type Authorize = typeof authorize;

export interface AuthorizeOptions {
  log?: Pick<typeof defaultLog, 'error'>;
  /**
   * Per audience, the indexes of the changes it needs (its subscriptions matched them); all when absent. Its
   * query then reads only those rows: a user watching one job's tasks costs a few index probes, not the
   * window's.
   */
  wanted?: ReadonlyArray<readonly number[] | undefined>;
}

/** For each audience, in order, the indexes of the changes it may see (at least those it wanted). */
export async function authorize(
  sql: Sql,
  table: TableInfo,
  changes: readonly Change[],
  audiences: readonly Audience[],
  { log = defaultLog, wanted = [] }: AuthorizeOptions = {},
): Promise<Set<number>[]> {
  const visible = audiences.map((a) =>
    a.role === 'service_role' ? new Set(changes.keys()) : new Set<number>(),
  );
  const checked = audiences.flatMap((a, i) => (a.role === 'service_role' ? [] : [i]));
  if (checked.length === 0 || changes.length === 0) return visible;

  const scope = DELETE_SCOPES[`${table.schema}.${table.table}`];
  // By key (filter-values.ts), so the text PostgreSQL returns finds the changes whatever its spelling.
  const byKey = new Map<string, Entry>();
  const byOrganisation = new Map<string, Entry>();
  /** Change index → its entry in byKey, for the per-audience key lists. */
  const keyOfChange = new Map<number, Entry>();
  try {
    const [pk, ...rest] = table.primaryKey;
    const pkType = table.columns.find((c) => c.name === pk)?.type;
    if (pk === undefined || rest.length > 0 || pkType === undefined) {
      throw new Error(`${table.schema}.${table.table} needs a single-column primary key for realtime`);
    }
    changes.forEach((change, i) => {
      if (change.type !== 'DELETE') {
        const entry = note(byKey, pkType, change.record?.[pk], i);
        if (entry) keyOfChange.set(i, entry);
      } else if (!table.rls) for (const a of checked) visible[a]!.add(i);
      else if (scope) note(byOrganisation, 'uuid', change.oldRecord?.[scope], i);
    });
    if (byKey.size === 0 && byOrganisation.size === 0) return visible;

    const rows = await sql<{ audience: number; pk: string | null; organisation_id: string | null }[]>`
      select audience, pk, organisation_id from public.realtime_authorize(
        ${`${quoteIdent(table.schema)}.${quoteIdent(table.table)}`}::regclass, ${pk},
        ${checked.map((a) => audiences[a]!.role)}::text[],
        ${checked.map((a) => JSON.stringify(audiences[a]!.claims))}::text[],
        ${checked.map((a) => JSON.stringify(audiences[a]!.headers))}::text[],
        ${[...byKey.values()].map((e) => e.text)}::text[],
        ${checked.map((a) => keyList(wanted[a], keyOfChange, byKey.size))}::text[],
        ${[...byOrganisation.values()].map((e) => e.text)}::uuid[])`;
    for (const row of rows) {
      const seen = visible[checked[row.audience - 1]!]!;
      const entry =
        row.pk !== null
          ? byKey.get(keyOf(pkType, row.pk)!)
          : byOrganisation.get(keyOf('uuid', row.organisation_id)!);
      for (const i of entry?.indexes ?? []) seen.add(i);
    }
    return visible;
  } catch (err) {
    log.error(
      `realtime: could not check ${changes.length} changes to ${table.schema}.${table.table} for ` +
        `${checked.length} audiences; none delivered: ${errorMessage(err)}`,
    );
    for (const a of checked) visible[a]!.clear();
    return visible;
  }
}

interface Entry {
  /** 1-based, as the function's arrays count. */
  position: number;
  text: string;
  indexes: number[];
}

function note(map: Map<string, Entry>, type: string, value: unknown, index: number): Entry | undefined {
  const key = keyOf(type, value);
  if (key === undefined) return undefined;
  let entry = map.get(key);
  if (entry) entry.indexes.push(index);
  else {
    entry = { position: map.size + 1, text: String(value), indexes: [index] };
    map.set(key, entry);
  }
  return entry;
}

/** An audience's keys as an integer array literal of positions in the key list; null for all of them. */
function keyList(wanted: readonly number[] | undefined, keyOfChange: Map<number, Entry>, keys: number) {
  if (wanted === undefined) return null;
  const positions = new Set<number>();
  for (const i of wanted) {
    const entry = keyOfChange.get(i);
    if (entry) positions.add(entry.position);
  }
  return positions.size === keys ? null : `{${[...positions].join(',')}}`;
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

const keyOf = (type: string, value: unknown) =>
  value === null || value === undefined ? undefined : (valueKey(type, value) ?? String(value));
