// Whether DIR/node_modules holds exactly what DIR/package-lock.json pins.
//
//   node check_install.mjs DIR
//
// Exits 0 when every locked package is installed at its locked version, 1
// (naming the first difference) when node_modules is missing or stale. Used
// by setup.sh (to decide whether to run `npm ci`) and by run_node_test.sh
// (to fail with a clear message instead of testing the wrong library).

import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const dir = resolve(process.argv[2] ?? '.');

function readJson(path) {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    return undefined;
  }
}

const lock = readJson(join(dir, 'package-lock.json'));
if (lock?.packages === undefined) {
  console.error(`${join(dir, 'package-lock.json')}: missing or not a lockfile v2/v3`);
  process.exit(1);
}

for (const [path, entry] of Object.entries(lock.packages)) {
  if (path === '' || entry.link) {
    continue;
  }
  const installed = readJson(join(dir, path, 'package.json'));
  if (installed === undefined) {
    if (entry.optional) {
      continue; // an optional package for another platform
    }
    console.error(`${join(dir, path)} is missing`);
    process.exit(1);
  }
  if (installed.version !== entry.version) {
    console.error(`${join(dir, path)} is ${installed.version}, the lock says ${entry.version}`);
    process.exit(1);
  }
}
