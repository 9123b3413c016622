// The postgres.js every pool in this project is made with: the installed package with the fixes in
// postgres-patches.ts applied as it loads. The patched modules are its CommonJS build's connection.js and
// index.js, compiled from patched source with vm.compileFunction; everything else (query.js, types.js, ...)
// is the package's own module, required normally, so the classes and symbols are the package's.
//
// Import `postgres` from here, never from 'postgres' (that is the unpatched ESM build).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';
import type Postgres from 'postgres';
import { DRIVER_PATCHES, type DriverPatch } from './postgres-patches.ts';

type Exports = Record<string, unknown> | ((...args: never[]) => unknown);

export function applyPatches(source: string, file: string, patches: DriverPatch[]): string {
  let out = source;
  for (const patch of patches.filter((p) => p.file === file)) {
    const at = out.indexOf(patch.find);
    if (at === -1 || out.indexOf(patch.find, at + 1) !== -1) {
      throw new Error(
        `postgres.js ${file}: a fix in src/db/postgres-patches.ts no longer applies (${patch.why.slice(0, 80)}…). ` +
          'The installed postgres is not the release it was written for: check whether the new one still has ' +
          'the bug, then update or drop the patch.',
      );
    }
    out = out.slice(0, at) + patch.replace + out.slice(at + patch.find.length);
  }
  return out;
}

function compileCommonJs(file: string, source: string, requireFor: (id: string) => unknown): Exports {
  const module = { exports: {} as Exports };
  const wrapper = vm.compileFunction(source, ['exports', 'require', 'module', '__filename', '__dirname'], {
    filename: file,
  });
  wrapper(module.exports, requireFor, module, file, path.dirname(file));
  return module.exports;
}

function loadPatchedDriver(): typeof Postgres {
  const requireHere = createRequire(import.meta.url);
  const indexFile = requireHere.resolve('postgres'); // the "default" (CommonJS) export: …/cjs/src/index.js
  const dir = path.dirname(indexFile);
  const requireInDir = createRequire(indexFile);
  const read = (name: string) =>
    applyPatches(readFileSync(path.join(dir, name), 'utf8'), name, DRIVER_PATCHES);
  const connection = compileCommonJs(path.join(dir, 'connection.js'), read('connection.js'), requireInDir);
  const index = compileCommonJs(indexFile, read('index.js'), (id) =>
    id === './connection.js' ? connection : requireInDir(id),
  );
  return index as unknown as typeof Postgres;
}

export const postgres: typeof Postgres = loadPatchedDriver();
