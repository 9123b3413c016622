// One logical replication connection: a TEMPORARY slot made on the connection itself, so PostgreSQL drops it
// (and stops keeping WAL for it) the moment the connection ends, however this process ends; pgoutput messages
// decoded by pg-logical-replication, handed over one at a time (a handler's promise holds the stream); and the
// standby status updates that confirm what was handled and tell a silent, dead connection from an idle one.
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Client } from 'pg';
import { LogicalReplicationService, type Pgoutput, PgoutputPlugin } from 'pg-logical-replication';

/** How often the handled position is confirmed to the server, with a request for a reply that shows it is alive. */
export const STATUS_INTERVAL_MS = 10_000;
/** Intervals without a byte from the server (while not holding the stream) after which the connection is dead. */
const SILENT_INTERVALS = 3;
const CONNECT_TIMEOUT_MS = 10_000;
/** How long a clean close may take before the socket is simply destroyed. */
const CLOSE_GRACE_MS = 2_000;
// Output as the value conversions expect it (values.ts), whatever the server's defaults: ISO dates in UTC, as
// on Supabase; the shortest exact float text; interval text in the default style.
const SESSION_OPTIONS = '-c DateStyle=ISO -c TimeZone=UTC -c extra_float_digits=1 -c IntervalStyle=postgres';

export interface ReplicationOptions {
  url: string;
  publication: string;
  statusIntervalMs?: number;
  /** Streaming has begun: every change committed from now on will arrive. */
  onStart(): void;
  /** Each message in stream order; while the returned promise is pending no further message is handled. */
  onMessage(message: Pgoutput.Message): void | Promise<void>;
}

export interface Replication {
  readonly slot: string;
  /** Settles when the stream ends: rejects with why, or resolves if the server ended it without an error. */
  readonly done: Promise<void>;
  /** `lsn` (a commit's end) and everything before it has been handled. */
  confirm(lsn: string): void;
  /** Ends the connection, which drops the slot. */
  close(): Promise<void>;
}

// Types below FirstGenbkiObjectId (10000) are built in and never change; pgoutput names every other column type
// in a Type message before the Relation message that uses it. So one lookup serves the process's lifetime.
const builtinTypes = new Map<number, string>();

/** PostgreSQL's name for a relation column's type ('int8', '_text', 'timestamptz', an enum's name). */
export function typeName(column: Pgoutput.RelationColumn): string {
  return column.typeName ?? builtinTypes.get(column.typeOid) ?? String(column.typeOid);
}

export function openReplication(options: ReplicationOptions): Replication {
  const interval = options.statusIntervalMs ?? STATUS_INTERVAL_MS;
  const slot = `bbb_realtime_${process.pid}_${randomBytes(4).toString('hex')}`;
  const service = new LogicalReplicationService(
    {
      connectionString: options.url,
      application_name: 'bbb realtime',
      options: SESSION_OPTIONS,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      keepAlive: true,
    },
    // Acknowledged by hand, only what the listeners have finished with; flow control pauses the socket while a
    // handler's promise is pending, so a slow consumer holds back the server rather than filling memory.
    { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: true } },
  );
  let confirmed: string | undefined;
  let holding = 0;
  let heardAt = Date.now();
  let streaming = false;
  let closed = false;
  let failure: Error | undefined;
  const plugin = new TemporarySlotPlugin(options.publication, {
    closed: () => closed,
    made(consistentPoint) {
      confirmed = consistentPoint;
    },
  });

  const destroy = (reason: Error) => {
    failure ??= reason;
    socketOf(plugin.client)?.destroy();
  };
  const report = (ping: boolean) => {
    // The package reports the position it is given plus one (it takes the last byte handled, where we hold end
    // positions). Reported exactly, the position lets a shutting-down server see us caught up and stop at once.
    if (confirmed) void service.acknowledge(previousByte(confirmed), ping).catch(() => {});
  };

  service.on('start', () => {
    streaming = true;
    heardAt = Date.now();
    options.onStart();
  });
  service.on('heartbeat', (walEnd: string, _time: number, replyNow: boolean) => {
    heardAt = Date.now();
    // Nothing received is still being handled (handlers run as messages arrive, a pending one holds the rest),
    // so all the server sent before this is done with: confirm its position, or an idle source whose tables
    // never change would keep the WAL that other databases' writes produce.
    if (holding === 0) confirmed = walEnd;
    if (replyNow) report(false);
  });
  service.on('data', async (_lsn: string, message: Pgoutput.Message) => {
    if (closed) return;
    heardAt = Date.now();
    holding++;
    try {
      await options.onMessage(message);
    } finally {
      holding--;
      heardAt = Date.now();
    }
  });
  // Errors also fail the START_REPLICATION query, which settles `done`; destroying makes sure it does.
  service.on('error', (err: Error) => destroy(err));

  const timer = setInterval(() => {
    // Not before streaming: making the slot waits for every transaction then running to end, however long.
    if (streaming && holding === 0 && Date.now() - heardAt > SILENT_INTERVALS * interval) {
      destroy(new Error(`the server sent nothing for ${SILENT_INTERVALS * interval} ms`));
    } else {
      report(true);
    }
  }, interval);
  timer.unref();

  const done = service.subscribe(plugin, slot).then(
    () => {
      if (failure && !closed) throw failure;
    },
    (err: unknown) => {
      throw failure ?? err;
    },
  );
  done.catch(() => {});
  done.finally(() => clearInterval(timer)).catch(() => {});

  return {
    slot,
    done,
    confirm(lsn) {
      confirmed = lsn;
    },
    async close() {
      closed = true;
      clearInterval(timer);
      await endConnection(plugin.client);
      await done.catch(() => {});
    },
  };
}

