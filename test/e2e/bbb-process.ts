// Runs `node bin/bbb.js …` as a child process, the way a user or CI job would, and collects what it printed.
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface BbbRun {
  child: ChildProcess;
  /** Resolves when the process exits. */
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** Resolves once stderr contains a match (rejects if the process exits first). */
  waitForStderr(pattern: RegExp): Promise<void>;
}

export function runBbb(args: string[], env: Record<string, string | undefined> = {}): BbbRun {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, BBB_PG_FSYNC: 'false', ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k];
  const child = spawn(process.execPath, [path.join(root, 'bin/bbb.js'), ...args], {
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const watchers: Array<{ pattern: RegExp; resolve: () => void }> = [];
  child.stdout!.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
    for (const w of watchers.filter((w) => w.pattern.test(stderr))) {
      watchers.splice(watchers.indexOf(w), 1);
      w.resolve();
    }
  });
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
  return {
    child,
    done,
    waitForStderr(pattern) {
      if (pattern.test(stderr)) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        watchers.push({ pattern, resolve });
        void done.then(({ code }) =>
          reject(new Error(`bbb exited (${code}) before stderr matched ${pattern}:\n${stderr}`)),
        );
      });
    },
  };
}
