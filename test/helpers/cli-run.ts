/**
 * The e2e tests' way to run the built CLI (test/e2e/cli.ts names it) and check what it did: a
 * run waited for or awaited, the one-line refusal, a temp directory once the CLI is known to be
 * built, and the small three-class .npy data set the training tests learn.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { writeNpy } from '../../src/io/npy.js';
import { Rng } from '../../src/model/rng.js';
import { CLI, requireBuiltCli } from '../e2e/cli.js';

export interface CliRun {
  /** The exit status; -1 when the process was killed (timeout) or never ran. */
  code: number;
  stdout: string;
  stderr: string;
}

const options = (cwd: string | undefined) => ({ cwd, encoding: 'utf8' as const, timeout: 300_000, maxBuffer: 64 * 2 ** 20, env: { ...process.env, FORCE_COLOR: '0' } });

/** `riverbed ...args` in cwd (default: the test's), waited for: for runs of seconds. */
export function riverbedIn(cwd: string | undefined, ...args: string[]): CliRun {
  const r = spawnSync(process.execPath, [CLI, ...args], options(cwd));
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export const riverbed = (...args: string[]): CliRun => riverbedIn(undefined, ...args);

/** The same, awaited: the worker's event loop stays free while a run takes a minute (vitest's RPC times out otherwise). */
export function riverbedAsyncIn(cwd: string | undefined, ...args: string[]): Promise<CliRun> {
  return new Promise((done) => {
    execFile(process.execPath, [CLI, ...args], options(cwd), (err, stdout, stderr) => {
      done({ code: err ? (((err as { code?: unknown }).code as number) ?? -1) : 0, stdout, stderr });
    });
  });
}

export const riverbedAsync = (...args: string[]): Promise<CliRun> => riverbedAsyncIn(undefined, ...args);

/** A refusal: exit 2 and one stderr line carrying the error code and every part. */
export function expectCleanFailure(r: { code: number; stderr: string }, code: string, ...parts: string[]): void {
  expect(r.code, r.stderr).toBe(2);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toContain(`[${code}]`);
  for (const p of parts) expect(lines[0]).toContain(p);
}

/** A new temp directory riverbed-e2e-<tag>-…, after checking the CLI is built. */
export function cliTempDir(tag: string): string {
  requireBuiltCli();
  return mkdtempSync(join(tmpdir(), `riverbed-e2e-${tag}-`));
}

/**
 * dir/x.npy (f32 [n, features]) and dir/y.npy (i8 [n]): three blobs — row i is of class i mod 3,
 * its feature j lifted by `lift` where j is the class, plus uniform noise on [−noise, noise) from Rng(seed).
 */
export function writeBlobs(dir: string, o: { n: number; features: number; lift: number; seed: number; noise?: number }): void {
  const { n, features, lift, seed, noise = 1 } = o;
  const r = new Rng(seed);
  const x = new Float32Array(n * features);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 3;
    for (let j = 0; j < features; j++) x[i * features + j] = (j === y[i] ? lift : 0) + r.uniform(-noise, noise);
  }
  writeNpy(join(dir, 'x.npy'), x, [n, features]);
  writeNpy(join(dir, 'y.npy'), y, [n], { dtype: 'i8' });
}
