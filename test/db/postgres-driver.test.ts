// The patched driver loads only when every fix applies exactly once, so an upgraded postgres.js is looked at
// again instead of running with the fixes silently missing.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import { applyPatches } from '../../src/db/postgres-driver.ts';
import { DRIVER_PATCHES } from '../../src/db/postgres-patches.ts';

const driverDir = path.dirname(createRequire(import.meta.url).resolve('postgres'));
const source = (file: string) => readFileSync(path.join(driverDir, file), 'utf8');

test('every fix applies to the installed driver', () => {
  for (const file of ['connection.js', 'index.js']) {
    const patched = applyPatches(source(file), file, DRIVER_PATCHES);
    for (const patch of DRIVER_PATCHES.filter((p) => p.file === file))
      assert.ok(patched.includes(patch.replace));
  }
});

test('a driver where a fix does not apply, or applies twice, is refused', () => {
  const [first] = DRIVER_PATCHES;
  assert.ok(first);
  assert.throws(() => applyPatches('module.exports = 1', first.file, [first]), /no longer applies/);
  assert.throws(() => applyPatches(first.find + first.find, first.file, [first]), /no longer applies/);
});
