/** Error bars over subsamples and seeds: statistics against direct computation, recommendation rule, reproducibility. */
import { describe, expect, it } from 'vitest';
import { JsBackend } from '../../../src/backends/js/index.js';
import { errorBars } from '../../../src/curvature/errorbars.js';
import { lanczos } from '../../../src/curvature/lanczos.js';
import { freeBatches, hessianOperator, type HostData, uploadBatches } from '../../../src/curvature/model-operators.js';
import { summarize } from '../../../src/curvature/stats.js';
import { randomArray, randomInts } from '../../helpers/backends.js';
import { mlpModel } from './fixture.js';

const b = new JsBackend();

function data(count: number, seed: number): HostData {
  return { inputs: randomArray(count * 6, seed, -2, 2), labels: randomInts(count, seed + 1, 4), count, features: 6 };
}

describe('errorBars', () => {
  it('subsample means: the spread shrinks with size; the full set has none; stats are those of the values', async () => {
    const d = data(64, 3);
    const report = await errorBars({
      data: d,
      sizes: [4, 16, 64],
      repeats: 6,
      threshold: 0.2,
      // A feature mean: its spread over subsamples is known to shrink like √((N − s)/(N s)).
      estimate: async (sub) => Array.from({ length: sub.count }, (_, i) => sub.inputs[i * 6]! + 3).reduce((x, y) => x + y, 0) / sub.count,
    });
    expect(report.rows.map((r) => r.size)).toEqual([4, 16, 64]);
    for (const row of report.rows) {
      const s = summarize(row.values.map((v) => v[0]!));
      expect(row.mean[0]).toBeCloseTo(s.mean, 12);
      expect(row.std[0]).toBeCloseTo(s.std, 12);
      expect(row.min[0]).toBe(s.min);
      expect(row.max[0]).toBe(s.max);
    }
    expect(report.rows[2]!.relativeSpread).toBe(0);
    expect(report.rows[0]!.relativeSpread).toBeGreaterThan(report.rows[1]!.relativeSpread);
    const first = report.rows.find((r) => r.relativeSpread <= 0.2)!;
    expect(report.recommendedSize).toBe(first.size);
  });

  it('top eigenvalues of the Hessian over subsamples and seeds, reproducibly', async () => {
    const model = await mlpModel(b, 'tanh', 2);
    const d = data(48, 5);
    const estimate = async (sub: HostData, seed: number): Promise<number[]> => {
      const batches = uploadBatches(b, sub, 16);
      const op = hessianOperator(model, batches);
      const r = await lanczos(op, { k: 2, seed, tol: 1e-3 });
      op.dispose();
      freeBatches(b, batches);
      return r.eigenvalues;
    };
    const one = await errorBars({ data: d, sizes: [12, 48], repeats: 3, seed: 9, estimate });
    const two = await errorBars({ data: d, sizes: [12, 48], repeats: 3, seed: 9, estimate });
    expect(two.rows.map((r) => r.values)).toEqual(one.rows.map((r) => r.values));
    expect(one.rows[0]!.values[0]!.length).toBe(2);
    // On the full set only the probe seed varies: Lanczos agrees with itself to its tolerance.
    expect(one.rows[1]!.relativeSpread).toBeLessThan(1e-3);
    expect(one.recommendedSize).not.toBeNull();
    await expect(errorBars({ data: d, sizes: [100], estimate })).rejects.toThrow(/subsample size 100 must be an integer in \[1, 48\]/);
  });
});
