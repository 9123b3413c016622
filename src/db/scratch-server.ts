// A PostgreSQL server for throwaway databases (tests, benchmarks): DATABASE_URL when set, otherwise a fresh
// embedded cluster in a temp directory that is deleted on close.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface ScratchServer {
  /** URL of the server's maintenance database; create your own databases from it. */
  adminUrl: string;
  /** 'embedded PostgreSQL on port N' or 'DATABASE_URL', for logs (never the URL itself). */
  label: string;
  close(): Promise<void>;
}

export async function openScratchServer(
  options: { fsync?: boolean; prefix?: string } = {},
): Promise<ScratchServer> {
  const fromEnv = process.env.DATABASE_URL;
  if (fromEnv) return { adminUrl: fromEnv, label: 'DATABASE_URL', close: async () => {} };
  const { startEmbeddedPostgres } = await import('./embedded.ts');
  const dir = mkdtempSync(path.join(os.tmpdir(), options.prefix ?? 'bbb-scratch-'));
  // As root the server runs as the OS user postgres, which must be able to enter the directory.
  chmodSync(dir, 0o755);
  try {
    const pg = await startEmbeddedPostgres({
      dataDir: dir,
      fsync: options.fsync ?? true,
      database: 'postgres',
    });
    return {
      adminUrl: pg.adminUrl,
      label: `embedded PostgreSQL on port ${pg.port}`,
      async close() {
        await pg.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}
