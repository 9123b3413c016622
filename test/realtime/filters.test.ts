// postgres_changes filters: every operator on every column type the filters compare, values compared by type
// (never as strings), AND of several conditions, in-list quoting as Supabase's parser reads it, and bad
// filters refused with a message that says what is wrong.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  FilterError,
  filterIndex,
  MAX_FILTER_CONDITIONS,
  MAX_FILTER_LENGTH,
  MAX_IN_VALUES,
  parseFilter,
  valueKey,
} from '../../src/realtime/filters.ts';
import type { Row, TableInfo } from '../../src/realtime/types.ts';

const TABLE: TableInfo = {
  schema: 'public',
  table: 'things',
  primaryKey: ['id'],
  rls: true,
  columns: [
    ['id', 'int8'],
    ['small', 'int2'],
    ['count', 'int4'],
    ['ratio', 'float8'],
    ['progress', 'numeric'],
    ['name', 'text'],
    ['code', 'bpchar'],
    ['job_id', 'uuid'],
    ['done', 'bool'],
    ['at', 'timestamptz'],
    ['local_at', 'timestamp'],
    ['day', 'date'],
    ['stats', 'jsonb'],
  ].map(([name, type]) => ({ name: name!, type: type! })),
};

const parse = (source: string) => parseFilter(source, TABLE);
/** Which of `values` (as row values of `column`) the filter keeps. */
const kept = (source: string, column: string, values: unknown[]) => {
  const filter = parse(source);
  return values.filter((value) => filter.matches({ [column]: value }));
};

const JOB = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11';
const OTHER_JOB = 'b1ffcd00-0d1c-4f09-8c7e-7cc0ce491b22';

