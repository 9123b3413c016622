// What the hub makes of a window's transactions before matching them: the changes in commit order with a
// job's UPDATEs coalesced, DELETEs' old rows cut to the key where RLS requires, and subscribers' audiences as
// keys (one RLS check serves every subscriber with the same role, claims and headers).
import type { Audience, Change, Row, TableInfo, Transaction } from './types.ts';

/**
 * Tables whose UPDATEs of one row within a window reach clients once, as the row's last state (at the last
 * update's place, with the first update's old row): a job's counters change with every task, so its row
 * reaches clients at most once per window (hub.ts's WINDOW_MS; less often under load, as windows grow). Tasks
 * are never coalesced: clients see every task change.
 */
const COALESCED_TABLES: ReadonlySet<string> = new Set(['public.jobs']);

export interface Item {
  change: Change;
  commitTimestamp: string;
  table: TableInfo;
}

/** The window's changes in commit order, with coalesced UPDATEs (COALESCED_TABLES) reduced to their last. */
export function coalesce(txs: Transaction[], tables: ReadonlyMap<string, TableInfo>): Item[] {
  const items: Item[] = [];
  const keys: Array<string | undefined> = [];
  const first = new Map<string, Item>();
  const last = new Map<string, number>();
  for (const { changes, commitTimestamp } of txs) {
    for (const change of changes) {
      const name = `${change.schema}.${change.table}`;
      const table = tables.get(name);
      // Unpublished since the change was read: nobody may subscribe to it any more.
      if (!table) continue;
      const key =
        change.type === 'UPDATE' && COALESCED_TABLES.has(name) && change.record
          ? `${name}:${JSON.stringify(table.primaryKey.map((k) => change.record![k]))}`
          : undefined;
      const item = { change, commitTimestamp, table };
      if (key !== undefined) {
        if (!first.has(key)) first.set(key, item);
        last.set(key, items.length);
      }
      items.push(item);
      keys.push(key);
    }
  }
  return items.flatMap((item, i) => {
    const key = keys[i];
    if (key === undefined) return [item];
    if (last.get(key) !== i) return [];
    const oldRecord = first.get(key)!.change.oldRecord;
    return [{ ...item, change: { ...item.change, oldRecord } }];
  });
}

/** A DELETE's old row, cut to the primary key when RLS is on, as Supabase does: its row was never read under RLS. */
export function cutDelete(change: Change, table: TableInfo): Change {
  if (change.type !== 'DELETE' || !table.rls || !change.oldRecord) return change;
  const oldRecord: Row = {};
  for (const k of table.primaryKey) if (k in change.oldRecord) oldRecord[k] = change.oldRecord[k];
  return { ...change, oldRecord };
}

/** Subscribers with the same role, claims and headers see the same rows: one check serves them all. */
export function audienceKey(audience: Audience): string {
  return JSON.stringify([audience.role, canonical(audience.claims), canonical(audience.headers)]);
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
  );
}
