/**
 * Reading a recorded run (`train --record DIR`): metrics a recording cannot hold — NaN/±Inf in a
 * float metric, a negative error norm, a correctness other than 0/1 — are refused, naming the file
 * and the first bad element (row and column), instead of ranking samples plausibly and wrongly.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { selectFromRecordedRun } from '../../../src/coreset/methods.js';
import { datasetRows, loadRecordedRun, positionsOfRows } from '../../../src/coreset/recorded.js';
import { writeNpy } from '../../../src/io/npy.js';
import { TrajectoryRecorder } from '../../../src/train/recorder.js';

const root = mkdtempSync(join(tmpdir(), 'riverbed-recorded-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A run of 3 checkpoints over 5 train / 2 val samples, written by the real recorder. */
function recordRun(name: string): string {
  const dir = join(root, name);
  const rec = new TrajectoryRecorder({ labels: Int32Array.from([0, 1, 0, 1, 1]), indices: Int32Array.from([6, 0, 2, 5, 3]) }, { labels: Int32Array.from([1, 0]), indices: Int32Array.from([1, 4]) });
  const m = (n: number, e: number) => ({
    loss: Float32Array.from({ length: n }, (_, i) => 1 / (e + i + 1)),
    correct: Uint8Array.from({ length: n }, (_, i) => (i + e) % 2),
    margin: Float32Array.from({ length: n }, (_, i) => i - e),
    errorNorm: Float32Array.from({ length: n }, (_, i) => 0.1 * i),
  });
  for (const e of ['init', 1, 2] as const) rec.record(e, m(5, e === 'init' ? 0 : e), m(2, e === 'init' ? 0 : e));
  rec.write(dir);
  return dir;
}

describe('loadRecordedRun refuses metric values a recording cannot hold', () => {
  const all = { train: ['loss', 'correct', 'margin', 'errorNorm'] as const, val: ['loss'] as const };
  it('reads a clean run', async () => {
    const run = await loadRecordedRun(recordRun('clean'), all);
    expect(Array.from(run.train.margin!.subarray(5, 10))).toEqual([-1, 0, 1, 2, 3]);
  });
  const cases: [string, string, () => Float32Array | Uint8Array, RegExp][] = [
    ['NaN margin', 'train_margin.npy', () => Float32Array.from({ length: 15 }, (_, i) => (i === 7 ? NaN : i)), /train_margin\.npy: margin must be finite, found NaN at \[1, 2\] \(checkpoint row 1, sample column 2\)/],
    ['+Inf error norm', 'train_error_norm.npy', () => Float32Array.from({ length: 15 }, (_, i) => (i >= 13 ? Infinity : 0.5)), /train_error_norm\.npy: errorNorm must be finite, found Infinity at \[2, 3\]/],
    ['negative error norm', 'train_error_norm.npy', () => Float32Array.from({ length: 15 }, (_, i) => (i === 4 ? -0.25 : 0.5)), /errorNorm cannot be negative, found -0\.25 at \[0, 4\]/],
    ['-Inf train loss', 'train_loss.npy', () => Float32Array.from({ length: 15 }, (_, i) => (i === 0 ? -Infinity : 1)), /train_loss\.npy: loss must be finite, found -Infinity at \[0, 0\]/],
    ['NaN val loss', 'val_loss.npy', () => Float32Array.from({ length: 6 }, (_, i) => (i === 5 ? NaN : 1)), /val_loss\.npy: loss must be finite, found NaN at \[2, 1\]/],
    ['correctness 2', 'train_correct.npy', () => Uint8Array.from({ length: 15 }, (_, i) => (i === 9 ? 2 : 1)), /train_correct\.npy: correctness must be 0 or 1, found 2 at \[1, 4\]/],
  ];
  for (const [what, file, data, want] of cases) {
    it(what, async () => {
      const dir = recordRun(what.replaceAll(' ', '-'));
      const a = data();
      writeNpy(join(dir, file), a, [3, a.length / 3]);
      await expect(loadRecordedRun(dir, all)).rejects.toThrow(want);
      await expect(loadRecordedRun(dir, all)).rejects.toMatchObject({ code: 'E_VALUE' });
    });
  }
});

describe('columns and dataset rows (train_indices.npy)', () => {
  // the recorder above: columns 0..4 are dataset rows 6, 0, 2, 5, 3; rows 1 and 4 are validation samples
  it('loadRecordedRun reads the row of every column; selections carry both', async () => {
    const dir = recordRun('rows');
    const run = await loadRecordedRun(dir);
    expect(Array.from(run.train.indices!)).toEqual([6, 0, 2, 5, 3]);
    expect(Array.from(datasetRows(run.train, Int32Array.from([4, 0])))).toEqual([3, 6]);
    expect(positionsOfRows(run.train, [5, 1, 6, 99])).toEqual({ positions: Int32Array.from([3, 0]), outside: 2 });
    // AUM over epochs 1, 2: margins i − e, so per class the lowest is the lowest column
    const sel = await selectFromRecordedRun('aum', dir, { perClass: 1 });
    expect(Array.from(sel.indices)).toEqual([0, 1]); // columns: class 0 → column 0, class 1 → column 1
    expect(Array.from(sel.datasetIndices!)).toEqual([6, 0]); // the dataset rows of those columns
  });
  it('a run without the map keeps columns as rows', async () => {
    const split = { samples: 3, labels: Int32Array.from([0, 1, 0]) };
    expect(Array.from(datasetRows(split, Int32Array.from([2])))).toEqual([2]);
    expect(positionsOfRows(split, [1, 7]).outside).toBe(0); // range-checked with the budget instead
  });
  it('refuses a map with a row twice or of the wrong length, and takes rows beyond label range', async () => {
    const dir = recordRun('rows-bad');
    writeNpy(join(dir, 'train_indices.npy'), BigInt64Array.from([6n, 0n, 2n, 6n, 3n]), [5], { dtype: 'i8' });
    await expect(loadRecordedRun(dir)).rejects.toThrow(/train_indices\.npy: dataset row 6 is given for columns 0 and 3/);
    writeNpy(join(dir, 'train_indices.npy'), BigInt64Array.from([6n, 0n]), [2], { dtype: 'i8' });
    await expect(loadRecordedRun(dir)).rejects.toThrow(/2 indices for 5 train samples/);
    writeNpy(join(dir, 'train_indices.npy'), BigInt64Array.from([3_000_000_000n, 0n, 1n, 2n, 3n]), [5], { dtype: 'i8' });
    await expect(loadRecordedRun(dir)).rejects.toThrow(/train indices\[0\] is 3000000000; indices must be integers in 0\.\.2147483647/);
    writeNpy(join(dir, 'train_indices.npy'), BigInt64Array.from([2_147_483_647n, 1_048_576n, 1n, 2n, 3n]), [5], { dtype: 'i8' });
    expect(Array.from((await loadRecordedRun(dir)).train.indices!)).toEqual([2_147_483_647, 1_048_576, 1, 2, 3]);
  });
});