describe('operators compare by the column type', () => {
  test('integers compare as numbers, and int8 beyond 2^53 exactly', () => {
    const values = [9, 10, 100, -1];
    assert.deepEqual(kept('count=eq.10', 'count', values), [10]);
    assert.deepEqual(kept('count=neq.10', 'count', values), [9, 100, -1]);
    assert.deepEqual(kept('count=lt.10', 'count', values), [9, -1]);
    assert.deepEqual(kept('count=lte.10', 'count', values), [9, 10, -1]);
    assert.deepEqual(kept('count=gt.9', 'count', values), [10, 100], 'as text, "10" < "9"');
    assert.deepEqual(kept('count=gte.10', 'count', values), [10, 100]);
    assert.deepEqual(kept('count=in.(9,100)', 'count', values), [9, 100]);
    assert.deepEqual(kept('count=eq.+010', 'count', values), [10], 'PostgreSQL reads +010 as 10');
    // values.ts keeps int8 beyond 2^53 as text: compared exactly, not rounded to the nearest double.
    assert.deepEqual(
      kept('id=eq.9007199254740993', 'id', ['9007199254740993', 9007199254740992, '9007199254740992']),
      ['9007199254740993'],
    );
    assert.deepEqual(kept('id=gt.9007199254740992', 'id', ['9007199254740993', 9007199254740992]), [
      '9007199254740993',
    ]);
  });

  test('floats and numerics compare as numbers; numeric exactly', () => {
    assert.deepEqual(kept('ratio=gt.0.5', 'ratio', [0.25, 0.5, 0.75, 2]), [0.75, 2]);
    assert.deepEqual(kept('ratio=eq.1e-1', 'ratio', [0.1, 0.01]), [0.1]);
    assert.deepEqual(kept('ratio=eq.NaN', 'ratio', ['NaN', 1]), ['NaN'], 'PostgreSQL: NaN = NaN');
    assert.deepEqual(kept('ratio=gt.1e300', 'ratio', ['Infinity', 1]), ['Infinity']);
    assert.deepEqual(kept('progress=eq.50', 'progress', [50, 50.5, '50.00', 5]), [50, '50.00']);
    assert.deepEqual(kept('progress=gte.9.5', 'progress', [9.49, 9.5, 10, 100, -20]), [9.5, 10, 100]);
    assert.deepEqual(kept('progress=lt.0', 'progress', [-0.01, 0, 0.01, '-1e3']), [-0.01, '-1e3']);
    // Beyond a double's precision: values.ts leaves such numerics as text.
    assert.deepEqual(
      kept('progress=gt.12345678901234567890.1', 'progress', [
        '12345678901234567890.2',
        '12345678901234567890.1',
      ]),
      ['12345678901234567890.2'],
    );
    assert.deepEqual(kept('progress=in.(0.5,1)', 'progress', [0.5, '1.000', 2]), [0.5, '1.000']);
  });

  test('text compares as text; char(n) ignores trailing spaces', () => {
    const names = ['apple', 'banana', 'cherry', 'Banana'];
    assert.deepEqual(kept('name=eq.banana', 'name', names), ['banana']);
    assert.deepEqual(kept('name=neq.banana', 'name', names), ['apple', 'cherry', 'Banana']);
    assert.deepEqual(kept('name=lt.banana', 'name', names), ['apple', 'Banana']);
    assert.deepEqual(kept('name=lte.banana', 'name', names), ['apple', 'banana', 'Banana']);
    assert.deepEqual(kept('name=gt.banana', 'name', names), ['cherry']);
    assert.deepEqual(kept('name=gte.banana', 'name', names), ['banana', 'cherry']);
    assert.deepEqual(kept('name=in.(apple,cherry)', 'name', names), ['apple', 'cherry']);
    assert.deepEqual(kept('name=eq.10', 'name', ['10', 10]), ['10'], 'a text column holds text');
    assert.deepEqual(kept('code=eq.ab', 'code', ['ab  ', 'ab', 'abc']), ['ab  ', 'ab']);
  });

  test('a value may hold dots, and a quoted one commas and escaped quotes', () => {
    assert.deepEqual(kept('name=eq.example.com', 'name', ['example.com', 'example']), ['example.com']);
    assert.deepEqual(kept('name=eq."a,b"', 'name', ['a,b', '"a,b"']), ['a,b']);
    assert.deepEqual(kept('name=eq."say \\"hi\\""', 'name', ['say "hi"']), ['say "hi"']);
    assert.deepEqual(kept('name=eq.x,count=eq.1', 'name', ['x']), [], 'two conditions, and count is missing');
  });

  test('uuids compare case-insensitively and in any spelling PostgreSQL accepts', () => {
    const ids = [JOB, OTHER_JOB];
    assert.deepEqual(kept(`job_id=eq.${JOB.toUpperCase()}`, 'job_id', ids), [JOB]);
    assert.deepEqual(kept(`job_id=eq.{${JOB.replaceAll('-', '')}}`, 'job_id', ids), [JOB]);
    assert.deepEqual(kept(`job_id=neq.${JOB}`, 'job_id', ids), [OTHER_JOB]);
    assert.deepEqual(kept(`job_id=lt.${OTHER_JOB}`, 'job_id', ids), [JOB]);
    assert.deepEqual(kept(`job_id=lte.${JOB}`, 'job_id', ids), [JOB]);
    assert.deepEqual(kept(`job_id=gt.${JOB}`, 'job_id', ids), [OTHER_JOB]);
    assert.deepEqual(kept(`job_id=gte.${JOB}`, 'job_id', ids), ids);
    assert.deepEqual(kept(`job_id=in.(${OTHER_JOB.toUpperCase()},"${JOB}")`, 'job_id', ids), ids);
  });

  test('booleans', () => {
    assert.deepEqual(kept('done=eq.true', 'done', [true, false]), [true]);
    assert.deepEqual(kept('done=eq.f', 'done', [true, false]), [false]);
    assert.deepEqual(kept('done=neq.TRUE', 'done', [true, false]), [false]);
    assert.deepEqual(kept('done=lt.true', 'done', [true, false]), [false]);
    assert.deepEqual(kept('done=gte.false', 'done', [true, false]), [true, false]);
    assert.deepEqual(kept('done=in.(yes,no)', 'done', [true, false]), [true, false]);
  });

  test('timestamps compare as instants, with offsets and microseconds', () => {
    // As values.ts writes them (to_jsonb's ISO form), and as PostgreSQL prints them.
    const at = ['2026-01-01T00:00:00+00:00', '2025-12-31T23:00:00+00:00', '2026-01-01 00:00:00.000001+00'];
    assert.deepEqual(kept('at=eq.2026-01-01T00:00:00+01:00', 'at', at), ['2025-12-31T23:00:00+00:00']);
    assert.deepEqual(kept('at=eq.2026-01-01 00:00:00Z', 'at', at), ['2026-01-01T00:00:00+00:00']);
    assert.deepEqual(kept('at=neq.2026-01-01T00:00:00Z', 'at', at), [at[1], at[2]]);
    assert.deepEqual(kept('at=gt.2026-01-01T00:00:00Z', 'at', at), [at[2]], 'one microsecond later');
    assert.deepEqual(kept('at=gte.2026-01-01T00:00:00Z', 'at', at), [at[0], at[2]]);
    assert.deepEqual(kept('at=lt.2025-12-31T18:30:00.5-05:00', 'at', at), [at[1]]);
    assert.deepEqual(kept('at=lte.2025-12-31T23:00:00Z', 'at', at), [at[1]]);
    assert.deepEqual(kept('at=in.(2026-01-01T00:00:00Z,"2026-01-01 01:00:00+01")', 'at', at), [at[0]]);
    assert.deepEqual(kept('at=lt.infinity', 'at', at), at);
    // timestamp without time zone: wall-clock time, an offset in the text is ignored (as PostgreSQL does).
    assert.deepEqual(kept('local_at=eq.2026-05-01 12:00:00+05', 'local_at', ['2026-05-01T12:00:00']), [
      '2026-05-01T12:00:00',
    ]);
    assert.deepEqual(kept('day=gt.2026-02-28', 'day', ['2026-02-28', '2026-03-01', '2025-12-31']), [
      '2026-03-01',
    ]);
  });

  test('a null never matches, whatever the operator (as in SQL)', () => {
    for (const source of ['count=eq.1', 'count=neq.1', 'count=lt.1', 'count=gte.1', 'count=in.(1,NULL)']) {
      assert.equal(parse(source).matches({ count: null }), false, source);
      assert.equal(parse(source).matches({}), false, `${source}, column missing from the row`);
    }
    assert.deepEqual(kept('count=in.(NULL)', 'count', [1, null]), []);
    assert.deepEqual(kept('name=eq.null', 'name', ['null', null]), ['null'], 'text "null" is a string');
  });

  test('comma-separated conditions must all hold', () => {
    const filter = parse(`job_id=eq.${JOB},count=gte.10,count=lt.20,done=eq.false`);
    const row = (count: number, done: boolean, job_id = JOB): Row => ({ job_id, count, done });
    assert.equal(filter.matches(row(10, false)), true);
    assert.equal(filter.matches(row(20, false)), false);
    assert.equal(filter.matches(row(15, true)), false);
    assert.equal(filter.matches(row(15, false, OTHER_JOB)), false);
    assert.equal(filter.source, `job_id=eq.${JOB},count=gte.10,count=lt.20,done=eq.false`);
  });

  test('an empty filter keeps everything, as on Supabase', () => {
    assert.equal(parse('').matches({}), true);
    assert.equal(parse('  ').matches({ count: null }), true);
  });
});

