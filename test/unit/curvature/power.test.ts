/** Power iteration (PyHessian's rule) against known spectra. */
import { describe, expect, it } from 'vitest';
import { JsBackend } from '../../../src/backends/js/index.js';
import { countingOperator, denseOperator } from '../../../src/curvature/operator.js';
import { powerIteration } from '../../../src/curvature/power.js';
import { rng } from '../../helpers/backends.js';
import { matrixWithSpectrum } from '../../helpers/dense.js';

const b = new JsBackend();

describe('powerIteration', () => {
  it('finds the largest-magnitude eigenvalues in turn (deflation), within the stopping tolerance', async () => {
    const spectrum = [-8, 4, 2, ...Array.from({ length: 57 }, (_, i) => 0.5 * Math.cos(i))];
    const a = matrixWithSpectrum(spectrum, rng(3));
    const op = countingOperator(denseOperator(b, a, 60));
    const r = await powerIteration(op, { k: 3, seed: 1, vectors: true });
    expect(r.converged).toEqual([true, true, true]);
    [-8, 4, 2].forEach((e, i) => expect(Math.abs(r.eigenvalues[i]! - e) / Math.abs(e)).toBeLessThan(5e-3));
    expect(r.matvecs).toBe(op.count);
    expect(r.iterations.reduce((x, y) => x + y, 0)).toBe(r.matvecs);
    // Deflation keeps the vectors orthonormal.
    const [u, v] = r.vectors!;
    let d = 0;
    for (let i = 0; i < 60; i++) d += u![i]! * v![i]!;
    expect(Math.abs(d)).toBeLessThan(1e-5);
  });

  it('stops at maxIter when the eigenvalue gap is too small for tol (and says so)', async () => {
    const a = matrixWithSpectrum([1, 0.9, 0.1, 0.1], rng(5));
    const r = await powerIteration(denseOperator(b, a, 4), { k: 1, maxIter: 17, tol: 1e-6 });
    expect(r.iterations).toEqual([17]);
    expect(r.converged).toEqual([false]);
  });

  it('with eigenvalues ±1 the Rayleigh quotient stalls at a non-eigenvalue; the residual shows it', async () => {
    const a = matrixWithSpectrum([1, -1, 0.01], rng(6));
    const r = await powerIteration(denseOperator(b, a, 3), { k: 1, seed: 2 });
    expect(r.converged).toEqual([true]);
    expect(Math.abs(Math.abs(r.eigenvalues[0]!) - 1)).toBeGreaterThan(1e-2);
    expect(r.residuals[0]!).toBeGreaterThan(0.1);
  });
});
