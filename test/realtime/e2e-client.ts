// supabase-js clients as the end-to-end tests drive them (e2e-fixture.ts makes them): the official client on
// the `ws` transport (Node 20 has no WebSocket), every frame it is sent recorded, so a test can show that
// nothing arrived, not only that no callback ran; channels subscribed with postgres_changes bindings; and
// waiting on what arrives through event-driven feeds with deadlines rather than polling.
import { createClient, type RealtimeChannel, type SupabaseClient } from '@supabase/supabase-js';
import WebSocket from 'ws';
import type { Frame } from './endpoint-fixture.ts';

export const DEADLINE_MS = 15_000;

/** A frame as received, and whether it came as an array (vsn 2.0.0) or an object (1.0.0). */
export interface Received extends Frame {
  array: boolean;
}

/** Items in arrival order, and promises of a condition over them: waiting on events, with a deadline. */
export class Feed<T> {
  readonly items: T[] = [];
  private readonly waiters = new Set<() => void>();

  push(item: T): void {
    this.items.push(item);
    for (const waiter of [...this.waiters]) waiter();
  }

  /** The first truthy value of `check`, evaluated now and after each new item. */
  until<R>(
    what: string,
    check: (items: readonly T[]) => R,
    timeoutMs = DEADLINE_MS,
  ): Promise<NonNullable<R>> {
    return new Promise((resolve, reject) => {
      const attempt = () => {
        let value: R;
        try {
          value = check(this.items);
        } catch (err) {
          finish();
          reject(err);
          return;
        }
        if (!value) return;
        finish();
        resolve(value as NonNullable<R>);
      };
      const timer = setTimeout(() => {
        finish();
        reject(
          new Error(`no ${what} within ${timeoutMs} ms; had ${JSON.stringify(this.items).slice(0, 4000)}`),
        );
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(attempt);
      };
      this.waiters.add(attempt);
      attempt();
    });
  }
}

// biome-ignore lint/suspicious/noExplicitAny: rows are whatever the server sent; the tests assert their shape
export type Row = Record<string, any>;

/** A postgres_changes payload as supabase-js hands it to a callback, with the index of the binding it came on. */
export interface Change {
  binding: number;
  eventType: 'INSERT' | 'UPDATE' | 'DELETE';
  schema: string;
  table: string;
  commit_timestamp: string;
  new: Row;
  old: Row;
  errors: unknown;
}

/** A postgres_changes binding; the schema is `public` unless given (endpoint-fixture.ts's jobBindings fit). */
export interface Binding {
  event: string;
  schema?: string;
  table: string;
  filter?: string;
}

/** A subscribed channel and what it has received. */
export interface Watch {
  channel: RealtimeChannel;
  changes: Feed<Change>;
  /** subscribe()'s callback: SUBSCRIBED, CHANNEL_ERROR, CLOSED… */
  statuses: Feed<string>;
  /** `system` messages ("Subscribed to PostgreSQL", "Token has expired…"). */
  system: Feed<Row>;
  /** Resolves once `count` "Subscribed to PostgreSQL" messages have arrived: changes flow from then on. */
  subscribed(count?: number): Promise<void>;
}

export interface LiveClient {
  supabase: SupabaseClient;
  /** Every text frame the server sent this client, decoded. */
  frames: Feed<Received>;
  /** postgres_changes frames received, optionally of one channel. */
  changeFrames(channel?: string): Received[];
  /**
   * A heartbeat of our own, answered: every frame the server wrote to this socket before it arrived here. After
   * another client has received a later change, this shows that this one was sent nothing earlier.
   */
  flush(): Promise<void>;
  /** Subscribes a channel with these postgres_changes bindings and waits for "Subscribed to PostgreSQL". */
  watch(name: string, bindings: readonly Binding[]): Promise<Watch>;
}

export interface ClientOptions {
  /** A user's access token, set before any channel subscribes; none: the apikey alone. */
  token?: string;
  /** The connection's apikey: the anon key unless 'service'. */
  key?: 'anon' | 'service';
  vsn?: '1.0.0' | '2.0.0';
  /** A share link's token, as a viewer passes it: `realtime: { params: { share_token } }`. */
  shareToken?: string;
  /** The session comes from the client's own supabase.auth (signUp, signIn…), as in an app; `token` is ignored. */
  auth?: boolean;
}

export function openClient(url: string, apikey: string, options: ClientOptions): LiveClient {
  const frames = new Feed<Received>();
  // The transport supabase-js is given: the `ws` WebSocket, also recording what arrives.
  class RecordingWebSocket extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols);
      this.on('message', (data, isBinary) => {
        if (!isBinary) frames.push(decode(data.toString()));
      });
    }
  }
  const supabase = createClient(url, apikey, {
    ...(options.auth
      ? { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } }
      : // The token the tests set (setAuth) is kept: realtime-js asks this callback only until one is set by hand.
        { accessToken: async () => options.token ?? null }),
    realtime: {
      transport: RecordingWebSocket as never,
      ...(options.vsn ? { vsn: options.vsn } : {}),
      ...(options.shareToken ? { params: { share_token: options.shareToken } } : {}),
    },
  });
  let flushes = 0;
  return {
    supabase,
    frames,
    changeFrames: (channel) =>
      frames.items.filter(
        (f) => f.event === 'postgres_changes' && (channel === undefined || f.topic === `realtime:${channel}`),
      ),
    async flush() {
      const ref = `flush-${++flushes}`;
      const answered = frames.until(`the reply to heartbeat ${ref}`, (fs) =>
        fs.some((f) => f.topic === 'phoenix' && f.ref === ref),
      );
      supabase.realtime.push({ topic: 'phoenix', event: 'heartbeat', payload: {}, ref });
      await answered;
    },
    async watch(name, bindings) {
      const changes = new Feed<Change>();
      const statuses = new Feed<string>();
      const system = new Feed<Row>();
      let channel = supabase.channel(name);
      bindings.forEach(({ event, schema = 'public', table, filter }, binding) => {
        channel = channel.on(
          'postgres_changes',
          { event, schema, table, ...(filter === undefined ? {} : { filter }) } as never,
          (payload: Omit<Change, 'binding'>) => changes.push({ ...payload, binding }),
        );
      });
      channel.on('system', {}, (payload: Row) => system.push(payload));
      unrefPushTimeouts(channel);
      channel.subscribe((status) => statuses.push(status));
      const watch: Watch = {
        channel,
        changes,
        statuses,
        system,
        async subscribed(count = 1) {
          await system.until(
            `"Subscribed to PostgreSQL" ×${count} on ${name}`,
            (items) => items.filter((s) => s.message === 'Subscribed to PostgreSQL').length >= count,
          );
        },
      };
      await watch.subscribed();
      return watch;
    },
  };
}

