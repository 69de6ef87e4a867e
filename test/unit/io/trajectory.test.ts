import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeNpy } from '../../../src/io/npy.js';
import { labelsToInt32, loadLabels, loadTrajectory, naturalCompare } from '../../../src/io/trajectory.js';

const dir = mkdtempSync(join(tmpdir(), 'riverbed-traj-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('trajectories', () => {
  it('natural sort of file names', () => {
    expect(['e10.npy', 'e2.npy', 'e1.npy', 'e02.npy'].sort(naturalCompare)).toEqual(['e1.npy', 'e2.npy', 'e02.npy', 'e10.npy']);
  });
  it('a directory of per-epoch files equals the stacked 2-D file', async () => {
    const d = join(dir, 'epochs');
    mkdirSync(d);
    const E = 11;
    const N = 5;
    const stacked = new Float32Array(E * N);
    for (let e = E - 1; e >= 0; e--) {
      const row = new Float32Array(N).map((_, i) => e * 10 + i);
      stacked.set(row, e * N);
      writeNpy(join(d, `epoch_${e}.npy`), row);
    }
    writeNpy(join(d, 'notes.txt.bak'), new Float32Array(1)); // not .npy: ignored
    const t = await loadTrajectory(d);
    expect([t.epochs, t.samples]).toEqual([E, N]);
    expect(t.data).toBeInstanceOf(Float32Array);
    expect(Array.from(t.data)).toEqual(Array.from(stacked));
    // one float64 epoch widens the whole trajectory
    writeNpy(join(d, 'epoch_11.npy'), new Float64Array(N).fill(0.1));
    const w = await loadTrajectory(d);
    expect(w.data).toBeInstanceOf(Float64Array);
    expect(w.data[11 * N]).toBe(0.1);
  });
  it('rejects epochs of different lengths, 2-D epoch files, integer losses, empty directories', async () => {
    const d = join(dir, 'ragged');
    mkdirSync(d);
    writeNpy(join(d, 'e0.npy'), new Float32Array(4));
    writeNpy(join(d, 'e1.npy'), new Float32Array(3));
    await expect(loadTrajectory(d)).rejects.toMatchObject({ code: 'E_SHAPE', message: expect.stringContaining('e1.npy') });
    writeNpy(join(d, 'e1.npy'), new Float32Array(4), [2, 2]);
    await expect(loadTrajectory(d)).rejects.toMatchObject({ code: 'E_SHAPE' });
    writeNpy(join(d, 'e1.npy'), new Int32Array(4));
    await expect(loadTrajectory(d)).rejects.toMatchObject({ code: 'E_DTYPE', message: expect.stringContaining('int32') });
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    await expect(loadTrajectory(empty)).rejects.toMatchObject({ code: 'E_FILE' });
    const one = join(dir, 'one.npy');
    writeNpy(one, new Float32Array(4));
    await expect(loadTrajectory(one)).rejects.toMatchObject({ code: 'E_SHAPE', message: expect.stringContaining('2-D') });
  });
});

describe('labels', () => {
  it('every integer dtype, and integral floats', async () => {
    const p = join(dir, 'y8.npy');
    writeNpy(p, new BigInt64Array([0n, 3n, 2n]));
    expect(Array.from(await loadLabels(p))).toEqual([0, 3, 2]);
    const q = join(dir, 'yf.npy');
    writeNpy(q, new Float64Array([1, 0, 4]));
    expect(Array.from(await loadLabels(q))).toEqual([1, 0, 4]);
    expect(Array.from(labelsToInt32({ dtype: 'u1', shape: [2], data: new Uint8Array([7, 1]), mapped: false }, 'x'))).toEqual([7, 1]);
  });
  it('negative, non-integer, too large, 2-D', async () => {
    const cases: [string, Float64Array | BigInt64Array | Int32Array, string][] = [
      ['neg8.npy', new BigInt64Array([0n, -1n]), '[1] is -1'],
      ['neg4.npy', new Int32Array([0, 1, -5]), '[2] is -5'],
      ['frac.npy', new Float64Array([0, 1.5]), '1.5 (not an integer)'],
      ['big.npy', new BigInt64Array([2n ** 40n]), '1099511627776'],
      ['nan.npy', new Float64Array([NaN]), 'not an integer'],
    ];
    for (const [name, data, msg] of cases) {
      const p = join(dir, name);
      writeNpy(p, data);
      await expect(loadLabels(p, 'train labels')).rejects.toMatchObject({ code: 'E_LABEL', message: expect.stringContaining(msg) });
    }
    const p = join(dir, 'y2d.npy');
    writeNpy(p, new Int32Array(4), [2, 2]);
    await expect(loadLabels(p)).rejects.toMatchObject({ code: 'E_SHAPE' });
  });
});
