// Between the change source and the channels: committed transactions are collected into short windows; each
// window's changes are matched against every subscription's bindings (binding-index.ts), the matching
// subscriptions grouped by distinct audience, each table's changes checked under RLS with one database call
// for all those audiences (authorizer.ts), and what each may see delivered to it in commit order.
//
// One window is checked at a time, and delivered before the next is checked; meanwhile the next keeps
// collecting. A check costs about the same however many changes it covers (its cost is per audience), so
// under load windows grow instead of queueing. When the open window is full while one is being checked,
// handle() returns a promise that settles once it has room: the change source holds the replication stream,
// PostgreSQL keeps the WAL, and memory stays bounded at two windows.
import type { Sql } from '../db/client.ts';
import { errorMessage } from '../errors.ts';
import type { log as defaultLog } from '../log.ts';
import { type Authorize, authorize as authorizeChanges } from './authorizer.ts';
import { BindingIndex } from './binding-index.ts';
import type { Audience, Change, Subscription, TableInfo, Transaction } from './types.ts';
import { audienceKey, coalesce, cutDelete, type Item } from './window.ts';

/** How long a window collects changes from its first, unless the previous window is still being checked. */
export const WINDOW_MS = 50;
/** A window holds at most about this many changes (a transaction is never split): the bound on its memory. */
export const MAX_WINDOW_CHANGES = 2000;

export interface HubOptions {
  sql: Sql;
  /** The published tables, keyed 'schema.table' (catalog.ts). */
  tables: () => ReadonlyMap<string, TableInfo>;
  windowMs?: number;
  log: Pick<typeof defaultLog, 'warn' | 'error'>;
  /** The RLS check (authorizer.ts's authorize, or a wrapper around it that counts its calls). */
  authorize?: Authorize;
}

export interface Hub {
  add(sub: Subscription): void;
  remove(sub: Subscription): void;
  /** The change source's `transaction` listener: a promise when the hub is behind, settling when it has room. */
  handle(tx: Transaction): void | Promise<void>;
  /** Stops taking and delivering changes; settles once no check is running. */
  stop(): Promise<void>;
}

interface Matched extends Item {
  matches: Map<Subscription, number[]>;
  /** Its index in its table's group. */
  position: number;
}

interface Group {
  changes: Change[];
  /** Audience key → its index in `audiences` and `visible`. */
  slots: Map<string, number>;
  audiences: Audience[];
  /** Per audience, the positions of the changes its subscriptions matched. */
  wanted: number[][];
  visible: Set<number>[];
}

interface Delivery extends Item {
  targets: Array<[Subscription, number[]]>;
}

export function createHub(options: HubOptions): Hub {
  const { sql, tables, log } = options;
  const windowMs = options.windowMs ?? WINDOW_MS;
  const authorize = options.authorize ?? authorizeChanges;
  const index = new BindingIndex();
  let open: { txs: Transaction[]; size: number; due: boolean; timer: NodeJS.Timeout } | undefined;
  let checking: Promise<void> | undefined;
  let waiting: Array<() => void> = [];
  let stopped = false;

  const full = () => open !== undefined && open.size >= MAX_WINDOW_CHANGES;
  const wake = () => {
    const woken = waiting;
    waiting = [];
    for (const resolve of woken) resolve();
  };

  /** Checks the open window once it is due or full and no other window is being checked. */
  const advance = () => {
    if (stopped || checking || !open || !(open.due || full())) return;
    clearTimeout(open.timer);
    const { txs } = open;
    open = undefined;
    wake();
    checking = prepare(txs)
      .then((deliveries) => {
        if (!stopped) deliver(deliveries);
      })
      // A window that could not be matched or checked delivers nothing, rather than anything unchecked.
      .catch((err) => log.error(`realtime: a window of changes was not delivered: ${errorMessage(err)}`))
      .finally(() => {
        checking = undefined;
        advance();
      });
  };

  async function prepare(txs: Transaction[]): Promise<Delivery[]> {
    // Per table: its matched changes, and the distinct audiences of the subscriptions they matched.
    const groups = new Map<TableInfo, Group>();
    const keyOf = new Map<Subscription, string>();
    const audiences = new Map<string, Audience>();
    const matched: Matched[] = [];
    for (const item of coalesce(txs, tables())) {
      const matches = index.match(item.change, item.table);
      if (matches.size === 0) continue;
      const group: Group = groups.get(item.table) ?? {
        changes: [],
        slots: new Map(),
        audiences: [],
        wanted: [],
        visible: [],
      };
      groups.set(item.table, group);
      const position = group.changes.length;
      matched.push({ ...item, matches, position });
      group.changes.push(item.change);
      for (const sub of matches.keys()) {
        // Read once per window: a refreshed token counts from the next window on.
        let key = keyOf.get(sub);
        if (key === undefined) {
          const audience = sub.audience();
          key = audienceKey(audience);
          keyOf.set(sub, key);
          audiences.set(key, audience);
        }
        let slot = group.slots.get(key);
        if (slot === undefined) {
          slot = group.audiences.push(audiences.get(key)!) - 1;
          group.slots.set(key, slot);
          group.wanted.push([]);
        }
        const wanted = group.wanted[slot]!;
        if (wanted.at(-1) !== position) wanted.push(position);
      }
    }
    await Promise.all(
      [...groups].map(async ([table, group]) => {
        const { changes, wanted } = group;
        group.visible = await authorize(sql, table, changes, group.audiences, { log, wanted });
      }),
    );
    const deliveries: Delivery[] = [];
    for (const item of matched) {
      const group = groups.get(item.table)!;
      const targets = [...item.matches].filter(([sub]) =>
        group.visible[group.slots.get(keyOf.get(sub)!)!]?.has(item.position),
      );
      if (targets.length > 0)
        deliveries.push({ ...item, change: cutDelete(item.change, item.table), targets });
    }
    return deliveries;
  }

  function deliver(deliveries: Delivery[]): void {
    for (const { change, commitTimestamp, targets } of deliveries) {
      for (const [sub, ids] of targets) {
        if (!index.has(sub)) continue;
        let kept = false;
        try {
          kept = sub.deliver(change, ids, commitTimestamp);
        } catch (err) {
          log.warn(`realtime: a subscriber failed to take a change, dropped: ${errorMessage(err)}`);
        }
        if (!kept) index.remove(sub);
      }
    }
  }

  return {
    add: (sub) => index.add(sub),
    remove: (sub) => index.remove(sub),
    handle(tx) {
      if (stopped || tx.changes.length === 0) return;
      if (!open) {
        const window = {
          txs: [] as Transaction[],
          size: 0,
          due: false,
          timer: setTimeout(() => {
            window.due = true;
            advance();
          }, windowMs),
        };
        open = window;
      }
      open.txs.push(tx);
      open.size += tx.changes.length;
      advance();
      if (!full()) return;
      return new Promise<void>((resolve) => waiting.push(resolve));
    },
    async stop() {
      stopped = true;
      if (open) clearTimeout(open.timer);
      open = undefined;
      wake();
      await checking;
    },
  };
}
