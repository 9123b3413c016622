// Applies supabase/migrations/*.sql in order, each in its own transaction, recording them in the table the
// Supabase CLI uses (supabase_migrations.schema_migrations), so a project migrated by either tool is seen as
// migrated by the other. A session advisory lock makes concurrent start-ups safe: the second runner waits,
// then finds nothing to do.

import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type postgres from 'postgres';
import { errorMessage } from '../errors.ts';
import { MigrationError } from './errors.ts';
import { type SqlStatement, splitSql } from './sql-split.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const MIGRATIONS_DIR = path.join(ROOT, 'supabase', 'migrations');
const BOOTSTRAP_FILE = fileURLToPath(new URL('./sql/bootstrap.sql', import.meta.url));
// Any constant works; it only has to differ from other advisory locks the app takes.
const LOCK_KEY = 727_000_001;
const FILE_PATTERN = /^(\d{14})_([a-z0-9_]+)\.sql$/;

export interface MigrationFile {
  version: string;
  name: string;
  file: string;
  statements: SqlStatement[];
}

export interface MigrateResult {
  applied: string[];
  alreadyApplied: number;
}

export async function readMigrations(dir = MIGRATIONS_DIR): Promise<MigrationFile[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const out: MigrationFile[] = [];
  for (const file of files) {
    const match = FILE_PATTERN.exec(file);
    if (!match) {
      throw new MigrationError(
        `${file}: migration files must be named <14-digit timestamp>_<snake_name>.sql`,
        file,
      );
    }
    const source = await readFile(path.join(dir, file), 'utf8');
    out.push({ version: match[1]!, name: match[2]!, file, statements: splitSql(source) });
  }
  return out;
}

export async function migrate(sql: postgres.Sql, options: { dir?: string } = {}): Promise<MigrateResult> {
  const migrations = await readMigrations(options.dir);
  const conn = await sql.reserve();
  try {
    await conn`select pg_advisory_lock(${LOCK_KEY})`;
    try {
      await conn.unsafe(await readFile(BOOTSTRAP_FILE, 'utf8'));
      await conn.unsafe(`
        create schema if not exists supabase_migrations;
        create table if not exists supabase_migrations.schema_migrations (
          version text primary key, statements text[], name text
        );`);
      const rows = await conn<{ version: string; name: string | null }[]>`
        select version, name from supabase_migrations.schema_migrations order by version`;
      const known = new Set(migrations.map((m) => m.version));
      const unknown = rows.filter((r) => !known.has(r.version));
      if (unknown.length > 0) {
        const list = unknown.map((r) => `${r.version}_${r.name ?? '?'}`).join(', ');
        throw new MigrationError(
          `The database has migration(s) this version of bbb does not know: ${list}. It was migrated by a newer ` +
            'version. Upgrade bbb, or point DATABASE_URL at another database.',
        );
      }
      const done = new Set(rows.map((r) => r.version));
      const applied: string[] = [];
      for (const migration of migrations) {
        if (done.has(migration.version)) continue;
        await applyOne(conn, migration);
        applied.push(migration.file);
      }
      return { applied, alreadyApplied: done.size };
    } finally {
      await conn`select pg_advisory_unlock(${LOCK_KEY})`.catch(() => {});
    }
  } finally {
    conn.release();
  }
}

async function applyOne(conn: postgres.ReservedSql, migration: MigrationFile): Promise<void> {
  await conn.unsafe('begin');
  let index = 0;
  try {
    for (; index < migration.statements.length; index++) {
      await conn.unsafe(migration.statements[index]!.text);
    }
    await conn`
      insert into supabase_migrations.schema_migrations (version, name, statements)
      values (${migration.version}, ${migration.name}, ${migration.statements.map((s) => s.text)})`;
    await conn.unsafe('commit');
  } catch (err) {
    await conn.unsafe('rollback').catch(() => {});
    const statement = migration.statements[index];
    const where = statement
      ? `statement ${index + 1} (line ${statement.line}): ${firstLine(statement.text)}`
      : 'recording it';
    const reason = errorMessage(err);
    throw new MigrationError(
      `Migration ${migration.file} failed at ${where}\n  ${reason}\nThe database is unchanged by this file.`,
      migration.file,
      index,
      { cause: err },
    );
  }
}

function firstLine(text: string): string {
  const line = text.split('\n').find((l) => l.trim() !== '' && !l.trim().startsWith('--')) ?? text;
  return line.length > 120 ? `${line.slice(0, 117)}...` : line.trim();
}
