import assert from 'node:assert/strict';
import { cp, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { MigrationError } from '../../src/db/errors.ts';
import { MIGRATIONS_DIR, migrate, readMigrations } from '../../src/db/migrate.ts';
import { testDatabase } from '../support/db.ts';

async function appliedVersions(sql: import('../../src/db/client.ts').Sql): Promise<string[]> {
  const rows = await sql<{ version: string }[]>`
    select version from supabase_migrations.schema_migrations order by version`;
  return rows.map((r) => r.version);
}

describe('migrations', () => {
  test('apply once on an empty database, with the Supabase pieces bootstrapped', async () => {
    const db = await testDatabase({ migrated: false });
    const files = await readMigrations();
    const result = await migrate(db.sql);
    assert.deepEqual(
      result.applied,
      files.map((f) => f.file),
    );
    assert.deepEqual(
      await appliedVersions(db.sql),
      files.map((f) => f.version),
    );

    const roles = await db.sql<{ rolname: string; rolbypassrls: boolean }[]>`
      select rolname, rolbypassrls from pg_roles
      where rolname in ('anon', 'authenticated', 'service_role') order by rolname`;
    assert.deepEqual(
      [...roles],
      [
        { rolname: 'anon', rolbypassrls: false },
        { rolname: 'authenticated', rolbypassrls: false },
        { rolname: 'service_role', rolbypassrls: true },
      ],
    );
    const [pub] =
      await db.sql`select count(*)::int as n from pg_publication where pubname = 'supabase_realtime'`;
    assert.equal(pub?.n, 1);
    const rls = await db.sql<{ relname: string }[]>`
      select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind = 'r' and not c.relrowsecurity`;
    assert.deepEqual([...rls], [], 'every public table has RLS enabled');
    // Supabase's default privileges: a new function in public is executable by the API roles even once
    // revoked from public, so a migration must revoke from anon and authenticated by name.
    await db.sql`create function public.probe() returns integer language sql as 'select 1'`;
    await db.sql`revoke execute on function public.probe() from public`;
    const [probe] = await db.sql`
      select has_function_privilege('anon', 'public.probe()', 'execute') as anon,
             has_function_privilege('authenticated', 'public.probe()', 'execute') as authenticated`;
    assert.deepEqual({ ...probe }, { anon: true, authenticated: true });
  });

  test('a second run is a no-op', async () => {
    const db = await testDatabase();
    const before = await appliedVersions(db.sql);
    const result = await migrate(db.sql);
    assert.deepEqual(result.applied, []);
    assert.equal(result.alreadyApplied, before.length);
    assert.deepEqual(await appliedVersions(db.sql), before);
  });

  test('two runners starting at once both succeed and apply each file once', async () => {
    const db = await testDatabase({ migrated: false });
    const other = db.connect(2);
    const [a, b] = await Promise.all([migrate(db.sql), migrate(other)]);
    const files = await readMigrations();
    assert.equal(a.applied.length + b.applied.length, files.length);
    assert.ok(a.applied.length === 0 || b.applied.length === 0, 'one runner did all the work');
    assert.deepEqual(
      await appliedVersions(db.sql),
      files.map((f) => f.version),
    );
  });

  test('an unknown newer migration in the database stops start-up with a clear message', async () => {
    const db = await testDatabase();
    await db.sql`insert into supabase_migrations.schema_migrations (version, name)
                 values ('29991231000000', 'from_the_future')`;
    await assert.rejects(migrate(db.sql), (err: Error) => {
      assert.ok(err instanceof MigrationError);
      assert.match(err.message, /29991231000000_from_the_future/);
      assert.match(err.message, /Upgrade bbb/);
      return true;
    });
  });

  test('a failing migration names the file and statement and leaves the previous version', async () => {
    const db = await testDatabase();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'bbb-mig-'));
    await cp(MIGRATIONS_DIR, dir, { recursive: true });
    await writeFile(
      path.join(dir, '29990101000000_broken.sql'),
      '-- a table that must not survive\ncreate table public.half_done (id int);\n\nselect 1 / 0;\n',
    );
    const before = await appliedVersions(db.sql);
    await assert.rejects(migrate(db.sql, { dir }), (err: Error) => {
      assert.ok(err instanceof MigrationError);
      assert.equal(err.file, '29990101000000_broken.sql');
      assert.match(err.message, /29990101000000_broken\.sql failed at statement 2 \(line 4\): select 1 \/ 0/);
      assert.match(err.message, /division by zero/);
      return true;
    });
    assert.deepEqual(await appliedVersions(db.sql), before);
    const [t] = await db.sql`select to_regclass('public.half_done') as t`;
    assert.equal(t?.t, null);
  });

  test('the bootstrap leaves an existing Supabase-style auth schema alone', async () => {
    const db = await testDatabase({ migrated: false });
    // A project that already has auth.uid(), defined differently: ours must not replace it.
    await db.sql.unsafe(`
      create schema auth;
      create function auth.uid() returns uuid language sql stable
        as $$ select '11111111-1111-1111-1111-111111111111'::uuid $$;
      create table auth.users (id uuid primary key, email text);
    `);
    await migrate(db.sql);
    const [row] = await db.sql`select auth.uid()::text as uid`;
    assert.equal(row?.uid, '11111111-1111-1111-1111-111111111111');
    const cols = await db.sql`select column_name from information_schema.columns
                              where table_schema = 'auth' and table_name = 'users'`;
    assert.equal(cols.length, 2, 'auth.users was not recreated');
  });

  test('auth.uid(), auth.role() and auth.jwt() read the request claims as Supabase does', async () => {
    const db = await testDatabase();
    const claims = { sub: '22222222-2222-2222-2222-222222222222', role: 'authenticated', email: 'a@b.c' };
    const [row] = await db.sql.begin(async (tx) => {
      await tx`select set_config('request.jwt.claims', ${JSON.stringify(claims)}, true)`;
      return tx`select auth.uid()::text as uid, auth.role() as role, auth.jwt() ->> 'email' as email`;
    });
    assert.deepEqual({ ...row }, { uid: claims.sub, role: 'authenticated', email: 'a@b.c' });
    // After the transaction the setting reads back as '' on this session, not NULL: nullif() must handle it.
    const conn = await db.sql.reserve();
    try {
      await conn`select set_config('request.jwt.claims', '{"sub":"22222222-2222-2222-2222-222222222222"}', false)`;
      await conn`select set_config('request.jwt.claims', '', false)`;
      const [empty] = await conn`select auth.uid() as uid, auth.jwt() as jwt`;
      assert.deepEqual({ ...empty }, { uid: null, jwt: null });
    } finally {
      conn.release();
    }
  });
});
