// A PostgreSQL server for throwaway databases (tests, benchmarks): DATABASE_URL when set, otherwise a fresh
// embedded cluster in a temp directory that is deleted on close.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/db/port.ts';

export interface ScratchServer {
  /** URL of the server's maintenance database; create your own databases from it. */
  adminUrl: string;
  /** 'embedded PostgreSQL on port N' or 'DATABASE_URL', for logs (never the URL itself). */
  label: string;
  close(): Promise<void>;
}

export async function openScratchServer(
  options: { fsync?: boolean; prefix?: string; port?: number } = {},
): Promise<ScratchServer> {
  const fromEnv = process.env.DATABASE_URL;
  if (fromEnv) return { adminUrl: fromEnv, label: 'DATABASE_URL', close: async () => {} };
  const { startEmbeddedPostgres } = await import('../../src/db/embedded.ts');
  const dir = mkdtempSync(path.join(os.tmpdir(), options.prefix ?? 'bbb-scratch-'));
  // As root the server runs as the OS user postgres. Letting it enter this directory of ours keeps the throwaway
  // cluster here, where a reboot clears what a killed run leaves, rather than among the shared clusters.
  chmodSync(dir, 0o755);
  try {
    const pg = await startEmbeddedPostgres({
      dataDir: dir,
      // A random free port, not the 54329 that `npm start` prefers: runs side by side must not race for it.
      port: options.port ?? (await freePort()),
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
