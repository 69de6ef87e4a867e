/**
 * Running a docs page's examples as written: its ```sh blocks, in order, as one `set -euo pipefail`
 * bash script in a directory of the test's, where `riverbed` is the built CLI.
 */
import { execFile, spawnSync } from 'node:child_process';
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

export interface ShRun {
  /** The exit status; null when killed (timeout). */
  status: number | null;
  stdout: string;
  stderr: string;
}

const script = (blocks: string[]) => `set -euo pipefail\n${RIVERBED_SH}${blocks.join('\n')}`;
const env = () => ({ ...process.env, FORCE_COLOR: '0' });

/** The blocks as one script in cwd (synchronously: for runs well under vitest's RPC timeout). */
export function runShBlocks(blocks: string[], cwd: string, timeout: number): ShRun {
  const r = spawnSync('bash', ['-c', script(blocks)], { cwd, encoding: 'utf8', timeout, env: env() });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The same, awaited: a run of minutes would starve vitest's worker RPC if waited for. */
export function runShBlocksAsync(blocks: string[], cwd: string, timeout: number): Promise<ShRun> {
  return new Promise((done) => {
    execFile('bash', ['-c', script(blocks)], { cwd, encoding: 'utf8', timeout, maxBuffer: 64 * 2 ** 20, env: env() }, (err, stdout, stderr) => {
      const code = (err as { code?: unknown } | null)?.code;
      done({ status: err ? (typeof code === 'number' ? code : null) : 0, stdout, stderr });
    });
  });
}