describe('in lists', () => {
  test('quoted values keep commas, parentheses, escaped quotes and spaces; unquoted ones are trimmed', () => {
    const names = ['a,b', 'c(d)', 'e"f', ' g ', 'h', 'NULL'];
    assert.deepEqual(kept('name=in.("a,b","c(d)","e\\"f"," g ", h )', 'name', names), [
      'a,b',
      'c(d)',
      'e"f',
      ' g ',
      'h',
    ]);
    assert.deepEqual(kept('name=in.("NULL")', 'name', names), ['NULL'], 'a quoted NULL is text');
    assert.deepEqual(kept('name=in.()', 'name', names), [], 'an empty list matches nothing');
    assert.deepEqual(
      kept('name=in.(a\\,b)', 'name', names),
      ['a,b'],
      'a backslash escapes in unquoted values',
    );
  });

  test('an in list and other conditions combine', () => {
    const filter = parse('name=in.("x,y",z),count=gt.1');
    assert.equal(filter.matches({ name: 'x,y', count: 2 }), true);
    assert.equal(filter.matches({ name: 'z', count: 1 }), false);
    assert.equal(filter.matches({ name: 'x', count: 2 }), false);
  });
});

describe('the hub indexes bindings by an equality the filter requires', () => {
  test('eq first, else in; keys as valueKey reads row values', () => {
    assert.deepEqual(filterIndex(parse(`count=gt.1,job_id=eq.${JOB.toUpperCase()}`)), {
      column: 'job_id',
      keys: [valueKey('uuid', JOB)],
    });
    assert.deepEqual(filterIndex(parse('count=in.(1,+2,1)')), {
      column: 'count',
      keys: [valueKey('int4', 1), valueKey('int4', '2')],
    });
    assert.equal(filterIndex(parse('count=gt.1')), undefined);
    assert.equal(valueKey('int4', null), undefined);
    assert.equal(valueKey('uuid', 'not a uuid'), undefined);
  });
});

