// Can this pool reach its database right now? Answered from what its own queries saw, so asking costs no
// query: when the server last answered one (rows or an SQL error: either way it was reached), and how many
// have failed in a row because it could not be reached. connect() tracks every pool it makes; the worker and
// /health/ready read it with poolHealth().
import type Postgres from 'postgres';
import { isConnectionError } from './connection-errors.ts';
import { postgres } from './postgres-driver.ts';

export interface PoolHealth {
  /** Epoch ms when the server last answered one of this pool's queries; null if it never has. */
  lastOkAt: number | null;
  /** This pool's queries that failed in a row for want of a connection; back to 0 on any answer. */
  consecutiveFailures: number;
  /** The latest of those failures. */
  lastError: unknown;
}

const healthOf = new WeakMap<object, PoolHealth>();

/** What `sql` (a pool from connect()) has seen; a pool made elsewhere reads as never used. */
export function poolHealth(sql: Postgres.Sql): Readonly<PoolHealth> {
  return { ...(healthOf.get(sql) ?? { lastOkAt: null, consecutiveFailures: 0, lastError: undefined }) };
}

type Settle = (value: unknown) => void;

/** The same pool, recording the outcome of each query, transaction and reservation made through it. */
export function trackHealth<T extends Postgres.Sql>(sql: T): T {
  const health: PoolHealth = { lastOkAt: null, consecutiveFailures: 0, lastError: undefined };
  const answered = () => {
    health.lastOkAt = Date.now();
    health.consecutiveFailures = 0;
  };
  const failed = (err: unknown) => {
    if (isConnectionError(err)) {
      health.consecutiveFailures++;
      health.lastError = err;
    } else if (err instanceof postgres.PostgresError) answered();
    // Anything else (a bad parameter, an error thrown in a transaction callback) says nothing either way.
  };
  // postgres.js queries are lazy (a fragment must never run), so a query is observed without then(): the
  // driver settles it by calling its own resolve/reject, which are wrapped here.
  const observeQuery = <V>(value: V): V => {
    if (value instanceof Promise) {
      const query = value as unknown as { resolve: Settle; reject: Settle };
      const { resolve, reject } = query;
      if (typeof resolve === 'function' && typeof reject === 'function') {
        query.resolve = (x) => {
          answered();
          resolve(x);
        };
        query.reject = (e) => {
          failed(e);
          reject(e);
        };
      }
    }
    return value;
  };
  // begin() and reserve() return running promises; the caller gets a derived one that settles the same way,
  // so a caller that forgets to handle it still gets its unhandled rejection.
  const observePromise = <V>(promise: Promise<V>): Promise<V> =>
    promise.then(
      (v) => {
        answered();
        return v;
      },
      (e) => {
        failed(e);
        throw e;
      },
    );
  const tracked = new Proxy(sql, {
    apply: (target, thisArg, args) => observeQuery(Reflect.apply(target, thisArg, args)),
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      if (prop === 'unsafe' || prop === 'file')
        return (...args: unknown[]) => observeQuery(Reflect.apply(value, target, args));
      if (prop === 'begin' || prop === 'reserve')
        return (...args: unknown[]) => observePromise(Reflect.apply(value, target, args) as Promise<unknown>);
      return value;
    },
  });
  healthOf.set(tracked, health);
  return tracked;
}
