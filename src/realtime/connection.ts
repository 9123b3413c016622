// One websocket client: its frames decoded and answered as Phoenix's socket answers them (heartbeats, joins,
// "unmatched topic"), each topic's messages handled in order, and everything it is sent kept within a bound,
// so a client that stops reading is disconnected instead of growing the server's memory.
import type { Socket } from 'node:net';
import { type RawData, WebSocket } from 'ws';
import { errorMessage } from '../errors.ts';
import { log } from '../log.ts';
import { Channel, type ChannelHost, type RealtimeContext, TOPIC_PREFIX } from './channel.ts';
import type { UserConnections } from './limits.ts';
import { FrameError, type Message, reply, type Serializer } from './protocol.ts';
import type { Authorised } from './tokens.ts';

/** Close codes: 1013 "try again later" for a client too slow to read, 4408 for one silent too long. */
export const CLOSE_TOO_SLOW = 1013;
export const CLOSE_IDLE = 4408;
export const CLOSE_GOING_AWAY = 1001;

const UNMATCHED = { reason: 'unmatched topic' };
/** Frames held in a corked socket before they are written anyway. */
const CORK_BYTES = 64 * 1024;

export interface ConnectionOptions {
  context: RealtimeContext;
  serializer: Serializer;
  apikey: string;
  shareToken: string | undefined;
  users: UserConnections;
  /** The upgraded TCP socket under `ws`, whose writes a delivery's frames are batched on (cork). */
  socket: Socket;
}

