/**
 * Lanczos against a dense Jacobi eigen-decomposition of the same operator (built column by column
 * from HVPs, float64). Tolerances on js (f32 tensors, float64 accumulation): top eigenvalues within
 * 1e-4 relative; bottom ones within 1e-4 · max(|λ|, 1e-2·‖H‖) (the documented floor).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { JsBackend } from '../../../src/backends/js/index.js';
import { lanczos, llaCriterion } from '../../../src/curvature/lanczos.js';
import { ggnOperator } from '../../../src/curvature/model-operators.js';
import { countingOperator, denseOperator } from '../../../src/curvature/operator.js';
import { powerIteration } from '../../../src/curvature/power.js';
import { rng } from '../../helpers/backends.js';
import { jacobiEigen, matrixWithSpectrum } from '../../helpers/dense.js';
import { type CurvatureFixture, denseMatrix, mlpHessian, mlpModel } from './fixture.js';

const b = new JsBackend();

function expectRelative(actual: number[], expected: number[], tol: number, floorAbs = 0): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => {
    const e = expected[i]!;
    expect(Math.abs(a - e), `eigenvalue ${i}: ${a} vs ${e}`).toBeLessThanOrEqual(tol * Math.max(Math.abs(e), floorAbs));
  });
}

for (const act of ['tanh', 'relu'] as const) {
  describe(`Lanczos on the Hessian of a 6-12-12-4 ${act} MLP (292 parameters)`, () => {
    let f: CurvatureFixture;
    let desc: number[];
    let norm: number;
    beforeAll(async () => {
      f = await mlpHessian(b, act);
      desc = Array.from(f.eigenvalues).reverse();
      norm = Math.max(Math.abs(desc[0]!), Math.abs(desc.at(-1)!));
    });

    it('top-5 within 1e-4 relative, residuals as reported, with a third of the HVPs of PyHessian-style power iteration', async () => {
      const before = f.op.products;
      const r = await lanczos(f.op, { k: 5, seed: 1 });
      expect(r.converged).toBe(true);
      expect(f.op.products - before).toBe(r.matvecs);
      expectRelative(r.eigenvalues, desc.slice(0, 5), 1e-4);
      // Exact residuals agree with the β·|s_last| estimates the stopping rule used.
      const e = await lanczos(f.op, { k: 5, seed: 1, residuals: 'exact' });
      expect(e.matvecs).toBe(r.matvecs + 5);
      e.residuals.forEach((res, i) => expect(Math.abs(res - r.residuals[i]!)).toBeLessThanOrEqual(1e-3 * r.residuals[i]! + 1e-5 * norm));
      // Each eigenvalue is inside its residual bound |λ − θ| ≤ r.
      r.eigenvalues.forEach((v, i) => expect(Math.abs(v - desc[i]!)).toBeLessThanOrEqual(r.residuals[i]! + 1e-6 * norm));
      const counted = countingOperator(f.op);
      const p = await powerIteration(counted, { k: 5, seed: 1 });
      expect(counted.count).toBe(p.matvecs);
      expect(r.matvecs * 3, `Lanczos ${r.matvecs} HVPs vs power ${p.matvecs}`).toBeLessThanOrEqual(p.matvecs);
    });

    it('bottom-5 and both ends; the LLA ratio', async () => {
      const s = await lanczos(f.op, { k: 5, which: 'smallest', seed: 2 });
      expect(s.converged).toBe(true);
      expectRelative(s.eigenvalues, desc.slice(-5), 1e-4, 1e-2 * norm);
      const both = await lanczos(f.op, { k: 3, which: 'both', seed: 3 });
      expectRelative(both.eigenvalues, [...desc.slice(0, 3), ...desc.slice(-3)], 1e-4, 1e-2 * norm);
      const lla = await llaCriterion(f.op, { seed: 4 });
      expect(lla.ratio).toBeCloseTo(desc.at(-1)! / desc[0]!, 4);
      expect(lla.converged).toBe(true);
    });

    it('Ritz vectors are unit eigenvectors (checked on the dense matrix) and results are reproducible', async () => {
      const r = await lanczos(f.op, { k: 2, seed: 5, vectors: true });
      const n = f.op.size;
      r.vectors!.forEach((x, k) => {
        let nn = 0;
        let res = 0;
        for (let i = 0; i < n; i++) {
          nn += x[i]! * x[i]!;
          let ax = 0;
          for (let j = 0; j < n; j++) ax += f.dense[i * n + j]! * x[j]!;
          res += (ax - r.eigenvalues[k]! * x[i]!) ** 2;
        }
        expect(Math.sqrt(nn)).toBeCloseTo(1, 5);
        expect(Math.sqrt(res)).toBeLessThanOrEqual(r.residuals[k]! * 1.01 + 1e-5 * norm);
      });
      const again = await lanczos(f.op, { k: 2, seed: 5 });
      expect(again.eigenvalues).toEqual(r.eigenvalues);
      expect(again.matvecs).toBe(r.matvecs);
    });
  });
}

describe('Lanczos on other operators', () => {
  it('per-layer block: the top eigenvalue of layer "2"\'s block of the Hessian', async () => {
    const f = await mlpHessian(b, 'gelu', 9, '2');
    expect(f.op.size).toBe(12 * 12 + 12);
    expect(f.op.name).toBe('hessian[layer 2]');
    const r = await lanczos(f.op, { k: 3 });
    expectRelative(r.eigenvalues, Array.from(f.eigenvalues).reverse().slice(0, 3), 1e-4);
  });

  it('GGN: PSD, matches its dense matrix; low rank exercises the invariant-subspace restart', async () => {
    const model = await mlpModel(b, 'tanh', 7);
    const batch = { x: b.upload(new Float32Array(3 * 6).map((_, i) => Math.sin(i)), [3, 6]), labels: b.uploadInt(Int32Array.of(0, 1, 2), [3]) };
    const op = ggnOperator(model, batch);
    const dense = await denseMatrix(b, op.size, (v) => op.matvec(v));
    const truth = Array.from(jacobiEigen(dense, op.size).values).reverse();
    // Rank ≤ 3 samples × (4 − 1) classes = 9: asking for 12 forces Krylov exhaustion.
    const r = await lanczos(op, { k: 12, seed: 1 });
    expect(r.converged).toBe(true);
    expect(r.breakdowns).toBeGreaterThan(0);
    expectRelative(r.eigenvalues, truth.slice(0, 12), 1e-4, 1e-2 * truth[0]!);
    expect(Math.min(...r.eigenvalues)).toBeGreaterThanOrEqual(-1e-5 * truth[0]!);
  });

  it('thick restarts reach k = 10 with a 24-row basis on a clustered spectrum (n = 200)', async () => {
    const r0 = rng(42);
    const spectrum = Array.from({ length: 200 }, (_, i) => (i < 12 ? 10 - 0.3 * i : Math.sin(i) * 2));
    const a = matrixWithSpectrum(spectrum, r0);
    const op = denseOperator(b, a, 200);
    const r = await lanczos(op, { k: 10, maxDim: 24, seed: 3 });
    expect(r.converged).toBe(true);
    expect(r.restarts).toBeGreaterThan(0);
    const truth = Array.from(jacobiEigen(a, 200).values).reverse();
    expectRelative(r.eigenvalues, truth.slice(0, 10), 1e-4);
    op.dispose();
  });

  it('a diagonal operator of size 3 (basis fills the whole space)', async () => {
    const op = denseOperator(b, [3, 0, 0, 0, -1, 0, 0, 0, 2], 3);
    const r = await lanczos(op, { k: 3 });
    expectRelative(r.eigenvalues, [3, 2, -1], 1e-6);
    expect(r.converged).toBe(true);
    // One Ritz value gives no gap estimate: k = 1 must not stop after the first step.
    const t = await lanczos(denseOperator(b, [2, 1, 0, 1, 2, 1, 0, 1, 2], 3), { k: 1 });
    expectRelative(t.eigenvalues, [2 + Math.SQRT2], 1e-6);
  });

  it('rejects bad arguments with the field named', async () => {
    const op = denseOperator(b, [1, 0, 0, 1], 2);
    await expect(lanczos(op, { k: 3 })).rejects.toThrow(/k = 3 exceeds the operator's size 2/);
    await expect(lanczos(op, { which: 'top' as never })).rejects.toThrow(/"largest", "smallest" or "both"/);
    await expect(lanczos(op, { k: 1, tol: 0 })).rejects.toThrow(/tol must be positive/);
    expect(() => denseOperator(b, [1, 2, 3, 4], 2)).toThrow(/not symmetric/);
    expect(() => op.matvec(b.zeros([3]))).toThrow(/3 elements; expected 2/);
  });
});
