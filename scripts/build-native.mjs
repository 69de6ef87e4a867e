#!/usr/bin/env node
/**
 * Builds the C++ addon (build/Release/riverbed_native.node) with node-gyp; package.json's
 * `install` script. A failed build never fails `npm install`: it prints one line saying that
 * the native backend is unavailable and why, and exits 0 (the js and webgpu backends still work).
 *
 * node-gyp is found, in order: npm's own (`npm_config_node_gyp`, set when npm runs this), the
 * copy bundled with the npm next to this node, a local `node-gyp` package, `node-gyp` on PATH.
 * Headers come from `npm_config_nodedir` when npm sets it, else from this node's own prefix
 * when it ships include/node (Debian's nodejs does), so no download is needed.
 * RIVERBED_SKIP_NATIVE=1 skips the build.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function unavailable(why) {
  const line = String(why).replace(/\s+/g, ' ').trim().slice(0, 400);
  console.log(`riverbed: native backend unavailable (${line}); the js and webgpu backends still work`);
  process.exit(0);
}

function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  candidates.push(path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  candidates.push(path.join(path.dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  try {
    candidates.push(createRequire(path.join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    /* not installed locally */
  }
  for (const c of candidates) if (c && existsSync(c)) return { cmd: process.execPath, args: [c] };
  return { cmd: 'node-gyp', args: [] };
}

if (process.env.RIVERBED_SKIP_NATIVE === '1') unavailable('RIVERBED_SKIP_NATIVE=1');

const gyp = findNodeGyp();
const args = [...gyp.args, 'rebuild', `--jobs=${Math.max(1, Math.min(2, os.availableParallelism?.() ?? os.cpus().length))}`];
if (!process.env.npm_config_nodedir) {
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
}

const res = spawnSync(gyp.cmd, args, { cwd: root, encoding: 'utf8', env: process.env, maxBuffer: 64 << 20 });
if (res.error) unavailable(`could not run node-gyp: ${res.error.message}`);
if (res.status !== 0) {
  const lines = `${res.stderr ?? ''}\n${res.stdout ?? ''}`.split('\n').map((l) => l.trim()).filter(Boolean);
  const noise = /^gyp ERR! (stack|System|command|cwd|node -v|node-gyp -v|not ok)/;
  const err =
    lines.find((l) => /\berror:/.test(l)) ?? // the compiler's or linker's own message
    lines.find((l) => /^gyp ERR!/.test(l) && !noise.test(l)) ??
    lines.find((l) => /error/i.test(l));
  unavailable(`node-gyp rebuild failed: ${err ?? lines.at(-1) ?? `exit ${res.status}`}`);
}
if (!existsSync(path.join(root, 'build', 'Release', 'riverbed_native.node'))) unavailable('node-gyp succeeded but build/Release/riverbed_native.node is missing');
console.log('riverbed: native addon built (build/Release/riverbed_native.node)');
