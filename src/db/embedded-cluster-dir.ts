// Where a data directory's cluster lives: normally <dataDir>/pg. As root, when the OS user postgres cannot reach
// the data directory (a checkout under /root or `mktemp -d`), the cluster lives in a shared directory instead,
// and <dataDir>/pg-location names it. The data directory stays the one handle on the state (the password and
// JWT secret stay in it, read by root): the same checkout finds its cluster again, even after being moved, and
// another checkout gets its own.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { DbSetupError } from './errors.ts';

export const CLUSTER_POINTER = 'pg-location';
/** Clusters are data, not cache: they go where a reboot or a cache clean-up leaves them alone. */
export const SHARED_CLUSTER_ROOT = '/var/lib/bbb/clusters';

/** `sharedRoot`: given when the cluster may not live in the data directory; called only for a new cluster. */
export async function locateCluster(dataDir: string, sharedRoot?: () => Promise<string>): Promise<string> {
  const inPlace = path.join(dataDir, 'pg');
  if (existsSync(path.join(inPlace, 'PG_VERSION'))) return inPlace;
  const pointed = await readPointer(dataDir);
  if (pointed || !sharedRoot) return pointed ?? inPlace;
  const cluster = path.join(await sharedRoot(), clusterName(await fs.realpath(dataDir)));
  // Written aside and linked into place: a concurrent start reads all of the pointer or none, and keeps the first.
  const temp = path.join(dataDir, `.${CLUSTER_POINTER}.${randomBytes(4).toString('hex')}`);
  await fs.writeFile(temp, `${cluster}\n`, { mode: 0o644 });
  try {
    await fs.link(temp, path.join(dataDir, CLUSTER_POINTER));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await fs.rm(temp, { force: true });
  }
  return (await readPointer(dataDir))!;
}

/** Readable, and unique per data directory: `x-bbb-<hash>` for /root/x/.bbb. */
export function clusterName(realDataDir: string): string {
  const label = realDataDir
    .split(path.sep)
    .slice(-2)
    .join('-')
    .replace(/[^A-Za-z0-9_-]+/g, '')
    .slice(0, 40);
  const hash = createHash('sha256').update(realDataDir).digest('hex').slice(0, 16);
  return label ? `${label}-${hash}` : hash;
}

async function readPointer(dataDir: string): Promise<string | undefined> {
  const file = path.join(dataDir, CLUSTER_POINTER);
  let text: string;
  try {
    text = (await fs.readFile(file, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  if (!path.isAbsolute(text)) {
    throw new DbSetupError(
      `${file} should hold the absolute path of the cluster directory, and holds ${JSON.stringify(text)}. ` +
        'Fix it, or delete it to start a new, empty cluster.',
    );
  }
  return text;
}
