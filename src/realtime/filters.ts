// postgres_changes filters as realtime-js sends them and Supabase Realtime accepts them: `col=op.value`,
// conditions joined by commas and combined with AND, `in.(a,b,"c,d")` with PostgreSQL array-literal quoting
// (Supabase turns the list into an array literal and casts it to the column's type). Values compare by the
// column's type (filter-values.ts); a null never matches, as in SQL. Supabase's newer operators (like, is,
// not.…) are refused with a message naming the supported ones.

import { type ColumnKind, columnKind, FILTERABLE_TYPES } from './filter-values.ts';
import type { Filter, Row, TableInfo } from './types.ts';

export const FILTER_OPERATORS = ['eq', 'neq', 'lt', 'lte', 'gt', 'gte', 'in'] as const;
type Operator = (typeof FILTER_OPERATORS)[number];

/** Longest filter accepted: room for an `in` list of MAX_IN_VALUES quoted uuids. */
export const MAX_FILTER_LENGTH = 8192;
export const MAX_FILTER_CONDITIONS = 10;
/** Supabase Realtime's own cap on an `in` list. */
export const MAX_IN_VALUES = 100;

/** A filter the client must fix; the join is refused with this message. */
export class FilterError extends Error {
  override name = 'FilterError';
}

/** An equality a filter requires of one column: the hub indexes bindings by it (keys as ColumnKind.key). */
export interface FilterIndex {
  column: string;
  keys: string[];
}

const indexes = new WeakMap<Filter, FilterIndex>();

/** The equality on one column this filter requires (its first eq, else its first in), if any. */
export function filterIndex(filter: Filter): FilterIndex | undefined {
  return indexes.get(filter);
}

/** A row value's key for `filterIndex`, read as the column's type; undefined for null or an unreadable value. */
export function valueKey(type: string, value: unknown): string | undefined {
  const kind = columnKind(type);
  const parsed = kind?.fromRow(value);
  return parsed === undefined ? undefined : kind!.key(parsed);
}

interface Condition {
  column: string;
  op: Operator;
  keys: string[];
  test: (row: Row) => boolean;
}

export function parseFilter(source: string, table: TableInfo): Filter {
  if (source.length > MAX_FILTER_LENGTH) {
    throw new FilterError(`the filter is longer than ${MAX_FILTER_LENGTH} characters`);
  }
  const segments = source.trim() === '' ? [] : splitTopLevel(source.trim());
  if (segments.length > MAX_FILTER_CONDITIONS) {
    throw new FilterError(
      `the filter has ${segments.length} conditions; at most ${MAX_FILTER_CONDITIONS} are allowed`,
    );
  }
  const conditions = segments.map((segment) => parseCondition(segment.trim(), table));
  const tests = conditions.map((c) => c.test);
  const filter: Filter = { source, matches: (row) => tests.every((test) => test(row)) };
  const indexed = conditions.find((c) => c.op === 'eq') ?? conditions.find((c) => c.op === 'in');
  if (indexed) indexes.set(filter, { column: indexed.column, keys: indexed.keys });
  return filter;
}

const TESTS: Record<Exclude<Operator, 'in'>, (order: number) => boolean> = {
  eq: (o) => o === 0,
  neq: (o) => o !== 0,
  lt: (o) => o < 0,
  lte: (o) => o <= 0,
  gt: (o) => o > 0,
  gte: (o) => o >= 0,
};

function parseCondition(segment: string, table: TableInfo): Condition {
  if (segment === '') throw new FilterError('empty condition (check for extra commas)');
  const eq = segment.indexOf('=');
  const dot = segment.indexOf('.', eq + 1);
  if (eq <= 0 || dot < 0) {
    throw new FilterError(`expected column=operator.value, got ${quote(segment)}`);
  }
  const column = segment.slice(0, eq);
  const op = segment.slice(eq + 1, dot);
  const raw = segment.slice(dot + 1);
  if (!(FILTER_OPERATORS as readonly string[]).includes(op)) {
    throw new FilterError(
      `unsupported operator ${quote(op)} in ${quote(segment)}; use one of ${FILTER_OPERATORS.join(', ')}`,
    );
  }
  const info = table.columns.find((c) => c.name === column);
  if (!info) {
    throw new FilterError(`column ${quote(column)} does not exist in ${table.schema}.${table.table}`);
  }
  const kind = columnKind(info.type);
  if (!kind) {
    throw new FilterError(
      `column ${quote(column)} is of type ${info.type}, which filters cannot compare; ` +
        `filterable types: ${FILTERABLE_TYPES.join(', ')}`,
    );
  }
  const read = (text: string) => {
    const value = kind.parse(text);
    if (value === undefined) {
      throw new FilterError(`${quote(text)} is not a valid ${info.type} for column ${quote(column)}`);
    }
    return value;
  };
  const rowValue = (row: Row) => {
    const v = row[column];
    return v === null || v === undefined ? undefined : kind.fromRow(v);
  };
  if (op === 'in') return inCondition(column, raw, kind, read, rowValue);
  const target = read(unquote(raw));
  const test = TESTS[op as Exclude<Operator, 'in'>];
  return {
    column,
    op: op as Operator,
    keys: [kind.key(target)],
    test: (row) => {
      const v = rowValue(row);
      return v !== undefined && test(kind.compare(v, target));
    },
  };
}

