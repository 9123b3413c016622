// Starting a change source for a test database, and awaiting its events (with a deadline, so a missing event
// fails the test instead of hanging it).
import { after } from 'node:test';
import {
  type ChangeSource,
  type ChangeSourceEventMap,
  type ChangeSourceOptions,
  startChangeSource,
} from '../../src/realtime/change-source.ts';
import type { Change, Transaction } from '../../src/realtime/types.ts';

const DEADLINE_MS = 15_000;

export interface TestSource extends ChangeSource {
  /** What it logged, for assertions ('warn: …'). */
  logged: string[];
}

/** A started source on `url`, ready to stream, stopped when the file's tests end. */
export async function readySource(
  url: string,
  options: Partial<ChangeSourceOptions> = {},
): Promise<TestSource> {
  const logged: string[] = [];
  const source = startChangeSource({
    url,
    log: {
      debug: (m) => logged.push(`debug: ${m}`),
      info: (m) => logged.push(`info: ${m}`),
      warn: (m) => logged.push(`warn: ${m}`),
    },
    backoff: { initialMs: 20, maxMs: 200 },
    ...options,
  });
  after(() => source.stop());
  await nextEvent(source, 'ready');
  return Object.assign(source, { logged });
}

/** The next `event` whose arguments satisfy `match`. Listen before causing it. */
export function nextEvent<E extends keyof ChangeSourceEventMap>(
  source: ChangeSource,
  event: E,
  match: (...args: Parameters<ChangeSourceEventMap[E]>) => boolean = () => true,
): Promise<Parameters<ChangeSourceEventMap[E]>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      source.off(event, listener);
      reject(new Error(`no '${event}' event within ${DEADLINE_MS} ms`));
    }, DEADLINE_MS);
    const listener = ((...args: Parameters<ChangeSourceEventMap[E]>) => {
      if (!match(...args)) return;
      clearTimeout(timer);
      source.off(event, listener);
      resolve(args);
    }) as ChangeSourceEventMap[E];
    source.on(event, listener);
  });
}

/** The next transaction with a change to `table` (for which `match` holds, if given). Listen before causing it. */
export async function nextTransaction(
  source: ChangeSource,
  table: string,
  match: (change: Change) => boolean = () => true,
): Promise<Transaction> {
  const [tx] = await nextEvent(source, 'transaction', (t) =>
    t.changes.some((c) => c.table === table && match(c)),
  );
  return tx;
}

/** The changes of `tx` to `table`. */
export function changesTo(tx: Transaction, table: string): Change[] {
  return tx.changes.filter((c) => c.table === table);
}
