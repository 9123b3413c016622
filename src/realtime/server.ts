// The realtime endpoint, GET /realtime/v1/websocket on the API's own HTTP server, where supabase-js's
// realtime client connects: `apikey` (and optionally `vsn` and a share link's `share_token`) in the query,
// verified before the upgrade, so a bad key is an HTTP 401 with a reason rather than a socket that closes.
import { type IncomingMessage, type Server, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { SessionCache } from '../auth/gotrue/session-cache.ts';
import { DEFAULT_SESSION_MAX_AGE_SECONDS } from '../auth/gotrue/sessions.ts';
import type { TokenVerifier } from '../auth/jwt.ts';
import type { Sql } from '../db/client.ts';
import { errorMessage } from '../errors.ts';
import { log } from '../log.ts';
import type { RealtimeContext, SubscriptionRegistry } from './channel.ts';
import { CLOSE_GOING_AWAY, Connection } from './connection.ts';
import { LIMITS, type Limits, UserConnections } from './limits.ts';
import { serializerFor } from './protocol.ts';
import { TokenRefused, tokenAuthority } from './tokens.ts';
import type { ChangeSourceEvents, TableInfo } from './types.ts';

export const REALTIME_PATH = '/realtime/v1/websocket';
/** How long stop() waits for clients to answer the close frame before cutting them off. */
const STOP_GRACE_MS = 2_000;
/** The longest share token accepted, as the REST API's /v1/shared/{token} bounds it. */
const MAX_SHARE_TOKEN_LENGTH = 200;

type StatusEvents = Pick<ChangeSourceEvents, 'ready' | 'interrupted'>;

/** The change source as the endpoint sees it: whether it streams, and when that changes. */
export interface SourceStatus {
  readonly ready: boolean;
  on<K extends keyof StatusEvents>(event: K, listener: StatusEvents[K]): unknown;
  off<K extends keyof StatusEvents>(event: K, listener: StatusEvents[K]): unknown;
}

export interface RealtimeDeps {
  sql: Sql;
  /** The API's verifier of signed-in users' tokens. */
  verifyToken: TokenVerifier;
  /** The project's HS256 secret, which signs the anon and service-role keys. */
  jwtSecret?: string | undefined;
  /** The API's session cache, so a logout here ends its tokens for both; else one of our own. */
  sessions?: SessionCache;
  sessionMaxAgeSeconds?: number;
  /** The published tables (catalog.ts). */
  tables: () => ReadonlyMap<string, TableInfo>;
  hub: SubscriptionRegistry;
  source: SourceStatus;
  /** Tests shorten these. */
  limits?: Partial<Limits>;
}

export interface Realtime {
  /** Open connections. */
  readonly connections: number;
  /** Closes every connection (1001) and detaches from the HTTP server. */
  stop(): Promise<void>;
}

export function attachRealtime(server: Server, deps: RealtimeDeps): Realtime {
  const limits: Limits = { ...LIMITS, ...deps.limits };
  const sessions =
    deps.sessions ??
    new SessionCache({
      sql: deps.sql,
      maxAgeSeconds: deps.sessionMaxAgeSeconds ?? DEFAULT_SESSION_MAX_AGE_SECONDS,
      now: Date.now,
    });
  const authorise = tokenAuthority({ verifyToken: deps.verifyToken, jwtSecret: deps.jwtSecret, sessions });
  const context: RealtimeContext = {
    hub: deps.hub,
    sourceReady: () => deps.source.ready,
    tables: deps.tables,
    authorise,
    limits,
  };
  const users = new UserConnections(limits.connectionsPerUser);
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxFrameBytes });
  const connections = new Set<Connection>();
  let stopped = false;

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const onError = () => socket.destroy();
    socket.on('error', onError);
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== REALTIME_PATH) {
      return refuse(socket, 404, `no websocket endpoint at ${url.pathname}; realtime is at ${REALTIME_PATH}`);
    }
    const serializer = serializerFor(url.searchParams.get('vsn'));
    if (!serializer) return refuse(socket, 400, 'vsn must be 1.0.0 or 2.0.0');
    const apikey = url.searchParams.get('apikey') ?? headerValue(req.headers.apikey);
    if (!apikey) return refuse(socket, 401, 'API key is missing: connect with ?apikey=<anon key>');
    const shareToken = url.searchParams.get('share_token') ?? undefined;
    if (shareToken !== undefined && (shareToken === '' || shareToken.length > MAX_SHARE_TOKEN_LENGTH)) {
      return refuse(socket, 400, 'share_token is not a share link token');
    }
    authorise(apikey).then(
      () => {
        if (stopped || socket.destroyed) return socket.destroy();
        socket.off('error', onError);
        wss.handleUpgrade(req, socket, head, (ws) => {
          // An upgrade on a node:http server comes with its net.Socket, which ws writes to.
          const tcp = socket as Socket;
          const connection = new Connection(ws, {
            context,
            serializer,
            apikey,
            shareToken,
            users,
            socket: tcp,
          });
          connections.add(connection);
          void connection.closed.then(() => connections.delete(connection));
        });
      },
      (err) => {
        if (err instanceof TokenRefused) return refuse(socket, 401, err.message);
        log.warn(`realtime: checking an apikey failed: ${errorMessage(err)}`);
        refuse(socket, 500, 'Error connecting to Realtime');
      },
    );
  };

  const onReady = () => {
    for (const connection of connections) connection.sourceReady();
  };
  const onInterrupted = (reason: Error) => {
    log.warn(`realtime: the change stream was interrupted (${reason.message}); clients will rejoin`);
    for (const connection of connections) connection.sourceInterrupted();
  };

  server.on('upgrade', onUpgrade);
  deps.source.on('ready', onReady);
  deps.source.on('interrupted', onInterrupted);

  return {
    get connections() {
      return connections.size;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      server.off('upgrade', onUpgrade);
      deps.source.off('ready', onReady);
      deps.source.off('interrupted', onInterrupted);
      const open = [...connections];
      for (const connection of open) connection.close(CLOSE_GOING_AWAY, 'server shutting down');
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, STOP_GRACE_MS);
      });
      await Promise.race([Promise.all(open.map((c) => c.closed)), grace]);
      clearTimeout(timer);
      for (const connection of connections) connection.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

const headerValue = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

/** Answers an upgrade request with an HTTP error, as Supabase does: JSON {error}. */
function refuse(socket: Duplex, status: number, message: string): void {
  if (socket.destroyed) return;
  const body = JSON.stringify({ error: message });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    () => socket.destroy(),
  );
}
