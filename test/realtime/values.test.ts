import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeRow, decodeValue } from '../../src/realtime/values.ts';
import { testDatabase } from '../support/db.ts';
import { changesTo, nextTransaction, readySource } from './change-events.ts';

const db = await testDatabase();

describe('decodeValue', () => {
  test('numbers, keeping as text what a JavaScript number cannot hold exactly', () => {
    assert.equal(decodeValue('int2', '-7'), -7);
    assert.equal(decodeValue('int4', '2147483647'), 2147483647);
    assert.equal(decodeValue('int8', '9007199254740991'), 9007199254740991);
    assert.equal(decodeValue('int8', '9007199254740993'), '9007199254740993');
    assert.equal(decodeValue('int8', '-9223372036854775808'), '-9223372036854775808');
    assert.equal(decodeValue('numeric', '12.50'), 12.5);
    assert.equal(decodeValue('numeric', '123456789012345678901.5'), '123456789012345678901.5');
    assert.equal(decodeValue('numeric', 'NaN'), 'NaN');
    assert.equal(decodeValue('float8', '1e+300'), 1e300);
    assert.equal(decodeValue('float4', '-Infinity'), '-Infinity');
    assert.equal(decodeValue('oid', '4294967295'), 4294967295);
  });

  test('dates and times as to_jsonb writes them; other types as text', () => {
    assert.equal(
      decodeValue('timestamptz', '2026-12-07 01:02:03.123456+00'),
      '2026-12-07T01:02:03.123456+00:00',
    );
    assert.equal(decodeValue('timestamptz', '2026-12-07 01:02:03+05:30'), '2026-12-07T01:02:03+05:30');
    assert.equal(decodeValue('timestamptz', 'infinity'), 'infinity');
    assert.equal(decodeValue('timestamp', '2026-12-07 01:02:03.5'), '2026-12-07T01:02:03.5');
    assert.equal(decodeValue('timetz', '01:02:03+00'), '01:02:03+00');
    assert.equal(decodeValue('date', '2026-12-07'), '2026-12-07');
    assert.equal(
      decodeValue('uuid', '0b6c3a36-33a4-4c5e-9c43-4f1d6b1e0a11'),
      '0b6c3a36-33a4-4c5e-9c43-4f1d6b1e0a11',
    );
    assert.equal(decodeValue('a_custom_enum', 'happy'), 'happy');
  });

  test('arrays, nested and with NULLs, their elements decoded by the element type', () => {
    assert.deepEqual(decodeValue('_int4', '{{1,2},{3,NULL}}'), [
      [1, 2],
      [3, null],
    ]);
    assert.deepEqual(decodeValue('_text', '{"a,b","q\\"uote",NULL,"NULL",""}'), [
      'a,b',
      'q"uote',
      null,
      'NULL',
      '',
    ]);
    assert.deepEqual(decodeValue('_bool', '{t,f}'), [true, false]);
    assert.deepEqual(decodeValue('_jsonb', '{"{\\"a\\": 1}"}'), [{ a: 1 }]);
    assert.deepEqual(decodeValue('_int4', '{}'), []);
  });
});

describe('decodeRow', () => {
  const columns = [
    { name: 'id', type: 'int8' },
    { name: 'body', type: 'text' },
    { name: 'done', type: 'bool' },
  ];

  test('SQL NULL is null; an unchanged TOASTed value comes from the old row, or is left out', () => {
    assert.deepEqual(decodeRow(columns, { id: '1', body: null, done: 't' }), {
      id: 1,
      body: null,
      done: true,
    });
    assert.deepEqual(
      decodeRow(columns, { id: '1', body: undefined, done: 'f' }, { id: '1', body: 'long', done: 't' }),
      {
        id: 1,
        body: 'long',
        done: false,
      },
    );
    assert.deepEqual(decodeRow(columns, { id: '1', body: undefined, done: 'f' }, null), {
      id: 1,
      done: false,
    });
  });
});