function inCondition(
  column: string,
  raw: string,
  kind: ColumnKind,
  read: (text: string) => unknown,
  rowValue: (row: Row) => unknown,
): Condition {
  if (raw.length < 2 || !raw.startsWith('(') || !raw.endsWith(')')) {
    throw new FilterError(
      `an in list must be wrapped in parentheses, e.g. ${column}=in.(a,b), got ${quote(raw)}`,
    );
  }
  const elements = arrayElements(raw.slice(1, -1));
  if (elements.length > MAX_IN_VALUES) {
    throw new FilterError(`${elements.length} values in an in list, at most ${MAX_IN_VALUES}`);
  }
  // A NULL element never equals anything, as `x = any('{NULL}')` is never true.
  const keys = new Set(elements.filter((e) => e !== null).map((e) => kind.key(read(e))));
  return {
    column,
    op: 'in',
    keys: [...keys],
    test: (row) => {
      const v = rowValue(row);
      return v !== undefined && keys.has(kind.key(v));
    },
  };
}

/** Splits at top-level commas: not inside parentheses, nor inside a quoted value (Supabase's split_top_level). */
function splitTopLevel(filter: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < filter.length; i++) {
    const c = filter[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"' && i > 0 && '.(,'.includes(filter[i - 1]!)) quoted = true;
    else if (c === '(') depth++;
    else if (c === ')') depth = Math.max(0, depth - 1);
    else if (c === ',' && depth === 0) {
      parts.push(filter.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(filter.slice(start));
  return parts;
}

/** A value in double quotes loses them and its backslash escapes; anything else is taken as it is. */
function unquote(value: string): string {
  if (!value.startsWith('"')) return value;
  let out = '';
  for (let i = 1; i < value.length; i++) {
    const c = value[i]!;
    if (c === '"') return i === value.length - 1 ? out : value;
    if (c === '\\' && i + 1 < value.length) out += value[++i];
    else out += c;
  }
  return value;
}

/** The elements of a one-dimensional PostgreSQL array literal's inside; null for an unquoted NULL. */
function arrayElements(inside: string): Array<string | null> {
  const malformed = (why: string) => new FilterError(`malformed in list (${inside.slice(0, 100)}): ${why}`);
  if (inside.trim() === '') return [];
  const elements: Array<string | null> = [];
  let i = 0;
  for (;;) {
    while (inside[i] === ' ') i++;
    let value = '';
    let quotedElement = false;
    if (inside[i] === '"') {
      quotedElement = true;
      for (i++; ; i++) {
        if (i >= inside.length) throw malformed('unterminated quoted value');
        const c = inside[i]!;
        if (c === '"') break;
        value += c === '\\' ? (inside[++i] ?? '') : c;
      }
      i++;
      while (inside[i] === ' ') i++;
    } else {
      for (; i < inside.length && inside[i] !== ','; i++) {
        const c = inside[i]!;
        if ('"{}'.includes(c)) throw malformed(`unexpected ${c}; quote values that contain it`);
        value += c === '\\' ? (inside[++i] ?? '') : c;
      }
      value = value.trim();
      if (value === '') throw malformed('empty value');
    }
    elements.push(!quotedElement && value.toUpperCase() === 'NULL' ? null : value);
    if (i >= inside.length) return elements;
    if (inside[i] !== ',') throw malformed(`unexpected ${inside[i]} after a quoted value`);
    i++;
  }
}

const quote = (s: string) => JSON.stringify(s.length > 100 ? `${s.slice(0, 100)}…` : s);
