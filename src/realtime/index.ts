// Realtime as `bbb serve` runs it: the change source (one temporary replication slot for this process), the
// hub that checks each window of changes under RLS, and the websocket endpoint on the API's HTTP server.
import type { Server } from 'node:http';
import type { SessionCache } from '../auth/gotrue/session-cache.ts';
import type { TokenVerifier } from '../auth/jwt.ts';
import type { Sql } from '../db/client.ts';
import { errorMessage } from '../errors.ts';
import { log } from '../log.ts';
import type { Authorize } from './authorizer.ts';
import { loadCatalog } from './catalog.ts';
import { type ChangeSource, startChangeSource } from './change-source.ts';
import { createHub } from './hub.ts';
import { attachRealtime } from './server.ts';

export { REALTIME_PATH } from './server.ts';

export interface RealtimeOptions {
  sql: Sql;
  /** The database URL; the change source opens its own replication connection to it. */
  url: string;
  /** The API's HTTP server: the endpoint answers its upgrades. */
  server: Server;
  verifyToken: TokenVerifier;
  jwtSecret: string | undefined;
  /** The API's session cache, so a logout there ends a token's realtime use too. */
  sessions: SessionCache;
  /** Wraps the RLS check (the benchmark counts and times it). */
  authorize?: Authorize;
}

export interface RunningRealtime {
  readonly source: ChangeSource;
  stop(): Promise<void>;
}

export async function startRealtime(options: RealtimeOptions): Promise<RunningRealtime> {
  const { sql } = options;
  const catalog = await loadCatalog(sql);
  const refresh = () =>
    catalog
      .refresh()
      .catch((err) => log.warn(`realtime: reading the published tables failed: ${errorMessage(err)}`));
  const hub = createHub({ sql, tables: catalog.tables, log, authorize: options.authorize });
  const source = startChangeSource({ url: options.url, log });
  source.on('transaction', hub.handle);
  source.on('ready', refresh);
  source.on('relation', refresh);
  const endpoint = attachRealtime(options.server, {
    sql,
    verifyToken: options.verifyToken,
    jwtSecret: options.jwtSecret,
    sessions: options.sessions,
    tables: catalog.tables,
    hub,
    source,
  });
  return {
    source,
    async stop() {
      // Websockets first, then the stream, then whatever window the hub is still checking.
      await endpoint.stop();
      await source.stop();
      await hub.stop();
    },
  };
}
