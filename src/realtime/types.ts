// What the realtime pieces hand each other: committed changes from the replication stream (change-source.ts),
// the subscriptions that want them (channel.ts), and the hub between them that matches, authorises under RLS
// and delivers (hub.ts). Wire shapes follow Supabase Realtime's postgres_changes (docs/realtime.md).

export type ChangeType = 'INSERT' | 'UPDATE' | 'DELETE';

/** A column as Supabase Realtime names it in `columns`: PostgreSQL's short type name ('int8', 'uuid', '_text'). */
export interface ColumnInfo {
  name: string;
  type: string;
}

/** A published table: what a binding may name, and how its rows are keyed and protected. */
export interface TableInfo {
  schema: string;
  table: string;
  columns: ColumnInfo[];
  /** Primary-key column names, in key order. */
  primaryKey: string[];
  /** Row Level Security is enabled: every change is checked per subscriber, and DELETEs are cut to the key. */
  rls: boolean;
}

/** A row as JSON values, typed as Supabase Realtime sends them (numbers, booleans, objects; text otherwise). */
export type Row = Record<string, unknown>;

/** One committed row change. */
export interface Change {
  schema: string;
  table: string;
  type: ChangeType;
  columns: ColumnInfo[];
  /** The new row: INSERT and UPDATE. */
  record: Row | null;
  /** The old row: UPDATE and DELETE, as far as the table's replica identity gives it (else its key, or null). */
  oldRecord: Row | null;
}

/** One committed transaction's changes to published tables, in commit order. */
export interface Transaction {
  /** The commit's LSN, e.g. '0/16B3748'. */
  lsn: string;
  /** The commit time, ISO 8601 with microseconds and offset, e.g. '2026-12-07T01:02:03.123456Z'. */
  commitTimestamp: string;
  changes: Change[];
}

/**
 * The stream of committed transactions. Listeners are called in commit order; a `transaction` listener that
 * returns a promise holds the stream (and so PostgreSQL keeps the WAL) until it settles: that is the
 * backpressure when delivery falls behind.
 */
export interface ChangeSourceEvents {
  /** Streaming: every change committed from now on will arrive. */
  ready: () => void;
  transaction: (tx: Transaction) => void | Promise<void>;
  /** The stream was lost: changes may be missed until the next `ready`. */
  interrupted: (reason: Error) => void;
}

/** The PostgreSQL role a subscriber's changes are checked as, with the claims and headers PostgREST would set. */
export interface Audience {
  role: 'anon' | 'authenticated' | 'service_role';
  /** The verified JWT claims (request.jwt.claims). */
  claims: Record<string, unknown>;
  /** request.headers, e.g. a share link's token for anon viewers; empty for most. */
  headers: Record<string, string>;
}

/** A parsed postgres_changes filter, `col=op.value[,col=op.value…]` (filters.ts). */
export interface Filter {
  /** The filter as the client sent it (echoed back on join). */
  source: string;
  /** Whether `row` passes every condition, comparing values by the column's type. */
  matches(row: Row): boolean;
}

/** One postgres_changes binding of a joined channel. */
export interface Binding {
  /** The integer id echoed on join; change frames list the ids they match. */
  id: number;
  event: ChangeType | '*';
  schema: string;
  table: string;
  filter: Filter | undefined;
}

/** What the hub delivers to: one joined channel's postgres_changes bindings and its current audience. */
export interface Subscription {
  readonly bindings: readonly Binding[];
  /** Current, so a refreshed access token takes effect on the next batch. */
  audience(): Audience;
  /**
   * One change this subscription may see, with the ids of its bindings that match, in commit order.
   * `change.oldRecord` is already cut to the key where RLS requires. Returns false when the subscriber's
   * buffer is full: the hub stops delivering to it (its connection is being closed).
   */
  deliver(change: Change, ids: number[], commitTimestamp: string): boolean;
}
