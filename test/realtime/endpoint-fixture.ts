// The realtime endpoint on a real HTTP server on loopback, with this file's own database (sessions and the
// publication's catalog), a registry standing in for the hub that records what channels subscribe, and a
// change source whose readiness the test drives. RawClient speaks the Phoenix protocol over a real `ws` socket.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after } from 'node:test';
import WebSocket from 'ws';
import { apiKeys, createTokenVerifier, signHs256 } from '../../src/auth/jwt.ts';
import { loadCatalog } from '../../src/realtime/catalog.ts';
import type { SubscriptionRegistry } from '../../src/realtime/channel.ts';
import type { Limits } from '../../src/realtime/limits.ts';
import { attachRealtime, REALTIME_PATH, type Realtime } from '../../src/realtime/server.ts';
import type { Subscription, TableInfo } from '../../src/realtime/types.ts';
import { TEST_JWT_SECRET } from '../support/api.ts';
import { type TestDatabase, testDatabase } from '../support/db.ts';
import { createUser } from '../support/tenants.ts';

/** A change source as far as the endpoint sees it: the test says when it streams and when it is lost. */
export class TestSource extends EventEmitter {
  constructor(public ready = true) {
    super();
  }
  becomeReady(): void {
    this.ready = true;
    this.emit('ready');
  }
  interrupt(): void {
    this.ready = false;
    this.emit('interrupted', new Error('replication connection lost'));
  }
}

export interface EndpointFixture {
  db: TestDatabase;
  /** http://127.0.0.1:<port> */
  url: string;
  realtime: Realtime;
  /** What the channels have registered with the hub. */
  subs: Set<Subscription>;
  source: TestSource;
  tables: ReadonlyMap<string, TableInfo>;
  anonKey: string;
  serviceKey: string;
  /** A signed-in user's access token; `session: true` gives it a live auth.sessions row. */
  userToken(options?: { sub?: string; expiresIn?: number; session?: boolean }): Promise<string>;
  open(query?: Record<string, string>): Promise<RawClient>;
  /** Attempts an upgrade that should be refused, and returns the HTTP answer. */
  refused(query: Record<string, string>, path?: string): Promise<{ status: number; body: string }>;
}

