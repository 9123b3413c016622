// The server process of `npm run bench:realtime`: what `bbb serve` runs for realtime (the API on a real port,
// the change source on its temporary slot, the hub, the websocket endpoint), wired as src/cli/serve.ts's
// startRealtime wires it, on DATABASE_URL with BBB_JWT_SECRET. No worker pool: the bench's writer is the
// only one claiming tasks, at the rate it chooses.
// stdout: `ready <url>`, then once a second a JSON line of this process's memory and CPU and of the RLS
// checks the hub made (calls, their time, audiences and changes checked). SIGTERM stops it cleanly (so a
// --cpu-prof profile gets written).
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { sessionCache } from '../src/api/auth-middleware.ts';
import { apiDeps, startApiServer } from '../src/api/server.ts';
import { loadConfig } from '../src/config.ts';
import { connect } from '../src/db/client.ts';
import { errorMessage } from '../src/errors.ts';
import { log, setLogLevel } from '../src/log.ts';
import { authorize } from '../src/realtime/authorizer.ts';
import { startRealtime } from '../src/realtime/index.ts';

export interface ServerSample {
  /** ms since the epoch. */
  at: number;
  rssMb: number;
  heapMb: number;
  /** User + system CPU since start, ms. */
  cpuMs: number;
  /** The event loop's longest delay in the last second, ms: how long a window's matching or delivery held it. */
  loopMaxMs: number;
  /** authorize() calls (one per table per window), their total time (ms), audiences and changes they covered. */
  checks: number;
  checkMs: number;
  audiences: number;
  changes: number;
}

const config = loadConfig({ port: 0, logLevel: 'warn' });
setLogLevel(config.logLevel);
const url = config.databaseUrl;
if (!url) throw new Error('bench/realtime-server.ts needs DATABASE_URL');
const sql = connect(url, { max: config.dbPoolMax, applicationName: 'bbb serve' });

const stats = { checks: 0, checkMs: 0, audiences: 0, changes: 0 };
const deps = await apiDeps(config, sql);
const api = await startApiServer(deps, { host: '127.0.0.1', port: 0 });
const realtime = await startRealtime({
  sql,
  url,
  server: api.server,
  verifyToken: deps.verifyToken,
  jwtSecret: deps.jwtSecret,
  sessions: sessionCache(deps),
  authorize: async (...args) => {
    const t0 = performance.now();
    try {
      return await authorize(...args);
    } finally {
      stats.checks++;
      stats.checkMs += performance.now() - t0;
      stats.audiences += args[3].length;
      stats.changes += args[2].length;
    }
  },
});
const { source } = realtime;

await new Promise<void>((resolve) => (source.ready ? resolve() : source.on('ready', resolve)));
process.stdout.write(`ready ${api.url}\n`);

const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
const sample = () => {
  const mem = process.memoryUsage();
  const cpu = process.cpuUsage();
  const line: ServerSample = {
    at: Date.now(),
    rssMb: mem.rss / 2 ** 20,
    heapMb: mem.heapUsed / 2 ** 20,
    cpuMs: (cpu.user + cpu.system) / 1000,
    loopMaxMs: loop.max / 1e6,
    ...stats,
  };
  loop.reset();
  process.stdout.write(`${JSON.stringify(line)}\n`);
};
sample();
const timer = setInterval(sample, 1000);

process.once('SIGTERM', async () => {
  clearInterval(timer);
  await realtime.stop();
  await api.close();
  await sql.end({ timeout: 5 });
});
