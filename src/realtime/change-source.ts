// The committed changes to published tables, as Transactions in commit order (one source per `bbb serve`).
// It streams the publication over a temporary slot (replication.ts); when the stream is lost it says so
// (`interrupted`: changes in between are missed, and clients re-read current state over the REST API) and
// streams again on a new slot after a backoff, saying `ready` once it does. It never throws past its caller.
import { errorMessage } from '../errors.ts';
import type { log as appLog } from '../log.ts';
import { DEFAULT_PUBLICATION } from './catalog.ts';
import { openReplication, type Replication, typeName } from './replication.ts';
import { assembler } from './transactions.ts';
import type { ChangeSourceEvents, ColumnInfo } from './types.ts';

const BACKOFF_INITIAL_MS = 250;
const BACKOFF_MAX_MS = 10_000;
// A publication name goes into START_REPLICATION's options as a literal: plain identifiers only.
const PUBLICATION_NAME = /^[a-z_][a-z0-9_$]*$/;

export interface ChangeSourceEventMap extends ChangeSourceEvents {
  /** A published table's columns differ from what this source last saw of it (ALTER TABLE): refresh the catalog. */
  relation: (table: { schema: string; table: string; columns: ColumnInfo[] }) => void;
}

export interface ChangeSource {
  on<E extends keyof ChangeSourceEventMap>(event: E, listener: ChangeSourceEventMap[E]): void;
  off<E extends keyof ChangeSourceEventMap>(event: E, listener: ChangeSourceEventMap[E]): void;
  /** Streaming now: every change committed from now on will arrive. */
  readonly ready: boolean;
  /** The temporary replication slot of the current connection, if any. */
  readonly slot: string | undefined;
  /** Ends the stream (its slot goes with it); no event follows. */
  stop(): Promise<void>;
}

export interface ChangeSourceOptions {
  url: string;
  publication?: string;
  log: Pick<typeof appLog, 'debug' | 'info' | 'warn'>;
  backoff?: { initialMs?: number; maxMs?: number };
  /** How often the position is confirmed and the connection's liveness checked (replication.ts). */
  statusIntervalMs?: number;
}

type Listeners = { [E in keyof ChangeSourceEventMap]: Set<ChangeSourceEventMap[E]> };

export function startChangeSource(options: ChangeSourceOptions): ChangeSource {
  const publication = options.publication ?? DEFAULT_PUBLICATION;
  if (!PUBLICATION_NAME.test(publication)) {
    throw new Error(`Publication name ${JSON.stringify(publication)} is not a plain lower-case identifier.`);
  }
  const { log } = options;
  const initialMs = options.backoff?.initialMs ?? BACKOFF_INITIAL_MS;
  const maxMs = options.backoff?.maxMs ?? BACKOFF_MAX_MS;
  const listeners: Listeners = {
    ready: new Set(),
    transaction: new Set(),
    interrupted: new Set(),
    relation: new Set(),
  };
  let ready = false;
  let stopping = false;
  let current: Replication | undefined;
  let wake: (() => void) | undefined;

  const emit = <E extends Exclude<keyof ChangeSourceEventMap, 'transaction'>>(
    event: E,
    ...args: Parameters<ChangeSourceEventMap[E]>
  ) => {
    for (const listener of [...listeners[event]]) {
      try {
        (listener as (...a: typeof args) => void)(...args);
      } catch (err) {
        log.warn(`realtime: a change source '${event}' listener failed: ${errorMessage(err)}`);
      }
    }
  };

  const deliver = (tx: Parameters<ChangeSourceEvents['transaction']>[0]): Promise<void> | undefined => {
    const pending: Promise<void>[] = [];
    for (const listener of [...listeners.transaction]) {
      try {
        const result = listener(tx);
        if (result) pending.push(result);
      } catch (err) {
        log.warn(`realtime: a transaction listener failed: ${errorMessage(err)}`);
      }
    }
    if (pending.length === 0) return undefined;
    return Promise.allSettled(pending).then((results) => {
      for (const r of results) {
        if (r.status === 'rejected')
          log.warn(`realtime: a transaction listener failed: ${errorMessage(r.reason)}`);
      }
    });
  };

  // Tables' column lists as last seen, across connections: each new stream sends every Relation message again.
  const seenColumns = new Map<string, string>();

  async function streamOnce(): Promise<{ streamed: boolean; reason: unknown }> {
    let streamed = false;
    const assemble = assembler({
      typeName,
      deliver,
      relation(table) {
        const key = `${table.schema}.${table.table}`;
        const shape = JSON.stringify(table.columns);
        const before = seenColumns.get(key);
        seenColumns.set(key, shape);
        if (before !== undefined && before !== shape) emit('relation', table);
      },
    });
    const replication = openReplication({
      url: options.url,
      publication,
      ...(options.statusIntervalMs === undefined ? {} : { statusIntervalMs: options.statusIntervalMs }),
      onStart() {
        streamed = true;
        ready = true;
        log.info(`realtime: streaming changes from publication ${publication} (slot ${replication.slot})`);
        emit('ready');
      },
      onMessage(message) {
        const committed = assemble(message);
        if (!committed) return;
        if (committed.held) return committed.held.then(() => replication.confirm(committed.lsn));
        replication.confirm(committed.lsn);
      },
    });
    current = replication;
    try {
      await replication.done;
      return { streamed, reason: new Error('the server ended the replication stream') };
    } catch (err) {
      return { streamed, reason: err };
    } finally {
      current = undefined;
    }
  }

  async function run(): Promise<void> {
    let attempt = 0;
    while (!stopping) {
      const { streamed, reason } = await streamOnce();
      if (stopping) break;
      if (streamed) attempt = 0;
      const delayMs = Math.round(Math.min(maxMs, initialMs * 2 ** attempt++) * (0.5 + Math.random() / 2));
      log.warn(
        `realtime: change stream ${streamed ? 'lost' : 'failed'} (${errorMessage(reason)}); retrying in ${delayMs} ms`,
      );
      if (ready) {
        ready = false;
        emit('interrupted', reason instanceof Error ? reason : new Error(errorMessage(reason)));
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delayMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  }

  const running = run().catch((err: unknown) => {
    log.warn(`realtime: the change source stopped unexpectedly: ${errorMessage(err)}`);
  });

  return {
    on(event, listener) {
      (listeners[event] as Set<typeof listener>).add(listener);
    },
    off(event, listener) {
      (listeners[event] as Set<typeof listener>).delete(listener);
    },
    get ready() {
      return ready;
    },
    get slot() {
      return current?.slot;
    },
    async stop() {
      stopping = true;
      ready = false;
      wake?.();
      await current?.close();
      await running;
    },
  };
}
