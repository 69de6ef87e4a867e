/**
 * Running a docs page's examples as written: its ```sh blocks, in order, as one `set -euo pipefail`
 * bash script in a directory of the test's, where `riverbed` is the built CLI.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, ROOT } from '../e2e/cli.js';

/** A bash function that makes `riverbed` the built CLI (prefix a script with it). */
export const RIVERBED_SH = `riverbed() { ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"; }\n`;

/** docs/<page>: its text and its ```sh blocks' bodies, in order. */
export function docsBlocks(page: string): { md: string; blocks: string[] } {
  const md = readFileSync(join(ROOT, 'docs', page), 'utf8');
  return { md, blocks: [...md.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!) };
}

/** Makes `riverbed` resolve by its name in dir (as after npm install), for examples that import it. */
export function linkPackage(dir: string): void {
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(ROOT, join(dir, 'node_modules', 'riverbed'), 'dir');
}

/** The blocks as one script in cwd (synchronously: for runs well under vitest's RPC timeout). */
export function runShBlocks(blocks: string[], cwd: string, timeout: number): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('bash', ['-c', `set -euo pipefail\n${RIVERBED_SH}${blocks.join('\n')}`], { cwd, encoding: 'utf8', timeout, env: { ...process.env, FORCE_COLOR: '0' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
