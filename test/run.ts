// `npm test`: provides the PostgreSQL the database tests need, then runs every test file with node's test
// runner. Without DATABASE_URL it starts a throwaway embedded cluster (fsync off); with DATABASE_URL it uses
// that server. Either way it migrates one template database, and each test file clones its own copy.
//   --db-only   run only the files that touch the database (CI's second pass against PostgreSQL 15)
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '../src/db/client.ts';
import { migrate } from '../src/db/migrate.ts';
import { openScratchServer, withDatabase } from '../src/db/scratch-server.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const DB_AREAS = ['db', 'queue', 'worker', 'e2e', 'api', 'auth'];
const args = process.argv.slice(2);
const dbOnly = args.includes('--db-only');
const explicit = args.filter((a) => !a.startsWith('--'));

function testFiles(): string[] {
  if (explicit.length > 0) return explicit.map((f) => path.resolve(f));
  const files = readdirSync(here, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.test.ts'))
    .filter((f) => !dbOnly || DB_AREAS.includes(f.split(path.sep)[0] ?? ''))
    .sort();
  return files.map((f) => path.join(here, f));
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
