import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createProgress, type ProgressCounts, renderBar } from '../../src/cli/progress.ts';

const counts = (done: number, total: number, running = 0): ProgressCounts => ({
  total_tasks: total,
  pending_tasks: total - done - running,
  running_tasks: running,
  completed_tasks: done,
  failed_tasks: 0,
  skipped_tasks: 0,
});

function sink(isTTY: boolean) {
  const out: string[] = [];
  return { out, stream: { isTTY, columns: 80, write: (s: string) => out.push(s) > 0 } };
}

test('the bar fills with finished pages', () => {
  assert.equal(renderBar(counts(0, 0)), `[${'-'.repeat(24)}]   0%`);
  assert.equal(renderBar(counts(1, 2)), `[${'#'.repeat(12)}${'-'.repeat(12)}]  50%`);
  assert.equal(renderBar(counts(4, 4)), `[${'#'.repeat(24)}] 100%`);
});

test('on a terminal the bar is redrawn in place and ends with a newline', () => {
  const { out, stream } = sink(true);
  const progress = createProgress({ stream, now: () => 0 });
  progress.update(counts(1, 4, 2));
  progress.finish(counts(4, 4));
  assert.ok(out[0]!.startsWith('\r['));
  assert.match(out[0]!, /1\/4 pages · 2 in flight/);
  assert.ok(out[0]!.endsWith('\x1b[K'));
  assert.match(out[1]!, /4\/4 pages/);
  assert.equal(out.at(-1), '\n');
});

test('in a log, a plain line only when counts change, at most once per interval', () => {
  const { out, stream } = sink(false);
  let t = 0;
  const progress = createProgress({ stream, plainIntervalMs: 5000, now: () => t });
  progress.update(counts(1, 4));
  t = 1000;
  progress.update(counts(2, 4)); // too soon
  t = 6000;
  progress.update(counts(2, 4));
  t = 12_000;
  progress.update(counts(2, 4)); // unchanged
  progress.finish(counts(4, 4));
  assert.deepEqual(out, [
    'progress: 1/4 pages · 0 s\n',
    'progress: 2/4 pages · 6 s\n',
    'progress: 4/4 pages · 12 s\n',
  ]);
  assert.ok(out.every((line) => !line.includes('\r')));
});
