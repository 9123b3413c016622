// `bbb serve` (and `npm start`): one process running the database when embedded, the migrations, and, as
// later parts land, the API, realtime and workers. It stays up until SIGINT or SIGTERM, then stops cleanly.
import { loadConfig } from '../config.ts';
import { openDatabase, redactUrl } from '../db/client.ts';
import { migrate } from '../db/migrate.ts';
import { log, setLogLevel } from '../log.ts';

export async function serveCommand(flags: { dataDir?: string | undefined }): Promise<void> {
  const config = loadConfig({ dataDir: flags.dataDir });
  setLogLevel(config.logLevel);
  const db = await openDatabase(config, {
    applicationName: 'bbb serve',
    onLog: (line) => log.debug(`postgres: ${line}`),
  });
  let stopping: Promise<void> | undefined;
  const stop = (signal: string) => {
    stopping ??= (async () => {
      log.info(`${signal} received, shutting down`);
      await db.close();
      log.info('stopped');
    })();
    return stopping;
  };
  try {
    const result = await migrate(db.sql);
    log.info(`migrations: ${result.applied.length} applied, ${result.alreadyApplied} already present`);
  } catch (err) {
    await db.close();
    throw err;
  }
  const where = db.embedded ? `embedded PostgreSQL in ${db.embedded.dataDir}` : redactUrl(db.url);
  log.info(`database ready: ${where}`);
  log.info('bbb is running; press Ctrl-C to stop');
  await new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        stop(signal).then(resolve, (err) => {
          log.error(`shutdown failed: ${err instanceof Error ? err.message : String(err)}`);
          process.exitCode = 1;
          resolve();
        });
      });
    }
  });
}
