// The realtime path as `bbb serve` runs it, for the end-to-end tests with the official supabase-js: the API's
// HTTP server on a loopback port with the realtime endpoint on it, the change source on this file's database
// and the hub checking RLS (src/cli/serve.ts's startRealtime, rebuilt here so a test can restart it); users
// with live sessions and HS256 tokens; and supabase-js clients (e2e-client.ts) connected to it.
import { after } from 'node:test';
import type { SupabaseClient } from '@supabase/supabase-js';
import { sessionCache } from '../../src/api/auth-middleware.ts';
import type { AppDeps } from '../../src/api/context.ts';
import { startApiServer } from '../../src/api/server.ts';
import { apiKeys, createTokenVerifier, signHs256 } from '../../src/auth/jwt.ts';
import type { Sql } from '../../src/db/client.ts';
import { loadCatalog } from '../../src/realtime/catalog.ts';
import { startChangeSource } from '../../src/realtime/change-source.ts';
import { createHub } from '../../src/realtime/hub.ts';
import { attachRealtime } from '../../src/realtime/server.ts';
import type { Subscription, Transaction } from '../../src/realtime/types.ts';
import { TEST_JWT_SECRET } from '../support/api.ts';
import { testDatabase } from '../support/db.ts';
import { createOrg, createUser, type OrgRole, type Tenant } from '../support/tenants.ts';
import { waitFor } from '../support/wait.ts';
import {
  type ClientOptions,
  disconnect,
  type LiveClient,
  openClient,
  type Row,
  within,
} from './e2e-client.ts';

export interface LiveUser extends Tenant {
  sessionId: string;
  token: string;
  /** Another access token of the same session. */
  sign(expiresInSeconds: number): Promise<string>;
}

export interface LiveStack {
  sql: Sql;
  dbUrl: string;
  /** http://127.0.0.1:<port>: the API, and the realtime endpoint at /realtime/v1/websocket. */
  url: string;
  anonKey: string;
  serviceKey: string;
  /** Every transaction the change source emitted, in commit order. */
  transactions: Transaction[];
  /** What the change source and the hub logged as warnings or errors. */
  problems: string[];
  /** The channels registered with the hub now: the client is never told when a new token takes effect. */
  subscriptions(): Subscription[];
  user(): Promise<LiveUser>;
  org(members: Array<[LiveUser, OrgRole]>): Promise<string>;
  /** Calls the API over HTTP with this access token. */
  call(
    as: { token: string },
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: Row }>;
  client(options?: ClientOptions): Promise<LiveClient>;
  /** Stops the HTTP server, the endpoint, the change source and the hub, as a process exit would; starts new ones on the same port. */
  restart(): Promise<void>;
}

export interface StackOptions {
  /** The database to run on, with its stop; this file's own test database when not given. */
  open?: () => Promise<{ sql: Sql; url: string; close?: () => Promise<void> }>;
  /** The API's clock (AppDeps.now), e.g. to issue tokens in different seconds without waiting for one to pass. */
  now?: () => number;
}

export async function liveStack(options: StackOptions = {}): Promise<LiveStack> {
  // Registered before the database's own cleanup, so that everything is stopped before it goes away.
  const clients: SupabaseClient[] = [];
  let running: { stop(): Promise<void>; url: string; port: number } | undefined;
  let close: (() => Promise<void>) | undefined;
  after(async () => {
    await Promise.all(clients.map((c) => disconnect(c.realtime)));
    await running?.stop();
    await close?.();
  });
  const db = options.open ? await options.open() : await testDatabase();
  close = 'close' in db ? db.close : undefined;
  const { sql, url: dbUrl } = db;
  const deps: AppDeps = {
    sql,
    verifyToken: createTokenVerifier({ secret: TEST_JWT_SECRET }),
    jwtSecret: TEST_JWT_SECRET,
    jwtExpirySeconds: 3600,
    authServer: true,
    loginRateLimit: 1000,
    bodyLimitBytes: 64 * 1024,
    ...(options.now ? { now: options.now } : {}),
  };
  const catalog = await loadCatalog(sql);
  const { anon, serviceRole } = await apiKeys(TEST_JWT_SECRET);
  const transactions: Transaction[] = [];
  const problems: string[] = [];
  const subs = new Set<Subscription>();
  const log = {
    debug() {},
    info() {},
    warn: (m: string) => problems.push(`warn: ${m}`),
    error: (m: string) => problems.push(`error: ${m}`),
  };

  async function start(port: number) {
    const hub = createHub({ sql, tables: catalog.tables, log });
    const source = startChangeSource({ url: dbUrl, log });
    const ready = new Promise<void>((resolve) => source.on('ready', resolve));
    source.on('transaction', (tx) => {
      transactions.push(tx);
      return hub.handle(tx);
    });
    const api = await startApiServer(deps, { host: '127.0.0.1', port });
    const endpoint = attachRealtime(api.server, {
      sql,
      verifyToken: deps.verifyToken,
      jwtSecret: deps.jwtSecret,
      sessions: sessionCache(deps),
      tables: catalog.tables,
      hub: {
        add(sub) {
          subs.add(sub);
          hub.add(sub);
        },
        remove(sub) {
          subs.delete(sub);
          hub.remove(sub);
        },
      },
      source,
    });
    const stop = async () => {
      // Websockets first: the HTTP server's close waits for every socket, upgraded ones included.
      await endpoint.stop();
      await api.close();
      await source.stop();
      await hub.stop();
    };
    await within(ready, 'the change source to stream');
    return { stop, url: api.url, port: Number(new URL(api.url).port) };
  }
  running = await start(0);
  const base = running.url;

  return {
    sql,
    dbUrl,
    url: base,
    anonKey: anon,
    serviceKey: serviceRole,
    transactions,
    problems,
    subscriptions: () => [...subs],
    async user() {
      const tenant = await createUser(sql);
      const [row] = await sql<{ id: string }[]>`
        insert into auth.sessions (id, user_id, created_at, updated_at)
        values (gen_random_uuid(), ${tenant.id}, now(), now()) returning id`;
      const sessionId = row!.id;
      const sign = (expiresIn: number) =>
        signHs256(
          TEST_JWT_SECRET,
          {
            sub: tenant.id,
            role: 'authenticated',
            aud: 'authenticated',
            email: tenant.email,
            session_id: sessionId,
          },
          expiresIn,
        );
      return { ...tenant, sessionId, token: await sign(3600), sign };
    },
    org: (members) => createOrg(sql, `Org ${Math.random().toString(36).slice(2, 8)}`, members),
    async call(as, method, path, body) {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${as.token}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : {} };
    },
    async client(clientOptions = {}) {
      const client = openClient(base, clientOptions.key === 'service' ? serviceRole : anon, clientOptions);
      clients.push(client.supabase);
      if (clientOptions.token && !clientOptions.auth)
        await client.supabase.realtime.setAuth(clientOptions.token);
      return client;
    },
    async restart() {
      const { port } = running!;
      await running!.stop();
      running = undefined;
      running = await start(port);
    },
  };
}

/** Waits until every channel of `userId` checks changes with the token that expires at `exp`: the client is not told. */
export async function tokenTaken(stack: LiveStack, userId: string, exp: number): Promise<void> {
  await waitFor(`the new token of ${userId} to take effect`, () => {
    const mine = stack.subscriptions().filter((s) => s.audience().claims.sub === userId);
    return mine.length > 0 && mine.every((s) => s.audience().claims.exp === exp);
  });
}

/** A JWT's `exp`. */
export const expOf = (token: string): number =>
  JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).exp;
