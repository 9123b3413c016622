// How a postgres_changes filter compares values of one column type: the filter's text parsed as PostgreSQL
// would cast it, the row's JSON value (change-source's Row) read as the same type, and an order between them.
// Comparing as the database would, not as strings: '10' > '9' for int4, an upper-case uuid equals its
// lower-case form, '2026-01-01T00:00:00+01:00' is before '2026-01-01 00:00:00Z'.

export interface ColumnKind<V = unknown> {
  /** The filter's value as this type; undefined when the text cannot be one (PostgreSQL would refuse the cast). */
  parse(text: string): V | undefined;
  /** The row's JSON value as this type; undefined for null or a value of another shape (never matches). */
  fromRow(value: unknown): V | undefined;
  compare(a: V, b: V): number;
  /** Equal values, and only those, have equal keys: `in` and the hub's index look values up by key. */
  key(value: V): string;
}

const order = <T>(a: T, b: T): number => (a < b ? -1 : a > b ? 1 : 0);

function integer(bits: 16 | 32 | 64): ColumnKind<bigint> {
  const max = (1n << BigInt(bits - 1)) - 1n;
  const parse = (text: string) => {
    const t = text.trim();
    if (!/^[+-]?\d+$/.test(t)) return undefined;
    const n = BigInt(t);
    return n > max || n < -max - 1n ? undefined : n;
  };
  return {
    parse,
    fromRow: (v) =>
      typeof v === 'bigint'
        ? v
        : typeof v === 'number'
          ? Number.isInteger(v)
            ? BigInt(v)
            : undefined
          : typeof v === 'string'
            ? parse(v)
            : undefined,
    compare: order,
    key: String,
  };
}

const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const FLOAT_WORDS: Record<string, number> = {
  nan: Number.NaN,
  infinity: Number.POSITIVE_INFINITY,
  '+infinity': Number.POSITIVE_INFINITY,
  '-infinity': Number.NEGATIVE_INFINITY,
};

function float(single: boolean): ColumnKind<number> {
  const round = single ? Math.fround : (n: number) => n;
  const parse = (text: string) => {
    const t = text.trim();
    const word = FLOAT_WORDS[t.toLowerCase()];
    if (word !== undefined) return word;
    return FLOAT.test(t) ? round(Number(t)) : undefined;
  };
  return {
    parse,
    fromRow: (v) => (typeof v === 'number' ? round(v) : typeof v === 'string' ? parse(v) : undefined),
    // PostgreSQL orders NaN above every number and equal to itself.
    compare: (a, b) => (Number.isNaN(a) ? (Number.isNaN(b) ? 0 : 1) : Number.isNaN(b) ? -1 : order(a, b)),
    key: (n) => String(n),
  };
}

/** An exact decimal: value = 0.digits × 10^exp with no leading or trailing zeros in digits ('' is zero). */
interface Decimal {
  special?: 'NaN' | 'Infinity' | '-Infinity';
  negative: boolean;
  digits: string;
  exp: number;
}

