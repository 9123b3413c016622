// After `kill -9` of the Node process the postmaster keeps running, orphaned, holding the port and
// postmaster.pid. Before starting we stop such an orphan, or delete a pid file whose process is gone.
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { DbSetupError } from './errors.ts';

/** True while a process with this pid exists (EPERM: it exists but belongs to someone else). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function isPostmasterOf(pid: number, pgDir: string): Promise<boolean> {
  try {
    const cmdline = (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    return cmdline.some((arg) => arg.endsWith('postgres')) && cmdline.includes(pgDir);
  } catch {
    // No /proc (macOS): trust the pid file, as pg_ctl does.
    return process.platform !== 'linux';
  }
}

async function waitForExit(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await delay(50);
  }
  return !isAlive(pid);
}

/** Returns what it did, for logging: 'none' | 'removed-stale' | 'stopped-orphan'. */
export async function stopOrphanedPostmaster(
  pgDir: string,
): Promise<'none' | 'removed-stale' | 'stopped-orphan'> {
  const pidFile = path.join(pgDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return 'none';
  const pid = Number.parseInt((await fs.readFile(pidFile, 'utf8')).split('\n')[0] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid) || !(await isPostmasterOf(pid, pgDir))) {
    await fs.rm(pidFile, { force: true });
    return 'removed-stale';
  }
  // SIGINT is PostgreSQL's "fast" shutdown: it rolls back open transactions and exits cleanly.
  process.kill(pid, 'SIGINT');
  if (await waitForExit(pid, 15_000)) return 'stopped-orphan';
  process.kill(pid, 'SIGQUIT');
  if (await waitForExit(pid, 5_000)) return 'stopped-orphan';
  throw new DbSetupError(
    `A PostgreSQL server (pid ${pid}) still runs on ${pgDir} and would not stop. Stop it by hand (kill ${pid}).`,
  );
}
