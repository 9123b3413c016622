// Directories bbb keeps, as root, outside the checkout for the OS user postgres: the binaries cache and the
// relocated clusters. What is in them runs as postgres or is its data, so a directory someone else owns or may
// write to is refused rather than used.
import fs from 'node:fs/promises';
import path from 'node:path';
import { DbSetupError } from './errors.ts';
import { blockingAncestor, type UserIds } from './postgres-os-user.ts';

/** Creates `dir` (and missing parents) mode 755 and checks it is ours alone and, given `ids`, reachable by them. */
export async function ensureSharedDir(dir: string, ids?: UserIds): Promise<string> {
  const created = await fs.mkdir(dir, { recursive: true, mode: 0o755 });
  if (created) {
    // mkdir applies the umask, and a 077 umask would lock postgres out of what we just made.
    for (let d = dir; d.startsWith(created); d = path.dirname(d)) await fs.chmod(d, 0o755);
  }
  const st = await fs.lstat(dir);
  const uid = process.getuid?.();
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0) {
    throw new DbSetupError(
      `${dir} must be a directory owned by uid ${uid} that nobody else may write to ` +
        `(it is ${st.isDirectory() ? `owned by uid ${st.uid}, mode ${(st.mode & 0o7777).toString(8)}` : 'not a directory'}). ` +
        'Remove it and start again.',
    );
  }
  const blocked = ids && blockingAncestor(dir, ids);
  if (blocked) throw new DbSetupError(`The OS user postgres cannot enter ${blocked}, which holds ${dir}.`);
  return dir;
}
