// `npm test`: provides the PostgreSQL the database tests need, then runs every test file with node's test
// runner. Without DATABASE_URL it starts a throwaway embedded cluster (fsync off); with DATABASE_URL it uses
// that server. Either way it migrates one template database, and each test file clones its own copy.
//   --db-only   run only the files that touch the database (CI's second pass against PostgreSQL 15): those
//               whose imports, followed through test/, reach one of DB_MODULES
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '../src/db/client.ts';
import { migrate } from '../src/db/migrate.ts';
import { openScratchServer, withDatabase } from './support/scratch-server.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
// What a database test imports: its own database, a private server, or `bbb` run against DATABASE_URL.
const DB_MODULES = ['support/db.ts', 'support/private-postgres.ts', 'e2e/bbb-process.ts'].map((m) =>
  path.join(here, m),
);
const args = process.argv.slice(2);
const dbOnly = args.includes('--db-only');
const explicit = args.filter((a) => !a.startsWith('--'));

/** Whether `file`'s relative imports, followed through the test tree, reach a database module. */
function usesDatabase(file: string, seen = new Set<string>()): boolean {
  if (DB_MODULES.includes(file)) return true;
  if (seen.has(file) || !file.startsWith(here)) return false;
  seen.add(file);
  const source = readFileSync(file, 'utf8');
  for (const [, spec] of source.matchAll(/from\s+'(\.{1,2}\/[^']+)'/g)) {
    if (usesDatabase(path.resolve(path.dirname(file), spec!), seen)) return true;
  }
  return false;
}

function testFiles(): string[] {
  if (explicit.length > 0) return explicit.map((f) => path.resolve(f));
  return readdirSync(here, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => path.join(here, f))
    .filter((f) => !dbOnly || usesDatabase(f))
    .sort();
}

async function main(): Promise<number> {
  const server = await openScratchServer({ fsync: false, prefix: 'bbb-test-' });
  const adminUrl = server.adminUrl;
  console.log(`# test database: ${server.label}`);

  const template = `bbb_test_template_${process.pid}`;
  const admin = connect(adminUrl, { max: 1 });
  let code = 1;
  try {
    await admin.unsafe(`drop database if exists ${template}`);
    await admin.unsafe(`create database ${template}`);
    const templateUrl = withDatabase(adminUrl, template);
    const tsql = connect(templateUrl, { max: 1 });
    try {
      await migrate(tsql);
      const [v] = await tsql<{ v: string }[]>`select current_setting('server_version') as v`;
      console.log(`# PostgreSQL ${v?.v}; template ${template} migrated`);
    } finally {
      await tsql.end();
    }
    code = await runNodeTests(testFiles(), { BBB_TEST_ADMIN_URL: adminUrl, BBB_TEST_TEMPLATE: template });
  } finally {
    await admin.unsafe(`drop database if exists ${template} with (force)`).catch(() => {});
    await admin.end();
    await server.close();
  }
  return code;
}

function runNodeTests(files: string[], env: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-reporter=spec', ...files],
      { stdio: 'inherit', env: { ...process.env, ...env } },
    );
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

process.exitCode = await main();
