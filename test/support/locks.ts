// Holding a lock from a transaction of its own, as a long-running one would, until the test lets it go.
import type { Sql, TxSql } from '../../src/db/client.ts';

/**
 * Runs `take` in a transaction on a one-connection pool of `db`'s database and resolves once it has returned
 * (the locks it took are held); the function returned ends the transaction and the pool.
 */
export async function holdLocks(
  db: { connect(max?: number): Sql },
  take: (tx: TxSql) => Promise<unknown>,
): Promise<() => Promise<void>> {
  const holder = db.connect(1);
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let taken!: () => void;
  const isTaken = new Promise<void>((resolve) => {
    taken = resolve;
  });
  const holding = holder.begin(async (tx) => {
    await take(tx);
    taken();
    await released;
  });
  // A failed take rejects here rather than leaving the test waiting.
  await Promise.race([isTaken, holding]);
  return async () => {
    release();
    await holding;
    await holder.end();
  };
}