describe('bad filters are refused with a message saying what is wrong', () => {
  const refused = (source: string, message: RegExp) =>
    assert.throws(
      () => parse(source),
      (err: Error) => {
        assert.ok(err instanceof FilterError, `${source}: ${err}`);
        assert.match(err.message, message);
        return true;
      },
    );

  test('unknown columns and operators, and malformed conditions', () => {
    refused('nope=eq.1', /column "nope" does not exist in public\.things/);
    refused(
      'name=like.a%',
      /unsupported operator "like" in "name=like\.a%"; use one of eq, neq, lt, lte, gt, gte, in/,
    );
    refused('count=not.eq.1', /unsupported operator "not"/);
    refused('count', /expected column=operator\.value, got "count"/);
    refused('count=eq', /expected column=operator\.value/);
    refused('=eq.1', /expected column=operator\.value/);
    refused('undefined', /expected column=operator\.value, got "undefined"/);
    refused('count=eq.1,', /empty condition \(check for extra commas\)/);
    refused('count=eq.1,,name=eq.a', /empty condition/);
    refused(
      'stats=eq.{}',
      /column "stats" is of type jsonb, which filters cannot compare; filterable types: int2/,
    );
  });

  test('values that cannot be the column type', () => {
    refused('id=eq.abc', /"abc" is not a valid int8 for column "id"/);
    refused('count=gt.1.5', /"1\.5" is not a valid int4 for column "count"/);
    refused('small=eq.40000', /"40000" is not a valid int2/);
    refused('id=eq.9223372036854775808', /not a valid int8/);
    refused('job_id=eq.a0eebc99-9c0b-4ef8-bb6d', /not a valid uuid for column "job_id"/);
    refused(`job_id=eq.{${JOB}`, /not a valid uuid/);
    refused(
      'at=gt.2026-13-01T00:00:00Z',
      /"2026-13-01T00:00:00Z" is not a valid timestamptz for column "at"/,
    );
    refused('at=gt.2026-02-30', /is not a valid timestamptz/);
    refused('at=gt.yesterday', /is not a valid timestamptz/);
    refused('at=eq.2026-01-01T25:00:00Z', /is not a valid timestamptz/);
    refused('done=eq.maybe', /"maybe" is not a valid bool/);
    refused('progress=eq.1.2.3', /is not a valid numeric/);
    refused('ratio=lt.fast', /is not a valid float8/);
    refused('count=in.(1,abc)', /"abc" is not a valid int4/);
  });

  test('malformed in lists', () => {
    refused('count=in.1,2', /an in list must be wrapped in parentheses, e\.g\. count=in\.\(a,b\)/);
    refused('name=in.("a,b)', /malformed in list .*unterminated quoted value/);
    refused('name=in.(a,,b)', /malformed in list .*empty value/);
    refused('name=in.(a"b)', /malformed in list .*quote values that contain it/);
    refused('name=in.("a"b)', /malformed in list .*after a quoted value/);
  });

  test('too many conditions or values, or too long', () => {
    const conditions = Array.from({ length: MAX_FILTER_CONDITIONS + 1 }, (_, i) => `count=neq.${i}`);
    refused(
      conditions.join(','),
      new RegExp(`${conditions.length} conditions; at most ${MAX_FILTER_CONDITIONS}`),
    );
    assert.equal(parse(conditions.slice(1).join(',')).matches({ count: 0 }), true);

    const values = Array.from({ length: MAX_IN_VALUES + 1 }, (_, i) => i);
    refused(
      `count=in.(${values.join(',')})`,
      new RegExp(`${values.length} values in an in list, at most 100`),
    );
    assert.equal(parse(`count=in.(${values.slice(1).join(',')})`).matches({ count: 100 }), true);

    refused(
      `name=eq.${'x'.repeat(MAX_FILTER_LENGTH)}`,
      new RegExp(`the filter is longer than ${MAX_FILTER_LENGTH} characters`),
    );
    // The longest list Supabase allows, of quoted uuids, fits.
    const uuids = Array.from({ length: MAX_IN_VALUES }, () => `"${JOB}"`);
    assert.equal(parse(`job_id=in.(${uuids.join(',')})`).matches({ job_id: JOB }), true);
  });
});
