/** Off a terminal a long command reports in plain lines (RIVERBED_PROGRESS_EVERY), and only then. */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CLI } from './cli.js';
import { cliTempDir, writeBlobs } from '../helpers/cli-run.js';

const dir = cliTempDir('progress');
writeBlobs(dir, { n: 120, features: 6, lift: 1, seed: 3 });
const TRAIN = ['train', '--inputs', 'x.npy', '--labels', 'y.npy', '--hidden', '8', '--epochs', '30', '--batch-size', '8', '--backend', 'js', '--save', 'w.safetensors', '--force'];

function train(every: string | undefined) {
  const env = { ...process.env, FORCE_COLOR: '0' };
  delete env.RIVERBED_PROGRESS_EVERY;
  if (every !== undefined) env.RIVERBED_PROGRESS_EVERY = every;
  return spawnSync(process.execPath, [CLI, ...TRAIN], { cwd: dir, encoding: 'utf8', env, timeout: 120_000 });
}

describe('progress lines on stderr off a terminal', () => {
  it('a run shorter than the default 60 s interval prints none', () => {
    const r = train(undefined);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/^training:/m);
  });
  it('RIVERBED_PROGRESS_EVERY sets the interval: steps done of the total, elapsed, the estimate, then a closing line', () => {
    const r = train('0.000001');
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('training:'));
    expect(lines.length, r.stderr).toBeGreaterThan(3);
    expect(lines[0]).toMatch(/^training: \d+\/\d+ \(\d+ %\), [\d.]+ s elapsed, about [\d.]+ s left — epoch \d+\/30/);
    expect(lines.at(-1)).toMatch(/^training: finished in [\d.]+ s$/);
  });
});
