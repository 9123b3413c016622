// npm run bench:filters — what tenants' URL patterns cost (issue 10, finding 1), measured, not asserted:
//   1. each ReDoS shape of test/support/redos.ts on RE2 (re2js) at path lengths 64–2,048, next to V8's
//      backtracking RegExp on the same pattern at the lengths it can still do (in a child process with a time
//      limit, stopping once a call takes over a second) and V8's linear-time `l` flag (a Node flag);
//   2. compile time per pattern, typical ones and ones near the per-pattern caps, per unit of size;
//   3. whole jobs: 200 patterns near the caps, compiled one by one as they used to be and through the per-job
//      budget (JobOptionLimits.patterns.maxTotalSize); then the largest jobs the budget accepts, their compile
//      time and their match time per 2,048-character URL.
//      The heap each of those jobs holds afterwards is mostly re2js's lazy DFA caches (bounded per pattern list).
//   BENCH_SECONDS=0.5 (per measurement) BENCH_V8_LIMIT_SECONDS=20 (per backtracking call, then it is killed)
import { spawn } from 'node:child_process';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { compileFilters, tryCompileFilters, type UrlFilter } from '../src/crawler/filters.ts';
import { JobOptionLimits } from '../src/queue/job-options.ts';
import { REDOS_SHAPES } from '../test/support/redos.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 0.5);
const V8_LIMIT_MS = Number(process.env.BENCH_V8_LIMIT_SECONDS ?? 20) * 1000;
const { max: MAX_PATTERNS, maxLength: MAX_LENGTH, maxTotalSize: BUDGET } = JobOptionLimits.patterns;
const SITE = 'https://bench.example';

/** Milliseconds per call of `once`, called for about `seconds` after a warm-up of a tenth of that. */
function msPerCall(once: () => unknown, seconds = SECONDS): number {
  const warm = performance.now();
  do once();
  while (performance.now() - warm < seconds * 100);
  const started = performance.now();
  let runs = 0;
  do {
    once();
    runs++;
  } while (performance.now() - started < seconds * 1000);
  return (performance.now() - started) / runs;
}

function duration(ms: number | undefined): string {
  if (ms === undefined) return `> ${V8_LIMIT_MS / 1000} s (killed)`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1) return `${ms.toFixed(ms >= 100 ? 0 : 1)} ms`;
  return `${(ms * 1000).toFixed(ms >= 0.01 ? 0 : 1)} µs`;
}

const ratio = (a: number | undefined, b: number) =>
  a === undefined ? '' : `×${(a / b).toFixed(a / b >= 10 ? 0 : 1)}`;

// A RegExp run in its own process, so that a call that never ends can be killed; it measures itself.
const CHILD = `
const [source, flags, text, seconds] = JSON.parse(process.argv[1]);
const re = new RegExp(source, flags);
const started = performance.now();
let runs = 0;
do { re.test(text); runs++; } while (performance.now() - started < seconds * 1000);
process.stdout.write(String((performance.now() - started) / runs));
`;

/** Milliseconds per `new RegExp(source, flags).test(text)`, or undefined when it ran past V8_LIMIT_MS. */
function v8Test(
  source: string,
  flags: string,
  text: string,
  nodeFlags: string[] = [],
): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [...nodeFlags, '-e', CHILD, JSON.stringify([source, flags, text, SECONDS])],
      { stdio: ['ignore', 'pipe', 'inherit'], timeout: V8_LIMIT_MS, killSignal: 'SIGKILL' },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(undefined);
      else if (code === 0) resolve(Number(out));
      else reject(new Error(`RegExp child exited with ${code ?? signal}`));
    });
  });
}

/** What a glob without `/` is matched against: the path's last segment. */
const backtrackingText = (pattern: string, path: string) =>
  pattern.startsWith('/') ? path : path.slice(path.lastIndexOf('/') + 1);

async function benchShapes(): Promise<void> {
  const linear: Array<Record<string, string>> = [];
  const sideBySide: Array<Record<string, string>> = [];
  for (const shape of REDOS_SHAPES) {
    const filter = compileFilters({ include: [shape.pattern] });
    const re2 = (length: number) => msPerCall(() => filter.test(SITE + shape.hostilePath(length)));
    const row: Record<string, string> = { pattern: shape.pattern };
    let previous: number | undefined;
    for (const length of [64, 256, 1024, 2048]) {
      const ms = re2(length);
      row[`${length} chars`] = `${duration(ms)}${previous === undefined ? '' : ` (${ratio(ms, previous)})`}`;
      previous = ms;
    }
    // V8's own linear-time engine on the same RegExp, where it can run it (no lookaround).
    const plain = shape.backtracking.replace('(?:(?!\\.{1,2}(?:\\/|$))(?=.)', '(?:');
    const text = backtrackingText(shape.pattern, shape.hostilePath(2048));
    row['V8 l flag, 2,048'] = duration(
      await v8Test(plain, 'l', text, ['--enable-experimental-regexp-engine']),
    );
    linear.push(row);
    // The backtracking engine, growing the path until one call takes over a second.
    for (let length = 8; length <= 2048; length = length < 32 ? length + 2 : Math.round(length * 1.25)) {
      const path = shape.hostilePath(length);
      const v8 = await v8Test(shape.backtracking, '', backtrackingText(shape.pattern, path));
      const ms = re2(length);
      sideBySide.push({
        pattern: shape.pattern,
        'path length': String(length),
        'V8 backtracking': duration(v8),
        'RE2 (re2js)': duration(ms),
        'V8 / RE2': v8 === undefined ? `> ×${Math.round(V8_LIMIT_MS / ms)}` : ratio(v8, ms),
      });
      if (v8 === undefined || v8 > 1000) break;
    }
  }
  console.log(
    '\n1a. RE2 match time per URL against each ReDoS shape (hostile path; ×: against the length before)',
  );
  console.table(linear);
  console.log(
    '\n1b. The same pattern on V8’s backtracking RegExp, one call at a time, until it takes over a second',
  );
  console.table(sideBySide);
}