describe('values through the replication stream', () => {
  test('every type arrives as to_jsonb gives it (but oid as a number, and beyond 2^53 as text)', async () => {
    await db.sql.unsafe(`
      create type public.rt_mood as enum ('happy', 'sad');
      create table public.rt_values (
        id int8 primary key, i2 int2, i4 int4, i8 int8, f4 float4, f8 float8, f8_nan float8, f8_inf float8,
        num numeric, num_nan numeric, o oid, b bool, j json, jb jsonb, tstz timestamptz, tstz_inf timestamptz,
        ts timestamp, d date, t time, ttz timetz, ttz_ist timetz, u uuid, txt text, by bytea, iv interval,
        mood public.rt_mood, a_i4 int4[], a_2d int4[], a_txt text[], a_b bool[], a_tstz timestamptz[],
        a_jb jsonb[], a_num numeric[], nothing text, big_i8 int8, big_num numeric
      );
      alter publication supabase_realtime add table public.rt_values;`);
    const source = await readySource(db.url);
    const arrived = nextTransaction(source, 'rt_values');
    await db.sql.unsafe(`
      insert into public.rt_values values (
        1, -32768, 2147483647, 9007199254740991, 1.1, 0.1, 'NaN', '-Infinity',
        12.50, 'NaN', 4294967295, true, '{"k": [1, "two", null]}', '{"nested": {"x": 1.5}}',
        '2026-12-07 01:02:03.123456+00', 'infinity',
        '2026-12-07 01:02:03.5', '2026-12-07', '23:59:59.999999', '01:02:03+00', '01:02:03+05:30',
        '0b6c3a36-33a4-4c5e-9c43-4f1d6b1e0a11', E'line\\nbreak "quoted" \\\\', '\\x00ff', '1 day 02:03:04',
        'sad', '{1,2,3}', '{{1,2},{3,4}}', array['a,b', 'q"uote', null, 'NULL'], '{t,f}',
        array['2026-12-07 01:02:03+00'::timestamptz], array['{"a": 1}'::jsonb, 'null'], '{1.5,2}', null,
        9007199254740993, 123456789012345678901.5
      )`);
    const change = changesTo(await arrived, 'rt_values')[0]!;

    const [row] = await db.sql.begin(async (tx) => {
      await tx`set local timezone = 'UTC'`;
      return tx<{ json: string }[]>`select to_jsonb(v)::text as json from public.rt_values v where id = 1`;
    });
    const expected = JSON.parse(row!.json) as Record<string, unknown>;
    expected.o = 4294967295;
    expected.big_i8 = '9007199254740993';
    expected.big_num = '123456789012345678901.5';
    assert.deepEqual(change.record, expected);
    assert.equal(change.columns.find((c) => c.name === 'mood')?.type, 'rt_mood');
    assert.equal(change.columns.find((c) => c.name === 'a_txt')?.type, '_text');
    assert.equal(change.columns.find((c) => c.name === 'tstz')?.type, 'timestamptz');
  });

  test('an unchanged TOASTed column: from the old row with replica identity full, else left out', async () => {
    await db.sql.unsafe(`
      create table public.rt_toast_full (id int4 primary key, body text, n int4);
      create table public.rt_toast_key (id int4 primary key, body text, n int4);
      alter table public.rt_toast_full replica identity full;
      alter table public.rt_toast_full alter column body set storage external;
      alter table public.rt_toast_key alter column body set storage external;
      alter publication supabase_realtime add table public.rt_toast_full, public.rt_toast_key;
      insert into public.rt_toast_full values (1, repeat('x', 10000), 1);
      insert into public.rt_toast_key values (1, repeat('x', 10000), 1);`);
    const source = await readySource(db.url);
    const full = nextTransaction(source, 'rt_toast_full', (c) => c.type === 'UPDATE');
    const key = nextTransaction(source, 'rt_toast_key', (c) => c.type === 'UPDATE');
    await db.sql`update public.rt_toast_full set n = 2`;
    await db.sql`update public.rt_toast_key set n = 2`;

    const fromFull = changesTo(await full, 'rt_toast_full')[0]!;
    assert.deepEqual(fromFull.record, { id: 1, body: 'x'.repeat(10000), n: 2 });
    assert.deepEqual(fromFull.oldRecord, { id: 1, body: 'x'.repeat(10000), n: 1 });
    const fromKey = changesTo(await key, 'rt_toast_key')[0]!;
    assert.deepEqual(fromKey.record, { id: 1, n: 2 });
    assert.deepEqual(fromKey.oldRecord, { id: 1 });
  });
});
