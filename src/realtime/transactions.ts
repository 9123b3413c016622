// pgoutput messages, in stream order, gathered into Transactions: a Begin opens one, each row change is decoded
// (values.ts) with the column types its Relation message gave, and the Commit hands the whole to the listeners.
import type { Pgoutput } from 'pg-logical-replication';
import type { Change, ColumnInfo, Transaction } from './types.ts';
import { decodeRow, type TextTuple } from './values.ts';

export interface AssemblerHooks {
  typeName(column: Pgoutput.RelationColumn): string;
  /** Hands a committed transaction over; a promise holds the stream until it settles. */
  deliver(tx: Transaction): Promise<void> | undefined;
  /** Each Relation message: a table's current columns, sent before the first change after a connect or ALTER. */
  relation(table: { schema: string; table: string; columns: ColumnInfo[] }): void;
}

/** A commit handled, or being handled while `held` is pending: `lsn` may be confirmed to the server after. */
export interface Committed {
  lsn: string;
  held: Promise<void> | undefined;
}

interface Shape {
  columns: ColumnInfo[];
  /** The replica identity's columns (the primary key by default): what an UPDATE or DELETE identifies rows by. */
  key: ColumnInfo[];
}

export function assembler(hooks: AssemblerHooks): (message: Pgoutput.Message) => Committed | undefined {
  const shapes = new WeakMap<Pgoutput.MessageRelation, Shape>();
  let open: Transaction | undefined;

  const shapeOf = (relation: Pgoutput.MessageRelation): Shape => {
    let shape = shapes.get(relation);
    if (!shape) {
      const columns = relation.columns.map((c) => ({ name: c.name, type: hooks.typeName(c) }));
      const key = columns.filter((c) => relation.keyColumns.includes(c.name));
      shape = { columns, key };
      shapes.set(relation, shape);
    }
    return shape;
  };

  return (message) => {
    switch (message.tag) {
      case 'relation':
        hooks.relation({ schema: message.schema, table: message.name, columns: shapeOf(message).columns });
        return undefined;
      case 'begin':
        open = {
          lsn: lsnText(message.commitLsn),
          commitTimestamp: isoMicroseconds(message.commitTime as unknown as bigint),
          changes: [],
        };
        return undefined;
      case 'insert':
      case 'update':
      case 'delete':
        open?.changes.push(toChange(message, shapeOf(message.relation)));
        return undefined;
      case 'commit': {
        const tx = open;
        open = undefined;
        const lsn = lsnText(message.commitEndLsn);
        return { lsn, held: tx && tx.changes.length > 0 ? hooks.deliver(tx) : undefined };
      }
      default:
        // Truncate is not a row change Supabase Realtime reports; type, origin and message need nothing.
        return undefined;
    }
  };
}

function toChange(
  message: Pgoutput.MessageInsert | Pgoutput.MessageUpdate | Pgoutput.MessageDelete,
  { columns, key }: Shape,
): Change {
  const { schema, name: table } = message.relation;
  if (message.tag === 'insert') {
    return {
      schema,
      table,
      type: 'INSERT',
      columns,
      record: decodeRow(columns, message.new),
      oldRecord: null,
    };
  }
  // The full old row with replica identity FULL; else the key: sent when it changed, otherwise the new row's.
  const keyOf = (tuple: TextTuple | null) => (tuple && key.length > 0 ? decodeRow(key, tuple) : null);
  if (message.tag === 'update') {
    const record = decodeRow(columns, message.new, message.old);
    const oldRecord = message.old ? decodeRow(columns, message.old) : keyOf(message.key ?? message.new);
    return { schema, table, type: 'UPDATE', columns, record, oldRecord };
  }
  const oldRecord = message.old ? decodeRow(columns, message.old) : keyOf(message.key);
  return { schema, table, type: 'DELETE', columns, record: null, oldRecord };
}

/** '00000000/016B3748' (the parser pads) → '0/16B3748', as PostgreSQL prints an LSN. */
function lsnText(lsn: string | null): string {
  if (!lsn) return '0/0';
  return lsn
    .split('/')
    .map((half) => Number.parseInt(half, 16).toString(16).toUpperCase())
    .join('/');
}

/** Microseconds since the Unix epoch → '2026-12-07T01:02:03.123456Z'. */
function isoMicroseconds(us: bigint): string {
  const seconds = new Date(Number(us / 1000n)).toISOString().slice(0, 19);
  return `${seconds}.${(us % 1_000_000n).toString().padStart(6, '0')}Z`;
}
