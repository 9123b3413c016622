// One channel `realtime:<name>` of a connection, behaving as Supabase Realtime's RealtimeChannel does for
// postgres_changes: the join checks the token and the bindings and echoes them with ids; "Subscribed to
// PostgreSQL" follows once changes flow; an `access_token` push swaps whose rows it receives; the token is
// checked again every few minutes and at its expiry; a refused token ends the channel the way Supabase's
// shutdown_response does (a `system` error, then phx_close). The channel is the hub's Subscription.
import { errorMessage } from '../errors.ts';
import { log } from '../log.ts';
import { BindingError, parseBindings } from './bindings.ts';
import type { Limits } from './limits.ts';
import { changeData, type Message, reply, type Serializer } from './protocol.ts';
import { type Authorise, type Authorised, TokenRefused } from './tokens.ts';
import type { Audience, Binding, Change, Subscription, TableInfo } from './types.ts';

export const TOPIC_PREFIX = 'realtime:';

/** Where subscriptions are registered: hub.ts's Hub. */
export interface SubscriptionRegistry {
  add(sub: Subscription): void;
  remove(sub: Subscription): void;
}

/** What every channel of the process shares. */
export interface RealtimeContext {
  hub: SubscriptionRegistry;
  /** Whether the change source is streaming now. */
  sourceReady(): boolean;
  tables(): ReadonlyMap<string, TableInfo>;
  authorise: Authorise;
  limits: Limits;
}

/** What a channel needs from its connection. */
export interface ChannelHost {
  readonly context: RealtimeContext;
  readonly serializer: Serializer;
  /** The connection's apikey: the token of a join that sends no access_token. */
  readonly apikey: string;
  /** A share link's token from the websocket URL, for anon viewers of a shared job. */
  readonly shareToken: string | undefined;
  push(message: Message): void;
  /** Sends a change frame within the outbound bound; false when the client is too slow (it is being closed). */
  sendChange(frame: string): boolean;
  /** Counts the connection toward its user's connections; false when that user holds the maximum. */
  admit(who: Authorised): boolean;
  /** Runs `task` after this topic's earlier messages. */
  enqueue(topic: string, task: () => Promise<void>): void;
  /** The channel has ended (left, shut down, errored): forget it. */
  drop(channel: Channel): void;
}

/** A join refused for a reason given word for word. */
class JoinRefused extends Error {}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export class Channel implements Subscription {
  readonly name: string;
  bindings: readonly Binding[] = [];
  private current: Audience = { role: 'anon', claims: {}, headers: {} };
  private token = '';
  private exp = 0;
  private timer: NodeJS.Timeout | undefined;
  private registered = false;
  private subscribedSent = false;
  private ended = false;
  private readonly frame: (ids: readonly number[], data: string) => string;

  constructor(
    private readonly host: ChannelHost,
    readonly topic: string,
    readonly joinRef: string | null,
  ) {
    this.name = topic.slice(TOPIC_PREFIX.length);
    this.frame = host.serializer.changeFrame(topic, joinRef);
  }

  audience(): Audience {
    return this.current;
  }

  deliver(change: Change, ids: number[], commitTimestamp: string): boolean {
    if (this.ended) return false;
    return this.host.sendChange(this.frame(ids, changeData(change, commitTimestamp)));
  }

  /** Answers the phx_join; true when the channel joined. */
  async join(message: Message): Promise<boolean> {
    const { context } = this.host;
    try {
      if (this.name === '') throw new JoinRefused('TopicNameRequired: You must provide a topic name');
      const { config, access_token: given } = message.payload;
      if (config !== undefined && !isObject(config)) {
        throw new JoinRefused('InvalidJoinPayload: config: unable to parse, expected a map');
      }
      if (given !== undefined && given !== null && typeof given !== 'string') {
        throw new JoinRefused('InvalidJoinPayload: access_token: unable to parse, expected string');
      }
      // Supabase's new API keys (sb_…) are not JWTs: such a join acts with the connection's key.
      const token = typeof given === 'string' && !given.startsWith('sb_') ? given : this.host.apikey;
      const who = await context.authorise(token);
      const parsed = parseBindings(
        config?.postgres_changes,
        context.tables(),
        context.limits.bindingsPerChannel,
      );
      if (this.ended) return false;
      if (!this.host.admit(who))
        throw new JoinRefused('ConnectionRateLimitReached: Too many connected users');
      this.accept(token, who);
      this.bindings = parsed.bindings;
      this.host.push(reply(message, 'ok', { postgres_changes: parsed.echo }));
      if (this.bindings.length > 0) {
        context.hub.add(this);
        this.registered = true;
        if (context.sourceReady()) this.sourceReady();
      }
      return true;
    } catch (err) {
      this.end();
      this.host.push(reply(message, 'error', { reason: joinReason(err, this.topic) }));
      return false;
    }
  }