// Typical patterns (docs/url-filters.md) and ones built to be as costly as the per-pattern caps allow.
const PATTERNS: Array<[label: string, pattern: string]> = [
  ['glob', '/blog/**'],
  ['glob', '/**/drafts/**'],
  ['glob', '*.pdf'],
  ['glob', '/{en,fr}/**'],
  ['regex', '/^\\/products\\/\\d+(\\?|$)/'],
  ['regex', '/[?&]sessionid=/'],
  ['regex', '/\\.(jpe?g|png|gif)$/'],
  ['regex', '/^\\/blog\\/.*\\/amp$/'],
  ['near cap: counted repetition', '/a{990}/'],
  ['near cap: wide', '/a[ab]{900}c/'],
  ['near cap: 3 counts', '/[0-9]{300}-[0-9]{300}-[0-9]{300}/'],
  ['near cap: ** segments', `/${'**/a/'.repeat(50)}x`],
  ['near cap: * segments', `/${'*/'.repeat(60)}x`],
  ['near cap: ? × 490', `/${'?'.repeat(490)}`],
  ['near cap: *a × 240', `/${'*a'.repeat(240)}`],
  ['near cap: {…} × 32', '/{a,b}{c,d}{e,f}{g,h}{i,j}/*.pdf'],
  ['near cap: literal', `/${'a'.repeat(MAX_LENGTH - 2)}/`],
  ['near cap: alternation', `/${Array.from({ length: 140 }, (_, i) => `x${i % 10}`).join('|')}/`],
  ['near cap: . × 498', `/${'.'.repeat(MAX_LENGTH - 2)}/`],
  ['near cap: \\S × 249', `/${'\\S'.repeat((MAX_LENGTH - 2) / 2)}/`],
];

function benchCompile(): number {
  const rows: Array<Record<string, string>> = [];
  let worst = 0;
  for (const [label, pattern] of PATTERNS) {
    const compiled = tryCompileFilters({ include: [pattern] });
    const ms = msPerCall(() => tryCompileFilters({ include: [pattern] }));
    const refused = 'problems' in compiled ? compiled.problems[0]!.error.message : undefined;
    const perUnit = (ms * 1000) / compiled.size;
    if (!refused) worst = Math.max(worst, perUnit);
    rows.push({
      pattern: `${label}: ${pattern.length > 36 ? `${pattern.slice(0, 33)}…` : pattern}`,
      length: String(pattern.length),
      size: compiled.size.toLocaleString('en'),
      compile: duration(ms),
      'µs per unit': perUnit.toFixed(2),
      verdict: refused ? `refused: ${refused.replace(/^[^:]*: /, '').slice(0, 60)}…` : 'accepted',
    });
  }
  console.log('\n2. Compile time per pattern, alone in a job (size: what it counts against the job budget)');
  console.table(rows);
  return worst;
}

/** `count` distinct variants of a pattern shape, each as long as allowed. */
function variants(shape: (i: number) => string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => shape(i));
}

// 200 patterns of one costly shape, numbered so that no two are the same.
const HEAVY_JOBS: Array<[label: string, (i: number) => string]> = [
  ['** segments', (i) => `/${'**/a/'.repeat(48)}x${i}`],
  ['* segments', (i) => `/${'*/'.repeat(60)}x${i}`],
  ['counted repetition', (i) => `/a{${990 - i}}/`],
  ['wide: a[ab]{900 - i}c', (i) => `/a[ab]{${900 - i}}c/`],
  ['narrow: a[ab]{20 + i}c', (i) => `/a[ab]{${20 + i}}c/`],
  ['? × 490', (i) => `/${'?'.repeat(490)}${i}`],
  ['literal', (i) => `/${String(i).padStart(3, '0')}${'a'.repeat(MAX_LENGTH - 5)}/`],
  ['alternation', (i) => `/${Array.from({ length: 138 }, (_, j) => `x${j % 10}`).join('|')}|${i}/`],
  ['\\S × 249', (i) => `/${'\\S'.repeat(248)}${i % 10}/`],
];

