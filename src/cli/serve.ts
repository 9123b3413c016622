// `bbb serve` (and `npm start`): one process running the database when embedded, the migrations, and, as
// later parts land, the API, realtime and workers. It stays up until SIGINT or SIGTERM, then stops cleanly.
// The signal handlers go in first, so Ctrl-C during start-up also stops the embedded database.
import { loadConfig } from '../config.ts';
import { type Database, openDatabase, redactUrl } from '../db/client.ts';
import { migrate } from '../db/migrate.ts';
import { log, setLogLevel } from '../log.ts';

export async function serveCommand(flags: { dataDir?: string | undefined }): Promise<void> {
  const config = loadConfig({ dataDir: flags.dataDir });
  setLogLevel(config.logLevel);

  let signalled: string | undefined;
  let onSignal: (signal: string) => void = () => {};
  const stopRequested = new Promise<string>((resolve) => {
    onSignal = resolve;
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      signalled = signal;
      onSignal(signal);
    });
  }

  let db: Database | undefined;
  try {
    db = await openDatabase(config, {
      applicationName: 'bbb serve',
      onLog: (line) => log.debug(`postgres: ${line}`),
    });
    if (!signalled) {
      const result = await migrate(db.sql);
      log.info(`migrations: ${result.applied.length} applied, ${result.alreadyApplied} already present`);
      const where = db.embedded ? `embedded PostgreSQL in ${db.embedded.dataDir}` : redactUrl(db.url);
      log.info(`database ready: ${where}`);
      log.info('bbb is running; press Ctrl-C to stop');
    }
    log.info(`${await stopRequested} received, shutting down`);
  } finally {
    await db?.close();
    if (db) log.info('stopped');
  }
}
