// `bbb serve` (and `npm start`): one process running the database when embedded, the migrations, the worker
// pool and maintenance, the HTTP API (with the GoTrue-compatible auth server when standalone) and the realtime
// websocket on the same port. It stays up until SIGINT or SIGTERM, then stops cleanly. The signal handlers go
// in first, so Ctrl-C during start-up also stops the database.
import { sessionCache } from '../api/auth-middleware.ts';
import type { AppDeps } from '../api/context.ts';
import { apiDeps, type RunningApi, startApiServer } from '../api/server.ts';
import { loadConfig } from '../config.ts';
import { type Database, openDatabase, redactUrl } from '../db/client.ts';
import { migrate } from '../db/migrate.ts';
import { errorMessage } from '../errors.ts';
import { log, setLogLevel } from '../log.ts';
import { REALTIME_PATH, startRealtime } from '../realtime/index.ts';
import { runWorkerProcess, type WorkerProcess } from '../worker/index.ts';
import { listenForStop } from './signals.ts';
import { workerProcessOptions } from './worker-options.ts';

export async function serveCommand(flags: {
  dataDir?: string | undefined;
  concurrency?: number | undefined;
}): Promise<void> {
  const config = loadConfig({ dataDir: flags.dataDir, workerConcurrency: flags.concurrency });
  setLogLevel(config.logLevel);
  const stop = listenForStop();

  let db: Database | undefined;
  let workers: WorkerProcess | undefined;
  let api: RunningApi | undefined;
  let stopRealtime: (() => Promise<void>) | undefined;
  try {
    db = await openDatabase(config, {
      applicationName: 'bbb serve',
      onLog: (line) => log.debug(`postgres: ${line}`),
    });
    if (!stop.received) {
      const result = await migrate(db.sql);
      log.info(`migrations: ${result.applied.length} applied, ${result.alreadyApplied} already present`);
      const where = db.embedded ? `embedded PostgreSQL in ${db.embedded.dataDir}` : redactUrl(db.url);
      log.info(`database ready: ${where}`);
      // A server crawls URLs its users submit, so private and loopback targets stay blocked (SSRF).
      workers = runWorkerProcess(
        workerProcessOptions({
          sql: db.sql,
          role: 'serve',
          concurrency: config.workerConcurrency,
          crawl: { allowPrivateNetworks: false },
        }),
      );
      log.info(`workers running: ${config.workerConcurrency} concurrent tasks`);
      const deps = await apiDeps(config, db.sql);
      if (deps.secretCreated)
        log.info(`created a JWT secret in ${config.dataDir}/jwt-secret (keep it private)`);
      const appDeps: AppDeps = { ...deps, workers: workers.pool };
      api = await startApiServer(appDeps, { host: config.host, port: config.port });
      log.info(`API listening on ${api.url} (BBB_HOST/PORT); OpenAPI at ${api.url}/v1/openapi.json`);
      if (config.realtime) {
        const realtime = await startRealtime({
          sql: db.sql,
          url: db.url,
          server: api.server,
          verifyToken: appDeps.verifyToken,
          jwtSecret: appDeps.jwtSecret,
          sessions: sessionCache(appDeps),
        });
        stopRealtime = realtime.stop;
        log.info(`realtime at ${api.url.replace(/^http/, 'ws')}${REALTIME_PATH} (BBB_REALTIME)`);
      } else {
        log.info('realtime off (BBB_REALTIME=false): no /realtime/v1/websocket');
      }
      if (deps.authServer) {
        log.info(
          `auth server at ${api.url}/auth/v1; run \`npx bbb keys\` to print the anon and service-role keys`,
        );
      } else {
        const why = config.jwksUrl
          ? 'BBB_JWKS_URL is set: Supabase Auth owns sign-up'
          : 'BBB_AUTH_SERVER=false';
        log.info(`auth server off, no /auth/v1 (${why}); BBB_AUTH_SERVER=true turns it on`);
      }
      log.info('bbb is running; press Ctrl-C to stop');
    }
    log.info(`${await stop.requested} received, shutting down`);
  } finally {
    // Websockets first: the HTTP server's close() waits for every socket, upgraded ones included.
    await stopRealtime?.();
    await api?.close();
    await workers?.stop();
    await db?.close();
    if (db) log.info('stopped');
  }
}
