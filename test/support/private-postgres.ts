// A PostgreSQL of the suite's own version that one test may restart or stop without disturbing the other test
// files: the embedded PostgreSQL 17 when the suite runs on it, else the machine's binaries of the version behind
// DATABASE_URL (Debian's /usr/lib/postgresql/<major>/bin), in a temp cluster on a free port with trust auth.
import { execFile } from 'node:child_process';
import { chownSync, existsSync } from 'node:fs';
import path from 'node:path';
import { after } from 'node:test';
import { promisify } from 'node:util';
import { connect } from '../../src/db/client.ts';
import { startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { migrate } from '../../src/db/migrate.ts';
import { freePort } from '../../src/db/port.ts';
import { postgresUserIds } from '../../src/db/postgres-os-user.ts';
import { tempDir } from './tmp.ts';

export interface PrivatePostgres {
  /** A migrated database on it. */
  url: string;
  version: string;
  /** Stops the server and starts it again on the same port and data. */
  restart(): Promise<void>;
  /** Stops it; start() brings it back on the same port and data. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

const execFileAsync = promisify(execFile);

async function suiteMajor(): Promise<number> {
  const admin = connect(process.env.BBB_TEST_ADMIN_URL!, { max: 1 });
  try {
    const [row] = await admin<
      { v: number }[]
    >`select current_setting('server_version_num')::int / 10000 as v`;
    return row!.v;
  } finally {
    await admin.end();
  }
}

async function systemServer(major: number) {
  const bin = `/usr/lib/postgresql/${major}/bin`;
  if (!existsSync(path.join(bin, 'pg_ctl')))
    throw new Error(`no PostgreSQL ${major} binaries in ${bin} to run a private server with`);
  const dir = tempDir('bbb-private-pg-');
  const data = path.join(dir, 'data');
  const port = await freePort();
  const ids = await postgresUserIds();
  if (ids) chownSync(dir, ids.uid, ids.gid);
  // Asynchronous, never execFileSync: a blocked event loop cannot answer the server, and a shutting-down server
  // waits (up to wal_sender_timeout, 60 s) for this process's replication clients to confirm the last WAL.
  const run = (cmd: string, args: string[]) =>
    execFileAsync(path.join(bin, cmd), args, ids ? { uid: ids.uid, gid: ids.gid } : {});
  await run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync']);
  const start = () =>
    run('pg_ctl', [
      '-D',
      data,
      '-w',
      '-l',
      path.join(dir, 'log'),
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c wal_level=logical`,
      'start',
    ]);
  const stop = () => run('pg_ctl', ['-D', data, '-w', '-m', 'fast', 'stop']);
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    restart: async () => {
      await stop();
      await start();
    },
    stop: async () => {
      await stop();
    },
    start: async () => {
      await start();
    },
  };
}

async function embeddedServer() {
  const dir = tempDir('bbb-private-pg-');
  const port = await freePort();
  const start = () => startEmbeddedPostgres({ dataDir: dir, port, fsync: false });
  let pg = await start();
  return {
    url: pg.url,
    restart: async () => {
      await pg.stop();
      pg = await start();
    },
    stop: () => pg.stop(),
    start: async () => {
      pg = await start();
    },
  };
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const major = await suiteMajor();
  const server = process.env.DATABASE_URL ? await systemServer(major) : await embeddedServer();
  let running = true;
  after(async () => {
    if (running) await server.stop().catch(() => {});
  });
  const sql = connect(server.url, { max: 1 });
  try {
    await migrate(sql);
    const [row] = await sql<{ v: string }[]>`select current_setting('server_version') as v`;
    return {
      url: server.url,
      version: row!.v,
      restart: server.restart,
      stop: async () => {
        await server.stop();
        running = false;
      },
      start: async () => {
        await server.start();
        running = true;
      },
    };
  } finally {
    await sql.end();
  }
}