/**
 * Paths of 2,048 random a's and b's after a `c` that the wide patterns want (so it is there, but too early):
 * every `a` starts a thread of `a[ab]{n}c` that runs n characters, and each URL's are new to the DFA.
 */
function hostileUrls(count: number): string[] {
  let seed = 1;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  return Array.from(
    { length: count },
    () => `${SITE}/c${Array.from({ length: 2046 }, () => (random() < 0.5 ? 'a' : 'b')).join('')}`,
  );
}

const megabytes = (bytes: number) => `${bytes < 0 ? '−' : '+'}${(Math.abs(bytes) / 1e6).toFixed(1)} MB`;

/** Bytes of live heap, after a full collection when `--expose-gc` gave us one. */
function heapUsed(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
}

function benchJobs(worstInCompile: number): void {
  let worstPerUnit = worstInCompile;
  const rows: Array<Record<string, string>> = [];
  for (const [label, shape] of HEAVY_JOBS) {
    const all = variants(shape, 2 * MAX_PATTERNS);
    const spec = { include: all.slice(0, MAX_PATTERNS), exclude: all.slice(MAX_PATTERNS) };
    // As before the budget: every pattern compiled, each on its own.
    const oneByOne = msPerCall(() => {
      for (const pattern of all) tryCompileFilters({ include: [pattern] });
    }, 1);
    const result = tryCompileFilters(spec);
    const budgeted = msPerCall(() => tryCompileFilters(spec));
    const problems = 'problems' in result ? result.problems : [];
    const stop = problems.find((p) => p.error.message.includes('a job may have'));
    rows.push({
      job: `200 × ${label}`,
      'each compiled alone (no budget)': duration(oneByOne),
      'with the budget': duration(budgeted),
      verdict: stop ? `refused at ${stop.list}.${stop.index}` : problems.length > 0 ? 'refused' : 'accepted',
      size: result.size.toLocaleString('en'),
    });
  }
  console.log(`\n3a. A job of 200 costly patterns (job budget ${BUDGET.toLocaleString('en')})`);
  console.table(rows);

  // The largest jobs the budget accepts: as many patterns of one shape as fit, then what matching costs.
  const urls = hostileUrls(400);
  const typical = PATTERNS.filter(([label]) => label === 'glob' || label === 'regex').map(([, p]) => p);
  const fits: Array<[label: string, (i: number) => string]> = [
    ['typical (docs examples, numbered)', (i) => typical[i % typical.length]!.replace(/(\w)/, `$1${i}`)],
    ['/section-N/**', (i) => `/section-${i}/**`],
    ['tiny: /xN/', (i) => `/x${i}/`],
    ...HEAVY_JOBS,
  ];
  const full: Array<Record<string, string>> = [];
  for (const [label, shape] of fits) {
    const patterns: string[] = [];
    let filter: UrlFilter | undefined;
    let size = 0;
    for (let i = 0; i < 2 * MAX_PATTERNS; i++) {
      const next = tryCompileFilters(split([...patterns, shape(i)]));
      if ('problems' in next) break;
      patterns.push(shape(i));
      filter = next.filter;
      size = next.size;
    }
    if (!filter) continue;
    const spec = split(patterns);
    const compile = msPerCall(() => tryCompileFilters(spec));
    worstPerUnit = Math.max(worstPerUnit, (compile * 1000) / size);
    const fresh = tryCompileFilters(spec);
    if (!('filter' in fresh)) throw new Error('accepted once, refused the next time');
    const heap = heapUsed();
    let u = 0;
    const match = msPerCall(() => fresh.filter.test(urls[u++ % urls.length]!), 2);
    full.push({
      job: label,
      patterns: String(patterns.length),
      size: size.toLocaleString('en'),
      compile: duration(compile),
      'match per 2,048-char URL': duration(match),
      'heap held after': `${megabytes(heapUsed() - heap)} (${Math.min(u, urls.length)} URLs)`,
    });
  }
  console.log(
    '\n3b. The largest job of each shape that the budget accepts, matched against URLs that no pattern of it ' +
      'matches (but the docs examples), so that every pattern is tried',
  );
  console.table(full);
  console.log(
    `Worst compile cost per unit in 2 and 3b: ${worstPerUnit.toFixed(2)} µs, so a job budget of ` +
      `${BUDGET.toLocaleString('en')} bounds validation to about ${((worstPerUnit * BUDGET) / 1000).toFixed(1)} ms.`,
  );
}

/** Up to MAX_PATTERNS includes, the rest excludes (a job's two lists). */
function split(patterns: string[]): { include: string[]; exclude: string[] } {
  return { include: patterns.slice(0, MAX_PATTERNS), exclude: patterns.slice(MAX_PATTERNS) };
}

const started = performance.now();
await benchShapes();
const worst = benchCompile();
benchJobs(worst);
console.log(
  `\nFilters benchmark — Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, ` +
    `load ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}, ${((performance.now() - started) / 1000).toFixed(0)} s total`,
);
