/**
 * `riverbed train` and `riverbed demo` end to end through the built CLI (npm test builds first).
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeNpy } from '../../src/io/npy.js';
import { cliTempDir, expectCleanFailure, riverbed, writeBlobs } from '../helpers/cli-run.js';

let dir: string;
beforeAll(() => {
  dir = cliTempDir('train');
  // Three separable blobs in 4-D.
  writeBlobs(dir, { n: 300, features: 4, lift: 3, seed: 1, noise: 0.5 });
  writeFileSync(
    join(dir, 'model.json'),
    JSON.stringify({ format: 'riverbed.model', version: 1, layers: [{ type: 'linear', in: 4, out: 8 }, { type: 'gelu' }, { type: 'linear', in: 8, out: 3 }], loss: 'cross_entropy' }),
  );
});

describe('riverbed train', () => {
  it('trains on .npy data, records trajectories and saves weights that load back', () => {
    const rec = join(dir, 'traj');
    const w = join(dir, 'w.safetensors');
    const r = riverbed('train', '--inputs', join(dir, 'x.npy'), '--labels', join(dir, 'y.npy'), '--model', join(dir, 'model.json'),
      '--epochs', '4', '--batch-size', '16', '--optimizer', 'adam', '--lr', '0.01', '--record', rec, '--save', w, '--backend', 'js', '--json');
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ format: 'riverbed.train', backend: 'js', epochs: 4, samples: { train: 270, val: 30 } });
    expect(s.epochLoss[3]).toBeLessThan(s.epochLoss[0]);
    expect(s.val.accuracy).toBeGreaterThan(0.9);
    const m = JSON.parse(readFileSync(join(rec, 'trajectory.json'), 'utf8'));
    expect(m).toMatchObject({ format: 'riverbed.trajectory', version: 1, checkpoints: [1, 2, 3, 4], train: { samples: 270 }, val: { samples: 30 }, backend: 'js' });
    expect(m.optimizer.name).toBe('adam');
    expect(existsSync(w)).toBe(true);
    // Continue from the saved weights.
    const r2 = riverbed('train', '--inputs', join(dir, 'x.npy'), '--labels', join(dir, 'y.npy'), '--model', join(dir, 'model.json'),
      '--init', w, '--epochs', '1', '--backend', 'js', '--json');
    expect(r2.code, r2.stderr).toBe(0);
    expect(JSON.parse(r2.stdout).epochLoss[0]).toBeLessThan(s.epochLoss[0]);
  });

  it('trains on an MNIST slice and reports test accuracy', () => {
    const r = riverbed('train', '--dataset', 'mnist', '--train-size', '600', '--val-size', '100', '--epochs', '2', '--hidden', '32', '--backend', 'js');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/test\s+accuracy \d+\.\d+ %/);
    expect(r.stdout).toContain('784-32(relu)-10');
  });

  it('rejects bad input with one line, exit 2 and no output', () => {
    const out = join(dir, 'never');
    const w = join(dir, 'never.safetensors');
    const base = ['train', '--inputs', join(dir, 'x.npy'), '--labels', join(dir, 'y.npy'), '--record', out, '--save', w, '--backend', 'js'];
    expectCleanFailure(riverbed(...base, '--model', join(dir, 'nope.json')), 'E_FILE', 'nope.json');
    writeFileSync(join(dir, 'bad.json'), '{"format": "riverbed.model", "version": 1, "layers": [{"type": "linear", "in": 4, "out": 0}]}');
    expectCleanFailure(riverbed(...base, '--model', join(dir, 'bad.json')), 'E_MODEL', 'bad.json', 'layers[0].out');
    writeFileSync(join(dir, 'garbled.json'), '{"format": ');
    expectCleanFailure(riverbed(...base, '--model', join(dir, 'garbled.json')), 'E_FORMAT', 'garbled.json');
    writeFileSync(join(dir, 'wide.json'), JSON.stringify({ format: 'riverbed.model', version: 1, layers: [{ type: 'linear', in: 5, out: 3 }], loss: 'cross_entropy' }));
    expectCleanFailure(riverbed(...base, '--model', join(dir, 'wide.json')), 'E_MODEL', 'takes 5 inputs', '4 features');
    writeFileSync(join(dir, 'trunc.safetensors'), Buffer.from([64, 0, 0, 0, 0, 0, 0, 0, 123]));
    expectCleanFailure(riverbed(...base, '--init', join(dir, 'trunc.safetensors')), 'E_FORMAT', 'trunc.safetensors', 'truncated');
    expectCleanFailure(riverbed(...base, '--init', join(dir, 'missing.safetensors')), 'E_FILE', 'missing.safetensors');
    // Weights of another shape.
    const other = join(dir, 'other.safetensors');
    expect(riverbed('train', '--inputs', join(dir, 'x.npy'), '--labels', join(dir, 'y.npy'), '--hidden', '5', '--epochs', '1', '--save', other, '--backend', 'js').code).toBe(0);
    expectCleanFailure(riverbed(...base, '--model', join(dir, 'model.json'), '--init', other), 'E_MODEL', '0.weight', 'expected [8, 4]');
    expectCleanFailure(riverbed(...base, '--epochs', '0'), 'E_ARG', '--epochs');
    expectCleanFailure(riverbed(...base, '--record', join(dir, 'x.npy')), 'E_FILE', 'not a directory');
    expectCleanFailure(riverbed(...base, '--save', join(dir, 'no', 'such', 'w.safetensors')), 'E_FILE', 'does not exist');
    expectCleanFailure(riverbed(...base, '--optimizer', 'lion'), 'E_ARG', '--optimizer');
    expectCleanFailure(riverbed(...base, '--schedule', 'step'), 'E_ARG', '--schedule');
    expectCleanFailure(riverbed('train', '--backend', 'js'), 'E_ARG', '--dataset mnist');
    expectCleanFailure(riverbed('train', '--dataset', 'cifar', '--backend', 'js'), 'E_ARG', 'cifar');
    writeNpy(join(dir, 'yneg.npy'), Int32Array.from({ length: 300 }, (_, i) => (i === 7 ? -1 : i % 3)), [300]);
    expectCleanFailure(riverbed('train', '--inputs', join(dir, 'x.npy'), '--labels', join(dir, 'yneg.npy'), '--record', out, '--backend', 'js'), 'E_LABEL', 'yneg.npy');
    expect(existsSync(out)).toBe(false);
    expect(existsSync(w)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
  });
});

describe('riverbed demo', () => {
  it('runs the whole story on a small slice and prints both accuracies', () => {
    const out = join(dir, 'demo');
    const r = riverbed('demo', '--backend', 'js', '--train-size', '1000', '--epochs', '3', '--retrain-epochs', '10', '--batch-size', '32', '--hidden', '32', '--record-init', '--out', out, '--json');
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ format: 'riverbed.demo', backend: 'js', samples: { train: 1000, val: 10000, test: 10000, subset: 100 } });
    for (const k of ['full', 'cld', 'random']) expect(s.testAccuracy[k]).toBeGreaterThan(0.3);
    expect(s.cldPerClass.reduce((a: number, b: number) => a + b, 0)).toBe(100);
    const sel = JSON.parse(readFileSync(join(out, 'selection.json'), 'utf8'));
    expect(sel).toMatchObject({ format: 'riverbed.selection', version: 1, method: 'cld', n: 1000 });
    expect(sel.indices).toHaveLength(100);
    expect(sel.datasetIndices).toHaveLength(100);
    expect(Math.max(...sel.indices)).toBeLessThan(1000);
    expect(JSON.parse(readFileSync(join(out, 'trajectory', 'trajectory.json'), 'utf8')).checkpoints).toEqual(['init', 1, 2, 3]);
  });
});
