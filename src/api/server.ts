// Builds the API's dependencies from configuration and serves the app on a real socket (`bbb serve`).
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { createTokenVerifier } from '../auth/jwt.ts';
import { loadOrCreateJwtSecret } from '../auth/secret.ts';
import type { Sql } from '../db/client.ts';
import { createApp } from './app.ts';
import type { AppDeps } from './context.ts';

// Node's defaults let a slow client hold a socket for minutes; the API answers quickly or not at all. The
// export streams, so there is no overall response deadline, only one for receiving the request.
const REQUEST_TIMEOUT_MS = 30_000;
const HEADERS_TIMEOUT_MS = 10_000;

/** What the API is built from: the settings of these names in src/config.ts, which `bbb serve` passes. */
export type ApiSettings = Pick<
  AppDeps,
  | 'jwtIssuer'
  | 'jwtExpirySeconds'
  | 'sessionMaxAgeSeconds'
  | 'authServer'
  | 'loginRateLimit'
  | 'trustProxyHops'
  | 'bodyLimitBytes'
> & {
  /** Where a JWT secret is created when none is given. */
  dataDir: string;
  jwtSecret?: string | undefined;
  jwksUrl?: string | undefined;
};

export async function apiDeps(config: ApiSettings, sql: Sql): Promise<AppDeps & { secretCreated: boolean }> {
  // A JWKS-only setup (Supabase Auth with asymmetric keys) needs no secret, and serves no /auth/v1.
  const needSecret = config.authServer || !config.jwksUrl || Boolean(config.jwtSecret);
  const loaded = needSecret ? await loadOrCreateJwtSecret(config.dataDir, config.jwtSecret) : undefined;
  return {
    sql,
    verifyToken: createTokenVerifier({
      secret: loaded?.secret,
      jwksUrl: config.jwksUrl,
      issuer: config.jwtIssuer,
    }),
    jwtSecret: loaded?.secret,
    jwtIssuer: config.jwtIssuer,
    jwtExpirySeconds: config.jwtExpirySeconds,
    sessionMaxAgeSeconds: config.sessionMaxAgeSeconds,
    authServer: config.authServer && Boolean(loaded),
    loginRateLimit: config.loginRateLimit,
    trustProxyHops: config.trustProxyHops,
    bodyLimitBytes: config.bodyLimitBytes,
    secretCreated: loaded?.created ?? false,
  };
}

export interface RunningApi {
  url: string;
  /** The HTTP server, for websocket upgrades on the same port (realtime). */
  server: Server;
  close(): Promise<void>;
}

export async function startApiServer(
  deps: AppDeps,
  options: { host: string; port: number },
): Promise<RunningApi> {
  const app = createApp(deps);
  return new Promise((resolve, reject) => {
    const server = serve(
      { fetch: app.fetch, hostname: options.host, port: options.port },
      (info: AddressInfo) => {
        const host = info.family === 'IPv6' ? `[${info.address}]` : info.address;
        resolve({
          url: `http://${host}:${info.port}`,
          server: server as Server,
          close: () =>
            new Promise<void>((done) => {
              server.close(() => done());
              // Idle keep-alive sockets would hold close() open; active ones get to finish.
              (server as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.();
            }),
        });
      },
    );
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(
              `port ${options.port} on ${options.host} is taken: set PORT to a free port (or 0 for any)`,
            )
          : err,
      );
    });
    const http = server as unknown as { requestTimeout: number; headersTimeout: number };
    http.requestTimeout = REQUEST_TIMEOUT_MS;
    http.headersTimeout = HEADERS_TIMEOUT_MS;
  });
}
