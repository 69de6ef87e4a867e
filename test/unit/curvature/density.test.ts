/**
 * Stochastic Lanczos quadrature: Gauss-quadrature exactness of the moments for one probe (checked
 * with dense powers of the matrix and the same seeded probe), mass and mean of the smoothed
 * density against the dense trace, and σ as a standard deviation.
 */
import { describe, expect, it } from 'vitest';
import { JsBackend } from '../../../src/backends/js/index.js';
import { gaussianDensity, integrate, spectralDensity } from '../../../src/curvature/density.js';
import { denseOperator } from '../../../src/curvature/operator.js';
import { probeRng, rademacher } from '../../../src/curvature/probes.js';
import { rng } from '../../helpers/backends.js';
import { matrixWithSpectrum } from '../../helpers/dense.js';
import { mlpHessian } from './fixture.js';

const b = new JsBackend();

describe('spectralDensity (SLQ)', () => {
  it('m steps integrate polynomials of degree ≤ 2m − 1 exactly: Σ τᵢθᵢᵏ = vᵀAᵏv / vᵀv', async () => {
    const n = 60;
    const spectrum = Array.from({ length: n }, (_, i) => Math.cos(i * 1.3) + (i < 3 ? 3 + i : 0));
    const a = matrixWithSpectrum(spectrum, rng(4));
    const op = denseOperator(b, a, n);
    const d = await spectralDensity(op, { probes: 1, steps: 8, seed: 5 });
    expect(d.matvecs).toBe(8);
    const v = Float64Array.from(rademacher(n, probeRng(5, 'slq'))); // the same probe the estimator drew
    let x = Float64Array.from(v);
    for (let k = 0; k <= 8; k++) {
      let moment = 0;
      for (let i = 0; i < n; i++) moment += v[i]! * x[i]!;
      moment /= n;
      const quad = d.nodes[0]!.reduce((s, θ, i) => s + d.weights[0]![i]! * θ ** k, 0);
      expect(Math.abs(quad - moment), `moment ${k}`).toBeLessThan(1e-5 * Math.max(1, Math.abs(moment)) * 5 ** k);
      const y = new Float64Array(n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) y[i] = y[i]! + a[i * n + j]! * x[j]!;
      x = y;
    }
    expect(d.weights[0]!.reduce((s, w) => s + w, 0)).toBeCloseTo(1, 6);
  });

  it('on a model Hessian: the density integrates to 1 and its mean is trace/P within the Hutchinson error', async () => {
    const f = await mlpHessian(b, 'tanh', 17);
    const n = f.op.size;
    const probes = 8;
    const d = await spectralDensity(f.op, { probes, steps: 40, seed: 1 });
    expect(d.matvecs).toBe(probes * 40);
    expect(d.mass).toBeCloseTo(1, 3);
    expect(d.grid.length).toBe(1000);
    expect(d.density.every((v) => v >= 0)).toBe(true);
    // n × mean = mean of vᵀAv over the probes: a Hutchinson estimate with Var = 2(‖A‖_F² − Σ a_ii²)/probes.
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) off += f.dense[i * n + j]! ** 2;
    const sd = Math.sqrt((2 * off) / probes);
    expect(Math.abs(n * d.mean - f.trace)).toBeLessThan(3 * sd);
    // Extreme nodes approach the extreme eigenvalues.
    const top = Math.max(...d.nodes.flat());
    expect(Math.abs(top - f.eigenvalues[n - 1]!)).toBeLessThan(1e-3 * Math.abs(f.eigenvalues[n - 1]!));
  });

  it('σ is a standard deviation; re-smoothing the exported nodes/weights reproduces the density', async () => {
    const dens = gaussianDensity([[0]], [[1]], [0, 2], 2);
    expect(dens[0]).toBeCloseTo(1 / (2 * Math.sqrt(2 * Math.PI)), 12);
    expect(dens[1]).toBeCloseTo(Math.exp(-0.5) / (2 * Math.sqrt(2 * Math.PI)), 12);
    const op = denseOperator(b, matrixWithSpectrum([1, 2, 3, 4, 5, 6], rng(1)), 6);
    const d = await spectralDensity(op, { probes: 2, steps: 6, sigma: 0.05, points: 400 });
    expect(gaussianDensity(d.nodes, d.weights, d.grid, d.sigma)).toEqual(d.density);
    expect(integrate(d.grid, d.density)).toBeCloseTo(1, 6);
    // Full Krylov space: the nodes are the eigenvalues.
    d.nodes.forEach((ns) => ns.forEach((θ, i) => expect(θ).toBeCloseTo(i + 1, 4)));
    await expect(spectralDensity(op, { sigma: -1 })).rejects.toThrow(/sigma must be positive/);
  });
});
