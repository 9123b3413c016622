// The project JWT secret for standalone use: BBB_JWT_SECRET when set, otherwise generated on first start and
// stored beside the embedded cluster (mode 600). It is never logged; `bbb keys` prints the keys derived from it.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const SECRET_FILE = 'jwt-secret';

export async function loadOrCreateJwtSecret(
  dataDir: string,
  configured?: string,
): Promise<{ secret: string; created: boolean }> {
  if (configured) return { secret: configured, created: false };
  const file = path.join(dataDir, SECRET_FILE);
  try {
    const secret = (await readFile(file, 'utf8')).trim();
    if (secret.length < 32) {
      throw new Error(`${file} holds a secret shorter than 32 characters: delete it to make a new one`);
    }
    return { secret, created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(dataDir, { recursive: true });
  const secret = randomBytes(32).toString('hex');
  // wx: two processes starting at once must not overwrite each other's secret.
  try {
    await writeFile(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
    return { secret, created: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return { secret: (await readFile(file, 'utf8')).trim(), created: false };
  }
}
