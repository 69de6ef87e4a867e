/**
 * The README's examples must run as written: record a small MNIST trajectory with the CLI,
 * then run examples/cld-coreset.mjs (which imports the package by its own name) on it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, requireBuiltCli, runCli } from './cli.js';

describe('README examples', () => {
  const dir = mkdtempSync(join(tmpdir(), 'riverbed-example-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('train --record, then the CLD API example, select 10 % per class', () => {
    requireBuiltCli();
    const run = join(dir, 'mnist');
    const trained = runCli(['train', '--dataset', 'mnist', '--epochs', '3', '--train-size', '2000', '--val-size', '1000', '--record', run], dir);
    expect(trained.status, trained.stderr).toBe(0);

    const r = spawnSync(process.execPath, [join(ROOT, 'examples', 'cld-coreset.mjs'), run], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/selected 200 of 2000 samples/);
    const perClass = /per class: ([\d ]+)/.exec(r.stdout)![1]!.trim().split(' ').map(Number);
    expect(perClass).toHaveLength(10);
    expect(perClass.reduce((a, b) => a + b, 0)).toBe(200);
  });
});
