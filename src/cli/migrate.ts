import { loadConfig } from '../config.ts';
import { openDatabase, redactUrl } from '../db/client.ts';
import { migrate } from '../db/migrate.ts';
import { log, setLogLevel } from '../log.ts';

export async function migrateCommand(flags: { dataDir?: string | undefined }): Promise<void> {
  const config = loadConfig({ dataDir: flags.dataDir });
  setLogLevel(config.logLevel);
  const db = await openDatabase(config, { applicationName: 'bbb migrate' });
  try {
    const result = await migrate(db.sql);
    log.info(
      `${redactUrl(db.url)}: applied ${result.applied.length} migration(s), ${result.alreadyApplied} already present`,
    );
    for (const file of result.applied) log.info(`  applied ${file}`);
  } finally {
    await db.close();
  }
}