const DECIMAL = /^([+-])?(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?$/i;
const decimalRank = (d: Decimal) =>
  d.special === 'NaN' ? 3 : d.special === 'Infinity' ? 2 : d.special === '-Infinity' ? -2 : 0;

function parseDecimal(text: string): Decimal | undefined {
  const t = text.trim();
  const word = t.toLowerCase();
  if (word === 'nan') return { special: 'NaN', negative: false, digits: '', exp: 0 };
  if (word === 'infinity' || word === '+infinity' || word === 'inf') {
    return { special: 'Infinity', negative: false, digits: '', exp: 0 };
  }
  if (word === '-infinity' || word === '-inf')
    return { special: '-Infinity', negative: true, digits: '', exp: 0 };
  const m = DECIMAL.exec(t);
  if (!m || (m[2] === '' && !m[3])) return undefined;
  const all = `${m[2]}${m[3] ?? ''}`;
  const lead = all.length - all.replace(/^0+/, '').length;
  const digits = all.slice(lead).replace(/0+$/, '');
  if (digits === '') return { negative: false, digits: '', exp: 0 };
  return { negative: m[1] === '-', digits, exp: m[2]!.length - lead + Number(m[4] ?? 0) };
}

function compareDecimal(a: Decimal, b: Decimal): number {
  const ra = decimalRank(a);
  const rb = decimalRank(b);
  if (ra !== 0 || rb !== 0) return order(ra, rb);
  const sign = (d: Decimal) => (d.digits === '' ? 0 : d.negative ? -1 : 1);
  if (sign(a) !== sign(b)) return order(sign(a), sign(b));
  if (sign(a) === 0) return 0;
  const magnitude =
    a.exp !== b.exp
      ? order(a.exp, b.exp)
      : order(a.digits.padEnd(b.digits.length, '0'), b.digits.padEnd(a.digits.length, '0'));
  return a.negative ? -magnitude : magnitude;
}

const NUMERIC: ColumnKind<Decimal> = {
  parse: parseDecimal,
  fromRow: (v) =>
    typeof v === 'number' && Number.isFinite(v)
      ? parseDecimal(String(v))
      : typeof v === 'string'
        ? parseDecimal(v)
        : undefined,
  compare: compareDecimal,
  key: (d) => d.special ?? (d.digits === '' ? '0' : `${d.negative ? '-' : ''}0.${d.digits}e${d.exp}`),
};

// Text orders by UTF-16 code unit, as under the C collation for all but astral characters; a database with
// another collation may order some strings differently for lt/gt (eq and in are exact either way).
function text(normalise: (s: string) => string): ColumnKind<string> {
  return {
    parse: normalise,
    fromRow: (v) => (typeof v === 'string' ? normalise(v) : undefined),
    compare: order,
    key: (s) => s,
  };
}

const UUID = /^\{?[0-9a-f]{4}(?:-?[0-9a-f]{4}){7}\}?$/i;
const parseUuid = (text: string) => {
  const t = text.trim();
  if (!UUID.test(t) || t.startsWith('{') !== t.endsWith('}')) return undefined;
  return t.replace(/[-{}]/g, '').toLowerCase();
};

const BOOL_WORDS: Record<string, boolean> = {
  t: true,
  true: true,
  y: true,
  yes: true,
  on: true,
  '1': true,
  f: false,
  false: false,
  n: false,
  no: false,
  off: false,
  '0': false,
};
const parseBool = (text: string) => BOOL_WORDS[text.trim().toLowerCase()];

const TIMESTAMP =
  /^(\d{4,})-(\d{1,2})-(\d{1,2})(?:(?:T|\s+)(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(?:(Z)|([+-])(\d{1,2})(?::?(\d{2})(?::?(\d{2}))?)?)?$/i;
const INFINITY_MICROS = 1n << 70n;

/** Microseconds since 1970-01-01 UTC; `zone`: apply the text's offset (timestamptz) or ignore it (timestamp). */
function parseInstant(text: string, mode: 'timestamptz' | 'timestamp' | 'date'): bigint | undefined {
  const t = text.trim().toLowerCase();
  if (t === 'infinity' || t === '+infinity') return INFINITY_MICROS;
  if (t === '-infinity') return -INFINITY_MICROS;
  const m = TIMESTAMP.exec(t);
  if (!m) return undefined;
  const [y, mo, d, h = 0, mi = 0, s = 0] = m.slice(1, 7).map((p) => Number(p ?? 0));
  if (h! > 23 || mi! > 59 || s! > 59) return undefined;
  const day = new Date(0);
  day.setUTCFullYear(y!, mo! - 1, d!);
  if (day.getUTCFullYear() !== y || day.getUTCMonth() !== mo! - 1 || day.getUTCDate() !== d) return undefined;
  if (mode === 'date') return BigInt(day.getTime()) * 1000n;
  // PostgreSQL keeps microseconds, rounding any further digits.
  const fraction = (m[7] ?? '').padEnd(7, '0');
  const micros = Math.round(Number(fraction.slice(0, 7)) / 10);
  let offsetSeconds = 0;
  if (mode === 'timestamptz' && m[9]) {
    const [oh, om, os] = [m[10], m[11], m[12]].map((p) => Number(p ?? 0));
    if (oh! > 15 || om! > 59 || os! > 59) return undefined;
    offsetSeconds = (m[9] === '-' ? -1 : 1) * (oh! * 3600 + om! * 60 + os!);
  }
  const seconds = day.getTime() / 1000 + h! * 3600 + mi! * 60 + s! - offsetSeconds;
  return BigInt(seconds) * 1_000_000n + BigInt(micros);
}

function instant(mode: 'timestamptz' | 'timestamp' | 'date'): ColumnKind<bigint> {
  const parse = (text: string) => parseInstant(text, mode);
  return {
    parse,
    fromRow: (v) => (typeof v === 'string' ? parse(v) : undefined),
    compare: order,
    key: String,
  };
}

const KINDS: Record<string, ColumnKind> = {
  int2: integer(16),
  int4: integer(32),
  int8: integer(64),
  float4: float(true),
  float8: float(false),
  numeric: NUMERIC,
  text: text((s) => s),
  varchar: text((s) => s),
  name: text((s) => s),
  // char(n) ignores trailing spaces in comparisons; citext ignores case.
  bpchar: text((s) => s.replace(/ +$/, '')),
  citext: text((s) => s.toLowerCase()),
  uuid: {
    parse: parseUuid,
    fromRow: (v) => (typeof v === 'string' ? parseUuid(v) : undefined),
    compare: order,
    key: String,
  } satisfies ColumnKind<string>,
  bool: {
    parse: parseBool,
    fromRow: (v) => (typeof v === 'boolean' ? v : typeof v === 'string' ? parseBool(v) : undefined),
    compare: order,
    key: String,
  } satisfies ColumnKind<boolean>,
  timestamptz: instant('timestamptz'),
  timestamp: instant('timestamp'),
  date: instant('date'),
};

/** How values of this type compare, or undefined when filters on it are not supported. */
export function columnKind(type: string): ColumnKind | undefined {
  return Object.hasOwn(KINDS, type) ? KINDS[type] : undefined;
}

export const FILTERABLE_TYPES = Object.keys(KINDS);
