// Which errors mean "the database cannot be reached right now" (a restart, a fail-over, a killed backend, a
// network or proxy failure), as opposed to "this statement is wrong". Callers retry the first kind.

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
    (code === '55000' && /accepting connections|allow connections/i.test(String((err as Error).message))) ||
    code === '40001' ||
    code === '40P01'
  );
}
