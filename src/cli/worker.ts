// `bbb worker`: crawl whatever jobs the shared database holds, until SIGINT/SIGTERM. Scale out by running more
// of these against the same DATABASE_URL. Like the server, a worker never fetches private or loopback targets.
import { loadConfig } from '../config.ts';
import { openDatabase, redactUrl } from '../db/client.ts';
import { migrate } from '../db/migrate.ts';
import { log, setLogLevel } from '../log.ts';
import { runWorkerProcess, type WorkerPool } from '../worker/index.ts';
import { EXIT_DB_UNREACHABLE, UsageError } from './errors.ts';
import { listenForStop } from './signals.ts';
import { workerProcessOptions } from './worker-options.ts';

const UNREACHABLE = Symbol('database unreachable');

/** Resolves once the pool has been unable to reach its database for `deadlineMs`. */
function unreachableFor(pool: WorkerPool, deadlineMs: number): Promise<typeof UNREACHABLE> {
  return new Promise((resolve) => {
    const timer = setInterval(
      () => {
        if (pool.readiness().unreadyForMs >= deadlineMs) {
          clearInterval(timer);
          resolve(UNREACHABLE);
        }
      },
      Math.min(1_000, deadlineMs / 4),
    );
    timer.unref();
  });
}

export async function workerCommand(flags: { concurrency?: number | undefined }): Promise<void> {
  const config = loadConfig({ workerConcurrency: flags.concurrency });
  setLogLevel(config.logLevel);
  if (!config.databaseUrl) {
    throw new UsageError(
      'bbb worker needs DATABASE_URL: extra workers only help when they share one database with the server. ' +
        'Set DATABASE_URL=postgres://…, or run `bbb serve`, which runs workers next to its own database.',
    );
  }
  const stop = listenForStop();
  const db = await openDatabase(config, { applicationName: 'bbb worker' });
  try {
    if (stop.received) return;
    // Workers started before the server must still find the schema they expect; migrate is a no-op otherwise.
    await migrate(db.sql);
    // In-flight pages get StopDeadlineMsDefault to finish after a signal; the rest go back to the queue.
    const workers = runWorkerProcess(
      workerProcessOptions({
        sql: db.sql,
        role: 'worker',
        concurrency: config.workerConcurrency,
        crawl: { allowPrivateNetworks: false },
      }),
    );
    log.info(`worker running against ${redactUrl(db.url)}, ${config.workerConcurrency} concurrent tasks`);
    const why = await Promise.race([stop.requested, unreachableFor(workers.pool, config.workerDbDeadlineMs)]);
    if (why === UNREACHABLE) {
      log.error(
        `cannot reach the database for ${config.workerDbDeadlineMs / 1000} s (BBB_WORKER_DB_DEADLINE_MS); ` +
          `exiting with code ${EXIT_DB_UNREACHABLE} so that it can be restarted`,
      );
      process.exitCode = EXIT_DB_UNREACHABLE;
    } else log.info(`${why} received, finishing in-flight pages`);
    await workers.stop();
    log.info('stopped');
  } finally {
    await db.close();
  }
}
