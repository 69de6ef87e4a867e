#!/usr/bin/env node
/**
 * `npm run bench`: runs every bench/*.bench.mjs in turn (alphabetical), each in its own process so
 * one benchmark's memory and threads never disturb the next. Exit code: the first failure's.
 * Pass names to run a subset: `node bench/run.mjs cld`.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.mjs'))
  .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)))
  .sort();
let exitCode = 0;
for (const f of files) {
  process.stdout.write(`\n=== ${f} ===\n`);
  const r = spawnSync(process.execPath, [join(here, f)], { stdio: 'inherit' });
  if (r.status !== 0 && exitCode === 0) {
    exitCode = r.status ?? 1;
    process.stdout.write(`${f} failed (exit ${r.status ?? r.signal})\n`);
  }
}
process.exitCode = exitCode;
