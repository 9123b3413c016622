// The set-up of the commands that look at or change the configured database (DATABASE_URL, else the embedded
// one in BBB_DATA_DIR) and exit: `bbb jobs …` and `bbb organisations …`.
import { loadConfig } from '../config.ts';
import { type Database, openDatabase } from '../db/client.ts';
import { migrate } from '../db/migrate.ts';
import { setLogLevel } from '../log.ts';

export async function withDatabase<T>(
  dataDir: string | undefined,
  applicationName: string,
  run: (db: Database) => Promise<T>,
): Promise<T> {
  const config = loadConfig({ dataDir });
  setLogLevel(config.logLevel);
  const db = await openDatabase(config, { applicationName });
  try {
    // A fresh embedded database has no tables yet; migrating makes `jobs list` say "no jobs", not crash.
    await migrate(db.sql);
    return await run(db);
  } finally {
    await db.close();
  }
}
