// Small helpers shared by the queue benchmarks: percentiles, medians, the machine and server description
// printed with every result (the figures in docs/benchmarks.md are only comparable with those).
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import type { Sql } from '../src/db/client.ts';

export const sleep = (ms: number) => delay(ms);

export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new Error(`${name}=${raw} is not a number`);
  return n;
}

/** Nearest-rank percentile of unsorted samples; NaN when there are none. */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function median(values: number[]): number {
  return percentile(values, 50);
}

export const ms = (v: number) => (Number.isFinite(v) ? `${v.toFixed(1)} ms` : '-');
export const perSec = (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '-');

export function machine(): string {
  let model = os.cpus()[0]?.model ?? 'unknown CPU';
  try {
    model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? model;
  } catch {}
  const [l1, l5] = os.loadavg();
  return (
    `${os.availableParallelism()} cores (${model}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, ` +
    `Node ${process.versions.node}, load average ${l1!.toFixed(2)} / ${l5!.toFixed(2)}`
  );
}

export async function serverInfo(sql: Sql): Promise<string> {
  const [row] = await sql<{ v: string; fsync: string; sc: string; sb: string }[]>`
    select current_setting('server_version') as v, current_setting('fsync') as fsync,
      current_setting('synchronous_commit') as sc, current_setting('shared_buffers') as sb`;
  return `PostgreSQL ${row!.v}, fsync=${row!.fsync}, synchronous_commit=${row!.sc}, shared_buffers=${row!.sb}`;
}
