// Which errors mean "the database cannot be reached right now" (a restart, a fail-over, a killed backend, a
// network or proxy failure), as opposed to "this statement is wrong". Callers retry the first kind. And which
// refusals a batch of rows can be blamed for (isRowRefusal), the only ones worth bisecting a batch over.

import { errorMessage } from '../errors.ts';

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  // A call abandoned by src/worker/db-retry.ts withDeadline().
  'WORKER_DB_DEADLINE',
]);

export function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  // Class 08 (connection exception), 57P01-57P03 (admin/crash shutdown, cannot connect now), 53300 (too many
  // connections), 40001/40P01 (serialisation/deadlock: safe to retry the same way).
  return (
    CONNECTION_CODES.has(code) ||
    code.startsWith('08') ||
    code === '57P01' ||
    code === '57P02' ||
    code === '57P03' ||
    code === '53300' ||
    // "database ... is not currently accepting connections" (ALLOW_CONNECTIONS false during maintenance).
    (code === '55000' && /accepting connections|allow connections/i.test(errorMessage(err))) ||
    code === '40001' ||
    code === '40P01'
  );
}

/**
 * Whether PostgreSQL refused a statement for a value one row of it carried: class 22 (data exception: out of
 * range, bad input syntax, a NUL byte in text or jsonb), class 23 (integrity constraint violation), 54000 (an
 * index row too large: one overlong value). Only these can be pinned on one entry of a batch by bisecting it.
 * Everything else (timeouts 57014 and 55P03, read-only 25006, resources 53xxx, shutdown 57P0x, 40001/40P01,
 * a lost connection, a bug of ours) says nothing about the rows: the batch is retried whole once it passes.
 */
export function isRowRefusal(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23') || code === '54000');
}
