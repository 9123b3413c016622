// The hub's index of every registered subscription's bindings, so a change is tested only against the
// bindings that could match it: by table, and for a binding whose filter requires an equality (job_id=eq.…,
// id=in.(…)), by that column's value. At 500 clients each watching their own job's tasks, a task change then
// meets the few bindings on its job instead of all 500 filters.
import { filterIndex, valueKey } from './filters.ts';
import type { Binding, Change, Subscription, TableInfo } from './types.ts';

interface Entry {
  sub: Subscription;
  binding: Binding;
}

interface TableEntries {
  /** Bindings with no equality to index by: tested against every change of the table. */
  scan: Set<Entry>;
  /** column → value key → bindings that require that value there. */
  byValue: Map<string, Map<string, Set<Entry>>>;
}

export class BindingIndex {
  private readonly tables = new Map<string, TableEntries>();
  private readonly undo = new Map<Subscription, Array<() => void>>();

  has(sub: Subscription): boolean {
    return this.undo.has(sub);
  }

  add(sub: Subscription): void {
    if (this.undo.has(sub)) return;
    const undo: Array<() => void> = [];
    for (const binding of sub.bindings) {
      const entry = { sub, binding };
      const name = `${binding.schema}.${binding.table}`;
      const table = this.tables.get(name) ?? { scan: new Set(), byValue: new Map() };
      this.tables.set(name, table);
      const index = binding.filter && filterIndex(binding.filter);
      if (!index) {
        table.scan.add(entry);
        undo.push(() => table.scan.delete(entry));
        continue;
      }
      const byKey = table.byValue.get(index.column) ?? new Map<string, Set<Entry>>();
      table.byValue.set(index.column, byKey);
      for (const key of index.keys) {
        const entries = byKey.get(key) ?? new Set<Entry>();
        byKey.set(key, entries.add(entry));
        undo.push(() => {
          entries.delete(entry);
          // Watched values come and go (a job id per job): forget a value nobody watches any more.
          if (entries.size === 0) byKey.delete(key);
        });
      }
    }
    this.undo.set(sub, undo);
  }

  remove(sub: Subscription): void {
    for (const step of this.undo.get(sub) ?? []) step();
    this.undo.delete(sub);
  }

  /**
   * The subscriptions whose bindings match a change, each with its matching binding ids in ascending order.
   * Filters test the new row, or the old one for a DELETE, as Supabase's do.
   */
  match(change: Change, table: TableInfo): Map<Subscription, number[]> {
    const found = new Map<Subscription, number[]>();
    const row = change.type === 'DELETE' ? change.oldRecord : change.record;
    const entries = this.tables.get(`${change.schema}.${change.table}`);
    if (!row || !entries) return found;
    const test = (entry: Entry) => {
      const { binding } = entry;
      if (binding.event !== '*' && binding.event.toUpperCase() !== change.type) return;
      if (binding.filter && !binding.filter.matches(row)) return;
      const ids = found.get(entry.sub);
      if (!ids) found.set(entry.sub, [binding.id]);
      else if (!ids.includes(binding.id)) ids.push(binding.id);
    };
    for (const entry of entries.scan) test(entry);
    for (const [column, byKey] of entries.byValue) {
      const type = table.columns.find((c) => c.name === column)?.type;
      const key = type === undefined ? undefined : valueKey(type, row[column]);
      const candidates = key === undefined ? undefined : byKey.get(key);
      if (candidates) for (const entry of candidates) test(entry);
    }
    for (const ids of found.values()) ids.sort((a, b) => a - b);
    return found;
  }
}
