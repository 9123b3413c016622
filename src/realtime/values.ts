// Column values from the replication stream (pgoutput sends each as the text its type's output function
// prints) turned into the JSON values Supabase Realtime sends, which are PostgreSQL's `to_jsonb(value)`:
// numbers, booleans, parsed JSON, arrays, and text for everything else. Timestamps come out as to_jsonb writes
// them (ISO 8601 with a 'T' and a `+hh:mm` offset), the form PostgREST returns too, so a client can compare a
// change with what the REST API gave it. The replication session prints dates in ISO style and UTC
// (replication.ts), which is what the rewriting below expects. Two differences from to_jsonb, both in what
// supabase-js makes of a value anyway: an oid is a number (to_jsonb: text; the client parses it), and an int8 or
// numeric beyond 2^53 stays text rather than a number that has lost digits.
import { parse as parseArray } from 'postgres-array';
import type { ColumnInfo, Row } from './types.ts';

/**
 * A pgoutput tuple with every value left as text: a string, null for SQL NULL, or undefined for a TOASTed value
 * that the UPDATE did not change (pgoutput does not send it again).
 */
export type TextTuple = Record<string, string | null | undefined>;

// Beyond 2^53 a JSON number loses digits in JavaScript: such int8 and numeric values stay text.
const MAX_EXACT = Number.MAX_SAFE_INTEGER;
const INTEGERS = new Set(['int2', 'int4', 'oid']);
const FLOATS = new Set(['float4', 'float8']);
const TIMESTAMP = /^(\d{4,}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?)([+-]\d\d(?::\d\d){0,2})?$/;

/** The JSON value for one non-null column value of type `type` (PostgreSQL's typname, '_' + element for arrays). */
export function decodeValue(type: string, text: string): unknown {
  if (type.startsWith('_')) {
    const element = type.slice(1);
    return parseArray(text, (item) => decodeValue(element, item));
  }
  if (INTEGERS.has(type)) return Number(text);
  switch (type) {
    case 'bool':
      return text === 't';
    case 'int8':
    case 'numeric':
      return exactNumber(text);
    case 'json':
    case 'jsonb':
      return JSON.parse(text);
    case 'timestamptz':
    case 'timestamp':
      return isoTimestamp(text);
    default:
      // float4/float8 print NaN and ±Infinity, which JSON has no number for: to_jsonb keeps those as text.
      if (FLOATS.has(type)) return Number.isFinite(Number(text)) ? Number(text) : text;
      return text;
  }
}

/**
 * A row from a pgoutput tuple. A value missing from `tuple` (an unchanged TOASTed column of an UPDATE's new row)
 * is taken from `old` when the old row has it (replica identity FULL), and otherwise left out of the row.
 */
export function decodeRow(columns: readonly ColumnInfo[], tuple: TextTuple, old?: TextTuple | null): Row {
  const row: Row = {};
  for (const { name, type } of columns) {
    const text = tuple[name] === undefined ? old?.[name] : tuple[name];
    if (text === undefined) continue;
    row[name] = text === null ? null : decodeValue(type, text);
  }
  return row;
}

function exactNumber(text: string): number | string {
  const n = Number(text);
  // NaN and ±Infinity (numeric has them too) are text in to_jsonb as well.
  return Number.isFinite(n) && Math.abs(n) <= MAX_EXACT ? n : text;
}

/**
 * '2026-12-07 01:02:03.5+00' → '2026-12-07T01:02:03.5+00:00': to_jsonb writes the offset as ±hh:mm, where the ISO
 * date style leaves out ':00'. 'infinity' and BC dates stay as printed.
 */
function isoTimestamp(text: string): string {
  const m = TIMESTAMP.exec(text);
  if (!m) return text;
  const zone = m[3] === undefined ? '' : m[3].length === 3 ? `${m[3]}:00` : m[3];
  return `${m[1]}T${m[2]}${zone}`;
}
