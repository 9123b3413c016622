import assert from 'node:assert/strict';
import { test } from 'node:test';
import { splitSql } from '../../src/db/sql-split.ts';

test('splits on semicolons outside strings, identifiers, dollar quotes and comments', () => {
  const sql = [
    '-- leading comment; with a semicolon',
    "create table \"a;b\" (x text default 'it''s; fine');",
    '',
    "select E'back\\'slash; still string';",
    'create function f() returns int language sql as $body$ select 1; $body$;',
    'do $$ begin perform 1; end $$;',
    '/* block; /* nested; */ still comment; */ select 2;',
    '-- trailing comment only',
  ].join('\n');
  const parts = splitSql(sql);
  assert.deepEqual(
    parts.map((p) => p.line),
    [2, 4, 5, 6, 7],
  );
  assert.match(parts[0]!.text, /^-- leading comment; with a semicolon\ncreate table "a;b"/);
  assert.match(parts[1]!.text, /still string'$/);
  assert.match(parts[2]!.text, /\$body\$ select 1; \$body\$$/);
  assert.match(parts[4]!.text, /select 2$/);
});

test('positional parameters and identifiers with $ are not dollar quotes', () => {
  const parts = splitSql('select $1, a$b from t; select 2;');
  assert.equal(parts.length, 2);
});

test('unterminated quotes are reported with their line', () => {
  assert.throws(() => splitSql("select 1;\nselect 'oops;"), /Unterminated string at line 2/);
  assert.throws(() => splitSql('select $$ never closed'), /Unterminated dollar quote \$\$ at line 1/);
  assert.throws(() => splitSql('/* open'), /Unterminated comment at line 1/);
});
