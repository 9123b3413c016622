// Crawl progress on stderr, from the job row's counters. A terminal gets one bar redrawn in place; a pipe or CI
// log gets a plain line when the counts change, at most every few seconds, so logs stay readable.
import { pinStatusLine } from '../log.ts';
import type { JobRow } from '../queue/jobs.ts';

export type ProgressCounts = Pick<
  JobRow,
  'total_tasks' | 'pending_tasks' | 'running_tasks' | 'completed_tasks' | 'failed_tasks' | 'skipped_tasks'
>;

export interface ProgressOptions {
  stream: Pick<NodeJS.WriteStream, 'write'> & { isTTY?: boolean; columns?: number };
  /** Plain mode: the least time between two lines. */
  plainIntervalMs?: number;
  now?: () => number;
}

export interface Progress {
  update(counts: ProgressCounts): void;
  /** Ends the bar's line (or prints the last plain line) so later output starts clean. */
  finish(counts: ProgressCounts): void;
}

const BAR_WIDTH = 24;

export function describeCounts(c: ProgressCounts, elapsedMs: number): string {
  const done = c.completed_tasks + c.failed_tasks + c.skipped_tasks;
  const parts = [`${done}/${c.total_tasks} pages`];
  if (c.running_tasks > 0) parts.push(`${c.running_tasks} in flight`);
  if (c.failed_tasks > 0) parts.push(`${c.failed_tasks} failed`);
  parts.push(`${Math.round(elapsedMs / 1000)} s`);
  return parts.join(' · ');
}

export function renderBar(c: ProgressCounts): string {
  const done = c.completed_tasks + c.failed_tasks + c.skipped_tasks;
  const ratio = c.total_tasks === 0 ? 0 : Math.min(1, done / c.total_tasks);
  const filled = Math.round(ratio * BAR_WIDTH);
  return `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${String(Math.floor(ratio * 100)).padStart(3)}%`;
}

export function createProgress(options: ProgressOptions): Progress {
  const { stream } = options;
  const now = options.now ?? Date.now;
  const started = now();
  const plainInterval = options.plainIntervalMs ?? 5000;
  let lastLine = '';
  let lastPlainAt = Number.NEGATIVE_INFINITY;
  let lastKey = '';

  const key = (c: ProgressCounts) =>
    [c.total_tasks, c.completed_tasks, c.failed_tasks, c.skipped_tasks, c.running_tasks].join(',');

  if (stream.isTTY) {
    const draw = (c: ProgressCounts) => {
      const line = `${renderBar(c)} ${describeCounts(c, now() - started)}`;
      const width = stream.columns ?? 80;
      // \x1b[K clears what a longer previous line left behind; the line is cut so it never wraps.
      const shown = line.slice(0, Math.max(10, width - 1));
      stream.write(`\r${shown}\x1b[K`);
      lastLine = line;
      if (stream === process.stderr) pinStatusLine(() => shown);
    };
    return {
      update: draw,
      finish(c) {
        draw(c);
        pinStatusLine(undefined);
        if (lastLine) stream.write('\n');
      },
    };
  }

  return {
    update(c) {
      const k = key(c);
      if (k === lastKey || now() - lastPlainAt < plainInterval) return;
      lastKey = k;
      lastPlainAt = now();
      stream.write(`progress: ${describeCounts(c, now() - started)}\n`);
    },
    finish(c) {
      if (key(c) === lastKey) return;
      lastKey = key(c);
      stream.write(`progress: ${describeCounts(c, now() - started)}\n`);
    },
  };
}