export class Connection implements ChannelHost {
  readonly context: RealtimeContext;
  readonly serializer: Serializer;
  readonly apikey: string;
  readonly shareToken: string | undefined;
  /** Settles when the socket has closed. */
  readonly closed: Promise<void>;
  private readonly channels = new Map<string, Channel>();
  private readonly queues = new Map<string, Promise<void>>();
  /** Client messages waiting in `queues`. */
  private queued = 0;
  private readonly idle: NodeJS.Timeout;
  private userKey: string | undefined;
  private ended = false;
  private corked = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly options: ConnectionOptions,
  ) {
    ({ context: this.context, serializer: this.serializer, apikey: this.apikey } = options);
    this.shareToken = options.shareToken;
    this.closed = new Promise((resolve) => ws.once('close', () => resolve()));
    ws.on('message', (data, isBinary) => this.receive(data, isBinary));
    ws.on('close', () => this.end());
    ws.on('error', (err) => log.debug(`realtime: websocket error: ${err.message}`));
    const { idleTimeoutMs } = this.context.limits;
    this.idle = setTimeout(() => this.close(CLOSE_IDLE, `no message for ${idleTimeoutMs} ms`), idleTimeoutMs);
  }

  push(message: Message): void {
    this.write(this.serializer.encode(message));
  }

  sendChange(frame: string): boolean {
    return this.write(frame);
  }

  admit(who: Authorised): boolean {
    if (this.userKey !== undefined) return true;
    const key =
      who.role === 'authenticated'
        ? `user:${String(who.claims.sub)}`
        : who.role === 'anon' && this.shareToken
          ? `share:${this.shareToken}`
          : `${who.role}:${this.apikey}`;
    if (!this.options.users.take(key)) return false;
    this.userKey = key;
    return true;
  }

  enqueue(topic: string, task: () => Promise<void>): void {
    const previous = this.queues.get(topic) ?? Promise.resolve();
    const next = previous
      .then(() => (this.ended ? undefined : task()))
      .catch((err) => log.warn(`realtime: ${topic}: ${errorMessage(err)}`));
    this.queues.set(topic, next);
    void next.then(() => {
      if (this.queues.get(topic) === next) this.queues.delete(topic);
    });
  }

  drop(channel: Channel): void {
    if (this.channels.get(channel.topic) === channel) this.channels.delete(channel.topic);
  }

  sourceReady(): void {
    for (const channel of this.channels.values()) channel.sourceReady();
  }

  sourceInterrupted(): void {
    for (const channel of [...this.channels.values()]) {
      if (channel.interrupted()) this.drop(channel);
    }
  }

  /** Sends a close frame; the socket ends when the client answers it (ws destroys it after 30 s if not). */
  close(code: number, reason: string): void {
    this.end();
    this.ws.close(code, reason);
  }

  terminate(): void {
    this.end();
    this.ws.terminate();
  }

  private receive(data: RawData, isBinary: boolean): void {
    if (this.ended) return;
    this.idle.refresh();
    if (isBinary) {
      const to = { topic: 'phoenix', ref: null, joinRef: null };
      this.push(reply(to, 'error', { reason: 'binary frames are not accepted: send JSON text' }));
      return;
    }
    const bytes = Buffer.isBuffer(data)
      ? data
      : Array.isArray(data)
        ? Buffer.concat(data)
        : Buffer.from(data);
    const { softFrameBytes } = this.context.limits;
    let message: Message;
    try {
      message = this.serializer.decode(bytes.toString('utf8'));
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      const to = { topic: err.topic ?? 'phoenix', ref: err.ref, joinRef: null };
      const why = bytes.length > softFrameBytes ? tooLarge(bytes.length, softFrameBytes) : err.message;
      this.push(reply(to, 'error', { reason: `malformed message: ${why}` }));
      return;
    }
    if (bytes.length > softFrameBytes) {
      this.push(reply(message, 'error', { reason: tooLarge(bytes.length, softFrameBytes) }));
      return;
    }
    this.dispatch(message);
  }

  private dispatch(message: Message): void {
    if (message.topic === 'phoenix' && message.event === 'heartbeat') {
      this.push(reply(message, 'ok', {}));
    } else if (!message.topic.startsWith(TOPIC_PREFIX)) {
      this.push(reply({ ...message, joinRef: null }, 'error', UNMATCHED));
    } else if (this.queued >= this.context.limits.queuedMessages) {
      const reason = `${this.queued} messages are waiting to be handled; send this again once they are answered`;
      this.push(reply(message, 'error', { reason }));
    } else {
      this.queued++;
      this.enqueue(message.topic, () => {
        this.queued--;
        return this.onChannelMessage(message);
      });
    }
  }

  private async onChannelMessage(message: Message): Promise<void> {
    if (message.event === 'phx_join') return this.join(message);
    const channel = this.channels.get(message.topic);
    if (!channel) {
      this.push(reply({ ...message, joinRef: null }, 'error', UNMATCHED));
    } else if (message.event === 'phx_leave') {
      channel.leave(message);
    } else if (message.event === 'access_token') {
      await channel.refreshToken(message);
    } else if (message.ref !== null) {
      const reason = `this server sends postgres_changes only; "${message.event}" is not supported`;
      this.push(reply(message, 'error', { reason }));
    }
  }

  private async join(message: Message): Promise<void> {
    // As Phoenix does, a second join of a topic replaces the channel already there.
    this.channels.get(message.topic)?.close();
    if (this.channels.size >= this.context.limits.channelsPerConnection) {
      this.push(reply(message, 'error', { reason: 'ChannelRateLimitReached: Too many channels' }));
      return;
    }
    const channel = new Channel(this, message.topic, message.joinRef);
    this.channels.set(message.topic, channel);
    if (!(await channel.join(message))) this.drop(channel);
  }

  /**
   * Writes a frame unless the client has fallen too far behind: then it is told why (past the bound, which
   * only adds a few bytes once) and disconnected, and the hub stops delivering to its channels.
   */
  private write(frame: string, force = false): boolean {
    if (this.ended || this.ws.readyState !== WebSocket.OPEN) return false;
    const bytes = Buffer.from(frame);
    const { outboundBufferBytes } = this.context.limits;
    if (!force && this.ws.bufferedAmount + bytes.length > outboundBufferBytes) {
      const message = `too slow: more than ${outboundBufferBytes} bytes of messages were waiting to be read`;
      for (const channel of this.channels.values()) {
        const payload = { extension: 'system', status: 'error', message, channel: channel.name };
        const event = { joinRef: channel.joinRef, ref: null, topic: channel.topic, event: 'system', payload };
        this.write(this.serializer.encode(event), true);
      }
      this.close(CLOSE_TOO_SLOW, 'too slow to read its messages');
      return false;
    }
    this.cork();
    this.ws.send(bytes, { binary: false });
    return true;
  }

  /**
   * Holds this tick's frames in the socket and writes them together once the tick's work is done, or once
   * CORK_BYTES are held (so what waits here never counts much toward the outbound bound): the hub delivers a
   * window's changes in one go, and a system call per frame was the server's largest cost at 500 clients
   * (docs/benchmarks.md#realtime).
   */
  private cork(): void {
    const { socket } = this.options;
    if (this.corked) {
      if (socket.writableLength < CORK_BYTES) return;
      socket.uncork();
      socket.cork();
      return;
    }
    this.corked = true;
    socket.cork();
    process.nextTick(() => {
      this.corked = false;
      socket.uncork();
    });
  }

  /** Stops everything this connection holds; idempotent. */
  private end(): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.idle);
    for (const channel of this.channels.values()) channel.end();
    this.channels.clear();
    if (this.userKey !== undefined) this.options.users.release(this.userKey);
  }
}

const tooLarge = (bytes: number, max: number) => `the frame is ${bytes} bytes; at most ${max} are accepted`;
