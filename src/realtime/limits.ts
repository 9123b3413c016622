// What one realtime client may hold, each limit in one place. Supabase Realtime's defaults where it has one
// (100 channels per client, 100 users), and bounds of our own where memory would otherwise grow with what a
// client sends or fails to read.

export interface Limits {
  /** Channels one websocket may have joined at once (Supabase's max_channels_per_client). */
  channelsPerConnection: number;
  /** postgres_changes bindings in one join. */
  bindingsPerChannel: number;
  /** Connections one user (sub; a share link; else the anon key) may hold in this process. */
  connectionsPerUser: number;
  /** The hard cap: ws closes the connection (1009) on a larger frame without reading it into memory. */
  maxFrameBytes: number;
  /** Larger frames are answered with an error reply and otherwise ignored; the connection stays. */
  softFrameBytes: number;
  /** A connection's messages waiting behind slower ones (a join checking its token); more are refused. */
  queuedMessages: number;
  /** Bytes waiting to be written to one client; past this it is too slow and is disconnected. */
  outboundBufferBytes: number;
  /** A connection silent this long is dropped: twice realtime-js's 25 s heartbeat interval. */
  idleTimeoutMs: number;
  /** A joined channel's token is verified again this often (and at its expiry), as Supabase does. */
  tokenRecheckMs: number;
}

export const LIMITS: Readonly<Limits> = Object.freeze({
  channelsPerConnection: 100,
  bindingsPerChannel: 20,
  connectionsPerUser: 100,
  maxFrameBytes: 1024 * 1024,
  softFrameBytes: 64 * 1024,
  queuedMessages: 100,
  // About a second of a busy job's task changes for one subscriber; 500 clients at the cap is ~1 GiB.
  outboundBufferBytes: 2 * 1024 * 1024,
  idleTimeoutMs: 2 * 25_000,
  tokenRecheckMs: 5 * 60_000,
});

/** Counts connections per user across the process, for `connectionsPerUser`. */
export class UserConnections {
  private readonly counts = new Map<string, number>();

  constructor(private readonly max: number) {}

  /** Takes a slot for `key`; false when the user already holds the maximum. */
  take(key: string): boolean {
    const count = this.counts.get(key) ?? 0;
    if (count >= this.max) return false;
    this.counts.set(key, count + 1);
    return true;
  }

  release(key: string): void {
    const count = this.counts.get(key) ?? 0;
    if (count <= 1) this.counts.delete(key);
    else this.counts.set(key, count - 1);
  }
}