function decode(text: string): Received {
  const raw = JSON.parse(text);
  return Array.isArray(raw)
    ? { joinRef: raw[0], ref: raw[1], topic: raw[2], event: raw[3], payload: raw[4], array: true }
    : {
        joinRef: raw.join_ref,
        ref: raw.ref,
        topic: raw.topic,
        event: raw.event,
        payload: raw.payload,
        array: false,
      };
}

/** The row a change is about: its new row, else its old one. */
export const rowOf = (c: Change): Row => (c.eventType === 'DELETE' ? c.old : c.new);

/** Whether a change frame (as sent, before supabase-js) names this job, as a job row or a task of it. */
export function frameNamesJob(frame: Frame, jobId: string): boolean {
  const data = frame.payload?.data ?? {};
  const rows = [data.record, data.old_record].filter(Boolean);
  return rows.some((r: Row) => (data.table === 'jobs' ? r.id === jobId : r.job_id === jobId));
}

/** `promise`, or a failure naming what did not happen within the deadline. */
export function within<T>(promise: Promise<T>, what: string, timeoutMs = DEADLINE_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

let pushTimeoutsUnrefd = false;

/**
 * realtime-js sends a refreshed token as an `access_token` push that Supabase Realtime never answers (nor does
 * bbb), so each leaves a 10 s timeout running that would hold the file's process open after its tests: push
 * timeouts (phoenix's Push, shared by every channel) are unref'd. While a test runs, its sockets keep it alive.
 */
function unrefPushTimeouts(channel: RealtimeChannel): void {
  if (pushTimeoutsUnrefd) return;
  pushTimeoutsUnrefd = true;
  const { prototype } = channel.joinPush.constructor as {
    prototype: { startTimeout(): void; timeoutTimer?: NodeJS.Timeout | null };
  };
  const start = prototype.startTimeout;
  prototype.startTimeout = function (this: typeof prototype) {
    start.call(this);
    this.timeoutTimer?.unref();
  };
}

/**
 * realtime-js's disconnect() leaves its own 10 s timeout running after the socket has closed, which would keep
 * the file's process alive that long: the timer it starts (synchronously, inside the call) is unref'd.
 */
export function disconnect(client: { disconnect(): Promise<unknown> }): Promise<unknown> {
  const original = globalThis.setTimeout;
  globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) =>
    original(...args).unref()) as typeof setTimeout;
  try {
    return client.disconnect();
  } finally {
    globalThis.setTimeout = original;
  }
}
