// The two processes bench/realtime.ts starts: the server (realtime-server.ts), whose once-a-second samples it
// keeps, and the clients (realtime-clients.ts), which it drives by request and answer over IPC.
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClientSpec, ClientsReport, FromClients, ToClients } from './realtime-messages.ts';
import type { ServerSample } from './realtime-server.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

export interface ServerProcess {
  url: string;
  pid: number;
  samples: ServerSample[];
  /** SIGTERM, and the exit (a --cpu-prof profile is written by then). */
  stop(): Promise<void>;
}

export async function startServer(env: NodeJS.ProcessEnv, cpuProfDir?: string): Promise<ServerProcess> {
  const prof = cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', cpuProfDir] : [];
  const child = spawn(process.execPath, [...prof, '--import', 'tsx', path.join(here, 'realtime-server.ts')], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const samples: ServerSample[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    let ready: string | undefined;
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let nl = buffered.indexOf('\n');
      while (nl >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.startsWith('ready ')) ready = line.slice(6);
        else if (line.startsWith('{')) samples.push(JSON.parse(line));
        // Its first sample follows `ready`: the memory before any client.
        if (ready !== undefined && samples.length > 0) resolve(ready);
        nl = buffered.indexOf('\n');
      }
    });
    void exited.then((code) => reject(new Error(`the server exited (${code}) before it was ready`)));
  });
  return {
    url,
    pid: child.pid!,
    samples,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export class ClientProcess {
  private readonly child: ChildProcess;
  private seq = 0;
  private readonly pending = new Map<
    number,
    { resolve: (m: FromClients) => void; reject: (e: Error) => void }
  >();
  private readonly exited: Promise<void>;

  constructor() {
    this.child = fork(path.join(here, 'realtime-clients.ts'), [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (m: FromClients) => {
      const waiter = this.pending.get(m.seq);
      this.pending.delete(m.seq);
      if (m.type === 'failed') waiter?.reject(new Error(`clients: ${m.message}`));
      else waiter?.resolve(m);
    });
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code) => {
        for (const w of this.pending.values()) w.reject(new Error(`the client process exited (${code})`));
        this.pending.clear();
        resolve();
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  private ask(message: DistributiveOmit<ToClients, 'seq'>): Promise<FromClients> {
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      this.child.send({ ...message, seq });
    });
  }

  /** Opens every client and waits for each one's "Subscribed to PostgreSQL"; returns how long that took. */
  async connect(wsUrl: string, apikey: string, clients: ClientSpec[]): Promise<number> {
    const m = await this.ask({ type: 'connect', wsUrl, apikey, clients });
    return m.type === 'done' ? (m.ms ?? 0) : 0;
  }

  async reset(): Promise<void> {
    await this.ask({ type: 'reset' });
  }

  async count(): Promise<number> {
    const m = await this.ask({ type: 'count' });
    return m.type === 'count' ? m.tasks : 0;
  }

  async report(): Promise<ClientsReport> {
    const m = await this.ask({ type: 'report' });
    if (m.type !== 'report') throw new Error('the client process answered a report with something else');
    return m.report;
  }

  async close(): Promise<void> {
    if (this.child.connected) await this.ask({ type: 'close' }).catch(() => {});
    await this.exited;
  }
}

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

/** Busy and total jiffies of the machine, from /proc/stat. */
export function machineCpu(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  const total = fields.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** CPU ms (user + system) a process has used so far, from /proc/<pid>/stat. */
export function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after "(comm) state".
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}
