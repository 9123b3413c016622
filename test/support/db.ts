// Each test file gets its own database, cloned from the template that test/run.ts migrated once.
import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import { connect, type Sql } from '../../src/db/client.ts';
import { withDatabase } from './scratch-server.ts';

export interface TestDatabase {
  sql: Sql;
  url: string;
  name: string;
  /** Connect another pool to the same database (for concurrency tests). */
  connect(max?: number): Sql;
}

function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run database tests through \`npm test\` (test/run.ts).`);
  return value;
}

export function databaseUrl(database: string): string {
  return withDatabase(requireEnv('BBB_TEST_ADMIN_URL'), database);
}

/** A fresh, migrated database for this file, dropped when the file's tests end. */
export async function testDatabase(
  options: { migrated?: boolean; max?: number } = {},
): Promise<TestDatabase> {
  const admin = connect(requireEnv('BBB_TEST_ADMIN_URL'), { max: 1 });
  const name = `bbb_t_${randomBytes(5).toString('hex')}`;
  const template = options.migrated === false ? 'template0' : requireEnv('BBB_TEST_TEMPLATE');
  // Two files cloning the template at the same instant can collide on its lock; try again briefly.
  for (let attempt = 0; ; attempt++) {
    try {
      await admin.unsafe(`create database ${name} template ${template}`);
      break;
    } catch (err) {
      if (attempt >= 20 || !/being accessed by other users/.test(String(err))) throw err;
      await new Promise((r) => setTimeout(r, 100 + attempt * 50));
    }
  }
  const url = databaseUrl(name);
  const pools: Sql[] = [];
  const make = (max = 10) => {
    const pool = connect(url, { max });
    pools.push(pool);
    return pool;
  };
  const sql = make(options.max ?? 10);
  after(async () => {
    await Promise.all(pools.map((p) => p.end({ timeout: 5 })));
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end();
  });
  return { sql, url, name, connect: make };
}