export async function endpointFixture(
  options: { db?: TestDatabase; limits?: Partial<Limits>; ready?: boolean; hub?: SubscriptionRegistry } = {},
): Promise<EndpointFixture> {
  const db = options.db ?? (await testDatabase());
  const catalog = await loadCatalog(db.sql);
  const subs = new Set<Subscription>();
  const hub = options.hub ?? {
    add: (s: Subscription) => subs.add(s),
    remove: (s: Subscription) => subs.delete(s),
  };
  const source = new TestSource(options.ready ?? true);
  const server = createServer((_req, res) => res.writeHead(404).end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const realtime = attachRealtime(server, {
    sql: db.sql,
    verifyToken: createTokenVerifier({ secret: TEST_JWT_SECRET }),
    jwtSecret: TEST_JWT_SECRET,
    tables: catalog.tables,
    hub,
    source,
    ...(options.limits ? { limits: options.limits } : {}),
  });
  after(async () => {
    await realtime.stop();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { anon, serviceRole } = await apiKeys(TEST_JWT_SECRET);
  const wsUrl = (query: Record<string, string>, path = REALTIME_PATH) =>
    `${url.replace('http', 'ws')}${path}?${new URLSearchParams(query)}`;

  return {
    db,
    url,
    realtime,
    subs,
    source,
    tables: catalog.tables(),
    anonKey: anon,
    serviceKey: serviceRole,
    async userToken({ sub, expiresIn = 3600, session = false } = {}) {
      const id = sub ?? (session ? (await createUser(db.sql)).id : randomUUID());
      const claims: Record<string, unknown> = { sub: id, role: 'authenticated', aud: 'authenticated' };
      if (session) {
        const [row] = await db.sql<{ id: string }[]>`
          insert into auth.sessions (id, user_id, created_at, updated_at)
          values (${randomUUID()}, ${id}, now(), now()) returning id`;
        claims.session_id = row!.id;
      }
      return signHs256(TEST_JWT_SECRET, claims, expiresIn);
    },
    async open(query = {}) {
      const ws = new WebSocket(wsUrl({ apikey: anon, ...query }));
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      return new RawClient(ws, (query.vsn as '1.0.0' | '2.0.0' | undefined) ?? '1.0.0');
    },
    refused(query, path) {
      const ws = new WebSocket(wsUrl(query, path));
      return new Promise((resolve, reject) => {
        ws.once('open', () => reject(new Error('the upgrade was accepted')));
        ws.once('error', () => {}); // the 'unexpected-response' below is the answer
        ws.once('unexpected-response', (_req, res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => {
            body += chunk.toString();
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
      });
    },
  };
}

export interface Frame {
  joinRef: string | null;
  ref: string | null;
  topic: string;
  event: string;
  // biome-ignore lint/suspicious/noExplicitAny: a frame is whatever the server sent; the tests assert its shape
  payload: any;
}

/** A Phoenix client on a raw socket: sends frames of its vsn, and awaits the frames it expects. */
export class RawClient {
  readonly frames: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly taken = new Set<Frame>();
  private readonly waiters = new Set<{ match: (f: Frame) => boolean; resolve: (f: Frame) => void }>();
  private refs = 0;

  constructor(
    readonly ws: WebSocket,
    readonly vsn: '1.0.0' | '2.0.0',
  ) {
    this.closed = new Promise((resolve) =>
      ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    ws.on('message', (data) => {
      const raw = JSON.parse(data.toString());
      const frame: Frame = Array.isArray(raw)
        ? { joinRef: raw[0], ref: raw[1], topic: raw[2], event: raw[3], payload: raw[4] }
        : { joinRef: raw.join_ref, ref: raw.ref, topic: raw.topic, event: raw.event, payload: raw.payload };
      this.frames.push(frame);
      for (const waiter of this.waiters) {
        if (!this.taken.has(frame) && waiter.match(frame)) {
          this.taken.add(frame);
          this.waiters.delete(waiter);
          waiter.resolve(frame);
        }
      }
    });
  }

  nextRef(): string {
    return String(++this.refs);
  }

  /** Sends a message in this client's vsn; returns its ref. */
  push(
    topic: string,
    event: string,
    payload: unknown,
    joinRef: string | null = null,
    ref = this.nextRef(),
  ): string {
    this.send(
      this.vsn === '2.0.0'
        ? JSON.stringify([joinRef, ref, topic, event, payload])
        : JSON.stringify({ topic, event, payload, ref, join_ref: joinRef }),
    );
    return ref;
  }

  send(data: string | Buffer, binary = false): void {
    this.ws.send(data, { binary });
  }

  /** The first frame not yet awaited that matches, arrived or to come. */
  next(what: string, match: (f: Frame) => boolean, timeoutMs = 10_000): Promise<Frame> {
    const arrived = this.frames.find((f) => !this.taken.has(f) && match(f));
    if (arrived) {
      this.taken.add(arrived);
      return Promise.resolve(arrived);
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (f: Frame) => {
          clearTimeout(timer);
          resolve(f);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`no ${what} within ${timeoutMs} ms; frames: ${JSON.stringify(this.frames)}`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  replyTo(ref: string): Promise<Frame> {
    return this.next(`reply to ${ref}`, (f) => f.event === 'phx_reply' && f.ref === ref);
  }

  /** A heartbeat and its reply: proof the connection (and the server) still answer. */
  async heartbeat(): Promise<Frame> {
    return this.replyTo(this.push('phoenix', 'heartbeat', {}));
  }

  /** phx_join on realtime:<name>; returns the reply and the join ref. */
  async join(name: string, payload: Record<string, unknown>): Promise<{ reply: Frame; joinRef: string }> {
    // As Phoenix clients do, the join's ref is the channel's join_ref.
    const joinRef = this.nextRef();
    this.push(`realtime:${name}`, 'phx_join', payload, joinRef, joinRef);
    return { reply: await this.replyTo(joinRef), joinRef };
  }

  close(): void {
    this.ws.close();
  }
}

/** The design document's bindings: a job's row, and every change of its tasks. */
export const jobBindings = (jobId: string) => [
  { event: 'UPDATE', schema: 'public', table: 'jobs', filter: `id=eq.${jobId}` },
  { event: '*', schema: 'public', table: 'tasks', filter: `job_id=eq.${jobId}` },
];