/** pgoutput, with the slot made first on the same connection, and every value kept as the text it arrives as. */
class TemporarySlotPlugin extends PgoutputPlugin {
  client: Client | undefined;

  constructor(
    publication: string,
    private readonly hooks: { closed(): boolean; made(consistentPoint: string): void },
  ) {
    super({ protoVersion: 1, publicationNames: [publication] });
  }

  override async start(client: Client, slot: string): Promise<unknown> {
    this.client = client;
    // close() may have come while this connection was being made, before there was a client to end.
    await this.endIfClosed(client);
    if (builtinTypes.size === 0) {
      const types = await client.query<{ oid: number; typname: string }>(
        'select oid::int4 as oid, typname::text as typname from pg_type where oid < 10000',
      );
      for (const row of types.rows) builtinTypes.set(row.oid, row.typname);
    }
    const made = await client.query<{ consistent_point: string }>(
      `CREATE_REPLICATION_SLOT ${slot} TEMPORARY LOGICAL pgoutput NOEXPORT_SNAPSHOT`,
    );
    this.hooks.made(made.rows[0]?.consistent_point ?? '0/0');
    await this.endIfClosed(client);
    // A new slot starts at its consistent point whatever position is asked for.
    return super.start(client, slot, '0/0');
  }

  private async endIfClosed(client: Client): Promise<void> {
    if (!this.hooks.closed()) return;
    await client.end();
    throw new Error('the change source was stopped');
  }

  override parse(buffer: Buffer): Pgoutput.Message {
    const message = super.parse(buffer);
    // The parser would convert values with node-postgres's global type parsers (timestamps into Dates, losing
    // microseconds); the columns of a Relation message decide how the tuples after it are read, so keep text.
    if (message.tag === 'relation') for (const column of message.columns) column.parser = keepText;
    return message;
  }
}

function previousByte(lsn: string): string {
  const [high = '0', low = '0'] = lsn.split('/');
  const position = (BigInt(`0x${high}`) << 32n) + BigInt(`0x${low}`);
  const before = position > 0n ? position - 1n : 0n;
  return `${(before >> 32n).toString(16).toUpperCase()}/${(before & 0xffffffffn).toString(16).toUpperCase()}`;
}

function keepText(text: string): string {
  return text;
}

/**
 * Says goodbye (Terminate) and waits for the server to close the connection: its walsender has then exited and
 * dropped the temporary slot, so whoever stopped the source may drop the database next. node-postgres's own
 * end() would only destroy the socket while START_REPLICATION runs, leaving the walsender to notice later.
 */
async function endConnection(client: Client | undefined): Promise<void> {
  const connection = connectionOf(client);
  const socket = connection?.stream;
  if (!connection || !socket || socket.destroyed) return;
  let grace: NodeJS.Timeout | undefined;
  await new Promise<void>((resolve) => {
    socket.once('close', () => resolve());
    grace = setTimeout(resolve, CLOSE_GRACE_MS);
    connection.end();
    // Flow control may have paused it; the close is seen only once what is still in flight has been read.
    socket.resume();
  });
  clearTimeout(grace);
  socket.destroy();
}

/** node-postgres keeps its connection (and socket) private, yet they are the only way to end a stream cleanly. */
function connectionOf(client: Client | undefined): { end(): void; stream?: Socket } | undefined {
  return (client as unknown as { connection?: { end(): void; stream?: Socket } } | undefined)?.connection;
}

/** node-postgres has no public way to abort a connection that has gone silent; its socket is the only handle. */
function socketOf(client: Client | undefined): Socket | undefined {
  return connectionOf(client)?.stream;
}
