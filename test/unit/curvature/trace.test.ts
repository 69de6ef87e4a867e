/**
 * Hutchinson and Hutch++ against the dense trace of a model Hessian (fixed seeds), exactness of
 * Hutch++ on low-rank matrices, and Student-t quantiles against tabulated values.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { JsBackend } from '../../../src/backends/js/index.js';
import { denseOperator } from '../../../src/curvature/operator.js';
import { studentTQuantile } from '../../../src/curvature/stats.js';
import { hutchinson, hutchPlusPlus } from '../../../src/curvature/trace.js';
import { rng } from '../../helpers/backends.js';
import { matrixWithSpectrum } from '../../helpers/dense.js';
import { type CurvatureFixture, mlpHessian } from './fixture.js';

const b = new JsBackend();

describe('trace estimators', () => {
  let f: CurvatureFixture;
  beforeAll(async () => {
    f = await mlpHessian(b, 'relu', 13);
  });

  it('Hutchinson: the dense trace lies in the 95% interval; the spread matches the exact variance', async () => {
    const t = await hutchinson(f.op, { probes: 60, seed: 1 });
    expect(t.matvecs).toBe(60);
    expect(t.interval[0]).toBeLessThanOrEqual(f.trace);
    expect(t.interval[1]).toBeGreaterThanOrEqual(f.trace);
    // Var(zᵀAz) = 2(‖A‖_F² − Σ A_ii²) for Rademacher z.
    const n = f.op.size;
    let fro = 0;
    let diag = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) (i === j ? (diag += f.dense[i * n + j]! ** 2) : (fro += f.dense[i * n + j]! ** 2));
    const sd = Math.sqrt(2 * fro);
    expect(t.stderr * Math.sqrt(60)).toBeGreaterThan(0.6 * sd);
    expect(t.stderr * Math.sqrt(60)).toBeLessThan(1.5 * sd);
  });

  it('Hutch++: the dense trace lies in its interval, which is narrower than Hutchinson\'s at the same budget', async () => {
    const h = await hutchPlusPlus(f.op, { matvecs: 60, seed: 2 });
    const t = await hutchinson(f.op, { probes: 60, seed: 2 });
    expect(h.matvecs).toBe(60);
    expect(h.interval[0]).toBeLessThanOrEqual(f.trace);
    expect(h.interval[1]).toBeGreaterThanOrEqual(f.trace);
    expect(h.lowRank!.rank).toBe(20);
    expect(h.interval[1] - h.interval[0]).toBeLessThan(t.interval[1] - t.interval[0]);
  });

  it('Hutch++ is exact on a matrix whose rank is below the sketch size', async () => {
    const spectrum = [5, -3, 2, 1, 0.5, ...new Array(45).fill(0)];
    const op = denseOperator(b, matrixWithSpectrum(spectrum, rng(8)), 50);
    const h = await hutchPlusPlus(op, { matvecs: 30, seed: 3 });
    expect(h.estimate).toBeCloseTo(5.5, 4);
    expect(h.interval[1] - h.interval[0]).toBeLessThan(1e-3);
  });

  it('seeds reproduce results; bad arguments are refused', async () => {
    const a = await hutchinson(f.op, { probes: 5, seed: 9 });
    const c = await hutchinson(f.op, { probes: 5, seed: 9 });
    expect(c.samples).toEqual(a.samples);
    await expect(hutchinson(f.op, { probes: 1 })).rejects.toThrow(/probes must be an integer ≥ 2/);
    await expect(hutchPlusPlus(f.op, { matvecs: 5 })).rejects.toThrow(/matvecs must be an integer ≥ 6/);
    await expect(hutchinson(f.op, { confidence: 1 })).rejects.toThrow(/confidence must be in \(0, 1\)/);
  });

  it('Student t quantiles match the tables', () => {
    expect(studentTQuantile(0.975, 1)).toBeCloseTo(12.706, 3);
    expect(studentTQuantile(0.975, 4)).toBeCloseTo(2.776, 3);
    expect(studentTQuantile(0.975, 30)).toBeCloseTo(2.042, 3);
    expect(studentTQuantile(0.995, 10)).toBeCloseTo(3.169, 3);
    expect(studentTQuantile(0.975, 1e6)).toBeCloseTo(1.96, 3);
    expect(studentTQuantile(0.025, 4)).toBeCloseTo(-2.776, 3);
  });
});