  /** The client's `access_token` push: re-verify; a refused token ends the channel, as on Supabase. */
  async refreshToken(message: Message): Promise<void> {
    const given = message.payload.access_token;
    if (given === undefined || given === null) return;
    if (typeof given !== 'string') {
      if (message.ref !== null)
        this.host.push(reply(message, 'error', { reason: 'access_token must be a string' }));
      return;
    }
    if (given.startsWith('sb_') || given === this.token) return;
    let who: Authorised;
    try {
      who = await this.host.context.authorise(given);
    } catch (err) {
      this.shutdown(refusal(err, this.topic, 'the new access token could not be verified'));
      return;
    }
    if (!this.ended) this.accept(given, who);
  }

  leave(message: Message): void {
    this.host.push(reply(message, 'ok', {}));
    this.close();
  }

  /** The change source is streaming: changes will flow to this channel's bindings. */
  sourceReady(): void {
    if (!this.registered || this.subscribedSent) return;
    this.subscribedSent = true;
    this.system('postgres_changes', 'ok', 'Subscribed to PostgreSQL');
  }

  /** The change source was lost: changes may be missed, so the client must rejoin (and re-read). */
  interrupted(): boolean {
    if (!this.registered) return false;
    const message = 'the PostgreSQL change stream was interrupted; rejoin to resume';
    this.system('postgres_changes', 'error', message);
    this.control('phx_error', { reason: message });
    this.end();
    return true;
  }

  /** Ends the channel with phx_close, as for a leave or a duplicate join of its topic. */
  close(): void {
    this.control('phx_close', {});
    this.end();
    this.host.drop(this);
  }

  /** Stops delivering and timers; idempotent. */
  end(): void {
    this.ended = true;
    clearTimeout(this.timer);
    if (this.registered) {
      this.registered = false;
      this.host.context.hub.remove(this);
    }
  }

  private shutdown(message: string): void {
    if (this.ended) return;
    this.system('system', 'error', message);
    this.close();
  }

  private accept(token: string, who: Authorised): void {
    this.token = token;
    this.exp = who.exp;
    // A share link's token reaches RLS as the REST API passes it, in request.headers (public.shared_job_id()).
    // Every role carries it: jobs_read_shared applies to authenticated too, so a signed-in viewer of another
    // organisation's link sees that job, as anon would.
    const { shareToken } = this.host;
    const headers: Record<string, string> = shareToken ? { 'x-share-token': shareToken } : {};
    this.current = { role: who.role, claims: who.claims, headers };
    this.arm();
  }

  /** Checks the token again at its expiry, or sooner (a session may end before its tokens expire). */
  private arm(): void {
    clearTimeout(this.timer);
    const untilExpiry = Math.max(0, this.exp * 1000 - Date.now());
    const delay = Math.min(this.host.context.limits.tokenRecheckMs, untilExpiry);
    this.timer = setTimeout(() => this.host.enqueue(this.topic, () => this.recheck()), delay);
    this.timer.unref();
  }

  private async recheck(): Promise<void> {
    if (this.ended) return;
    const token = this.token;
    try {
      const who = await this.host.context.authorise(token);
      if (!this.ended && token === this.token) this.accept(token, who);
    } catch (err) {
      if (err instanceof TokenRefused) return this.shutdown(err.message);
      // The expiry needs no database; a failed session lookup is retried rather than ending the channel.
      log.warn(`realtime: ${this.topic}: checking the token again failed: ${errorMessage(err)}`);
      if (!this.ended) this.arm();
    }
  }

  private system(extension: string, status: 'ok' | 'error', message: string): void {
    this.host.push({
      joinRef: this.joinRef,
      ref: null,
      topic: this.topic,
      event: 'system',
      payload: { extension, status, message, channel: this.name },
    });
  }

  /** phx_close and phx_error carry the join ref as their ref too: realtime-js drops them otherwise. */
  private control(event: 'phx_close' | 'phx_error', payload: Record<string, unknown>): void {
    this.host.push({ joinRef: this.joinRef, ref: this.joinRef, topic: this.topic, event, payload });
  }
}

function joinReason(err: unknown, topic: string): string {
  if (err instanceof TokenRefused) return `${err.code}: ${err.message}`;
  if (err instanceof BindingError || err instanceof JoinRefused) return err.message;
  log.warn(`realtime: joining ${topic} failed: ${errorMessage(err)}`);
  return 'UnknownErrorOnChannel: Unknown Error on Channel';
}

function refusal(err: unknown, topic: string, otherwise: string): string {
  if (err instanceof TokenRefused) return err.message;
  log.warn(`realtime: ${topic}: ${otherwise}: ${errorMessage(err)}`);
  return otherwise;
}
