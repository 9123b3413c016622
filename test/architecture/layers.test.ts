// The layer order of docs/architecture.md, checked: every import in src/ goes to the importer's own layer or
// a lower one, the top-level folders form no cycle, and the crawler reaches no database code. Pure: it parses
// the sources with the TypeScript compiler and runs none of them. Type-only imports count too: a type is part
// of what a layer depends on, and a type import is how config.ts once closed a cycle.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/**
 * Lowest first: a module may import from its own layer or a lower one, never a higher one. Each entry is a
 * folder or a file directly under src/. `types` holds only ambient declarations for packages.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['errors.ts', 'log.ts', 'types'],
  ['db'],
  ['queue'],
  // The crawler may use the queue's definitions (job-option limits, task error codes), not its database code.
  ['crawler'],
  ['worker'],
  ['report'],
  ['auth'],
  ['jobs'],
  ['api', 'realtime', 'functions'],
  // config.ts gathers every layer's settings and defaults for the commands, so it sits with them.
  ['cli', 'config.ts'],
];
const RANK = new Map(LAYERS.flatMap((units, rank) => units.map((unit) => [unit, rank] as const)));

interface Import {
  from: string;
  to: string;
}

const rel = (file: string) => path.relative(SRC, file).split(path.sep).join('/');
/** The folder or file directly under src/ that a path is in. */
const unitOf = (file: string) => rel(file).split('/')[0]!;

/** Relative module specifiers of a source file: imports, re-exports, import() calls and import('x') types. */
function specifiers(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      if (ts.isStringLiteral(node.moduleSpecifier)) found.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = node.arguments;
      if (arg && ts.isStringLiteralLike(arg)) found.push(arg.text);
    } else if (ts.isImportTypeNode(node)) {
      const arg = node.argument;
      if (ts.isLiteralTypeNode(arg) && ts.isStringLiteral(arg.literal)) found.push(arg.literal.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found.filter((s) => s.startsWith('.'));
}

const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.ts'))
  .map((f) => path.join(SRC, f))
  .sort();
const imports: Import[] = files.flatMap((from) =>
  specifiers(from).map((s) => ({ from, to: path.resolve(path.dirname(from), s) })),
);
const show = (i: Import) => `${rel(i.from)} → ${rel(i.to)}`;

test('the sources are found and every top-level folder has a layer', () => {
  assert.ok(files.length > 50, `only ${files.length} files under ${SRC}`);
  const outside = imports.filter((i) => rel(i.to).startsWith('..')).map(show);
  assert.deepEqual(outside, [], 'src/ imports nothing outside it');
  const unranked = [...new Set(files.map(unitOf))].filter((unit) => !RANK.has(unit));
  assert.deepEqual(unranked, [], 'give each of these a place in LAYERS and in docs/architecture.md');
});

test('no module imports from a higher layer', () => {
  const upward = imports
    .filter((i) => (RANK.get(unitOf(i.to)) ?? -1) > (RANK.get(unitOf(i.from)) ?? -1))
    .map((i) => `${show(i)} (${unitOf(i.from)} is below ${unitOf(i.to)})`);
  assert.deepEqual(upward, []);
});

test('the top-level folders form no cycle', () => {
  // One import that stands for each folder-to-folder edge, to name in the failure.
  const edges = new Map<string, Map<string, Import>>();
  for (const i of imports) {
    const [a, b] = [unitOf(i.from), unitOf(i.to)];
    if (a === b) continue;
    if (!edges.has(a)) edges.set(a, new Map());
    if (!edges.get(a)!.has(b)) edges.get(a)!.set(b, i);
  }
  const cycles: string[] = [];
  const done = new Set<string>();
  const walk = (unit: string, pathSoFar: string[]): void => {
    const at = pathSoFar.indexOf(unit);
    if (at >= 0) {
      const loop = [...pathSoFar.slice(at), unit];
      const via = loop.slice(1).map((to, k) => show(edges.get(loop[k]!)!.get(to)!));
      cycles.push(`${loop.join(' → ')}: ${via.join(', ')}`);
      return;
    }
    if (done.has(unit)) return;
    for (const next of edges.get(unit)?.keys() ?? []) walk(next, [...pathSoFar, unit]);
    done.add(unit);
  };
  for (const unit of [...edges.keys()].sort()) walk(unit, []);
  assert.deepEqual(cycles, []);
});

test('src/crawler reaches no database code, directly or through what it imports', () => {
  const byFile = new Map<string, string[]>();
  for (const i of imports) byFile.set(i.from, [...(byFile.get(i.from) ?? []), i.to]);
  const reached = new Map<string, string>(); // file → the chain of imports that reaches it
  const queue = files.filter((f) => unitOf(f) === 'crawler');
  for (const f of queue) reached.set(f, rel(f));
  while (queue.length > 0) {
    const file = queue.shift()!;
    for (const to of byFile.get(file) ?? []) {
      if (reached.has(to)) continue;
      reached.set(to, `${reached.get(file)} → ${rel(to)}`);
      queue.push(to);
    }
  }
  const database = [...reached].filter(([file]) => unitOf(file) === 'db').map(([, chain]) => chain);
  assert.deepEqual(database, []);
});
