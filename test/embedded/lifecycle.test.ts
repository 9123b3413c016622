import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { isAlive } from '../../src/db/embedded-pidfile.ts';
import { DbSetupError } from '../../src/db/errors.ts';
import { isPortFree } from '../../src/db/port.ts';
import { tempDir } from '../support/tmp.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

async function query<T>(url: string, fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return await fn(sql);
  } finally {
    await sql.end();
  }
}

describe('embedded PostgreSQL', () => {
  test('initialises once, keeps its data and password, and uses scram and logical WAL', async () => {
    const dir = tempDir();
    const first = await startEmbeddedPostgres({ dataDir: dir, fsync: false });
    const settings = await query(first.url, async (sql) => {
      await sql`create table marker (v text)`;
      await sql`insert into marker values ('kept')`;
      const [row] =
        await sql`select current_setting('wal_level') as wal, current_setting('password_encryption') as enc,
        (select count(*)::int from pg_hba_file_rules where auth_method = 'scram-sha-256') as scram_rules`;
      return row;
    });
    assert.equal(settings?.wal, 'logical');
    assert.equal(settings?.enc, 'scram-sha-256');
    assert.ok((settings?.scram_rules as number) > 0);
    const password = readFileSync(path.join(dir, 'pg-password'), 'utf8');
    assert.equal(statSync(path.join(dir, 'pg-password')).mode & 0o777, 0o600);
    const versionFile = statSync(path.join(dir, 'pg', 'PG_VERSION'));
    await first.stop();

    const second = await startEmbeddedPostgres({ dataDir: dir, fsync: false });
    const [row] = await query(second.url, (sql) => sql`select v from marker`);
    assert.equal(row?.v, 'kept');
    assert.equal(readFileSync(path.join(dir, 'pg-password'), 'utf8'), password);
    assert.equal(
      statSync(path.join(dir, 'pg', 'PG_VERSION')).mtimeMs,
      versionFile.mtimeMs,
      'not initialised again',
    );
    // A wrong password is refused: the stored one is really in force.
    const wrong = new URL(second.url);
    wrong.password = 'nope';
    await assert.rejects(
      query(wrong.toString(), (sql) => sql`select 1`),
      /password authentication failed/,
    );
    await second.stop();
  });

  test('recovers from a stale postmaster.pid and from an orphaned postmaster after kill -9', async () => {
    const dir = tempDir();
    const pg = await startEmbeddedPostgres({ dataDir: dir, fsync: false });
    await pg.stop();
    // A pid file naming a process that no longer exists.
    writeFileSync(path.join(dir, 'pg', 'postmaster.pid'), '999999\n/nowhere\n0\n1\n');
    const again = await startEmbeddedPostgres({ dataDir: dir, fsync: false });
    await again.stop();

    // A Node process that started the cluster is killed with SIGKILL: its postmaster lives on, orphaned.
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(root, 'test/embedded/start-and-wait.ts'), dir],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
        cwd: root,
      },
    );
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        const match = /ready (\d+)/.exec(chunk.toString());
        if (match) resolve(Number(match[1]));
      });
      child.once('exit', (code) => reject(new Error(`helper exited early with ${code}`)));
    });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const orphan = Number(readFileSync(path.join(dir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
    assert.ok(isAlive(orphan), 'the postmaster outlived its parent');
    assert.equal(await isPortFree(port), false);

    const recovered = await startEmbeddedPostgres({ dataDir: dir, fsync: false });
    assert.equal(isAlive(orphan), false, 'the orphan was stopped');
    const [row] = await query(recovered.url, (sql) => sql`select 1 as ok`);
    assert.equal(row?.ok, 1);
    await recovered.stop();
  });

  test('a fixed port in use is refused with a fix; an unfixed one falls back to a free port', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const busy = (blocker.address() as net.AddressInfo).port;
    try {
      await assert.rejects(
        startEmbeddedPostgres({ dataDir: tempDir(), port: busy, fsync: false }),
        (err: Error) => {
          assert.ok(err instanceof DbSetupError);
          assert.match(err.message, new RegExp(`Port ${busy} \\(BBB_PG_PORT\\) is already in use`));
          assert.match(err.message, /unset BBB_PG_PORT/);
          return true;
        },
      );
    } finally {
      blocker.close();
    }
    const preferred = net.createServer();
    const preferredFree = await isPortFree(54329);
    if (preferredFree) await new Promise<void>((resolve) => preferred.listen(54329, '127.0.0.1', resolve));
    try {
      const pg = await startEmbeddedPostgres({ dataDir: tempDir(), fsync: false });
      assert.notEqual(pg.port, 54329);
      await pg.stop();
    } finally {
      preferred.close();
    }
  });

  test('a start that does not finish in time fails, naming the cause, and the next start works', async () => {
    const dir = tempDir();
    await (await startEmbeddedPostgres({ dataDir: dir, fsync: false })).stop();
    await assert.rejects(
      startEmbeddedPostgres({ dataDir: dir, fsync: false, startTimeoutMs: 1 }),
      (err: Error) => {
        assert.ok(err instanceof DbSetupError);
        assert.match(err.message, /did not become ready within 1 ms/);
        assert.match(err.message, /BBB_PG_START_TIMEOUT_MS/);
        return true;
      },
    );
    const pg = await startEmbeddedPostgres({ dataDir: dir, fsync: false });
    await pg.stop();
  });

  test('setup problems are explained', async () => {
    const notEmpty = tempDir();
    mkdirSync(path.join(notEmpty, 'pg'));
    writeFileSync(path.join(notEmpty, 'pg', 'something'), 'x');
    await assert.rejects(
      startEmbeddedPostgres({ dataDir: notEmpty }),
      /holds no PostgreSQL cluster \(no PG_VERSION\)/,
    );

    const dir = tempDir();
    await (await startEmbeddedPostgres({ dataDir: dir, fsync: false })).stop();
    writeFileSync(path.join(dir, 'pg-password'), '');
    const { rmSync } = await import('node:fs');
    rmSync(path.join(dir, 'pg-password'));
    await assert.rejects(startEmbeddedPostgres({ dataDir: dir }), /password file .* is missing/);
  });

  // A data directory the postgres user cannot reach from the start gets a cluster elsewhere (private-checkout.test.ts).
  test('as root, a cluster in a data directory the postgres user can no longer enter is named', {
    skip:
      process.getuid?.() !== 0 && 'needs root: otherwise postgres runs as the user who owns the directory',
  }, async () => {
    const outer = tempDir();
    const locked = path.join(outer, 'private');
    mkdirSync(locked, { mode: 0o755 });
    await (await startEmbeddedPostgres({ dataDir: path.join(locked, 'state'), fsync: false })).stop();
    chmodSync(locked, 0o700);
    await assert.rejects(startEmbeddedPostgres({ dataDir: path.join(locked, 'state') }), (err: Error) => {
      assert.ok(err instanceof DbSetupError);
      assert.match(
        err.message,
        new RegExp(`cannot enter ${locked.replaceAll('/', '\\/')}, which holds the cluster`),
      );
      assert.match(err.message, /BBB_DATA_DIR/);
      return true;
    });
  });
});
