/**
 * Host spectra (src/curvature/spectral.ts) against matrices built with known singular values in
 * float64 (orthogonal × diag × orthogonal, the orthogonal factors from Gram–Schmidt of seeded
 * random matrices), RankMe against its formula on those values, α-ReQ against an exact power-law
 * covariance spectrum, and condition numbers of linear- and conv-shaped weights.
 */
import { describe, expect, it } from 'vitest';
import { alphaReq, conditionNumber, covarianceEigenvalues, powerLawFit, rankMe, rankMeOf, RANKME_EPS, singularValues } from '../../../src/curvature/spectral.js';
import { Rng } from '../../../src/model/rng.js';

/** n × k matrix (row-major) with orthonormal columns, each also orthogonal to `avoid` (unit vectors) when given. */
function orthonormalColumns(n: number, k: number, seed: number, avoid: Float64Array[] = []): Float64Array {
  const r = new Rng(seed);
  const cols: Float64Array[] = [];
  while (cols.length < k) {
    const v = Float64Array.from({ length: n }, () => r.uniform(-1, 1));
    for (let pass = 0; pass < 2; pass++) {
      for (const u of [...avoid, ...cols]) {
        let d = 0;
        for (let i = 0; i < n; i++) d += u[i]! * v[i]!;
        for (let i = 0; i < n; i++) v[i] = v[i]! - d * u[i]!;
      }
    }
    const norm = Math.hypot(...v);
    for (let i = 0; i < n; i++) v[i] = v[i]! / norm;
    cols.push(v);
  }
  const out = new Float64Array(n * k);
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) out[i * k + j] = cols[j]![i]!;
  return out;
}

/** U·diag(s)·Vᵀ, rows × cols, with U rows × k and V cols × k orthonormal (k = s.length ≤ min(rows, cols)). */
function withSingularValues(rows: number, cols: number, s: number[], seed: number, avoidRows: Float64Array[] = []): Float64Array {
  const k = s.length;
  const U = orthonormalColumns(rows, k, seed, avoidRows);
  const V = orthonormalColumns(cols, k, seed + 1);
  const a = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) {
    let v = 0;
    for (let q = 0; q < k; q++) v += U[i * k + q]! * s[q]! * V[j * k + q]!;
    a[i * cols + j] = v;
  }
  return a;
}

describe('singular values through the smaller Gram', () => {
  for (const [rows, cols] of [[12, 5], [5, 12], [7, 7]] as const) {
    it(`${rows} × ${cols}: the values it was built with`, () => {
      const k = Math.min(rows, cols);
      const s = Array.from({ length: k }, (_, i) => 3 / (i + 1) ** 1.5);
      const got = singularValues(withSingularValues(rows, cols, s, 11), rows, cols);
      expect(got.length).toBe(k);
      got.forEach((v, i) => expect(Math.abs(v - s[i]!) / s[i]!).toBeLessThan(1e-10));
    });
  }

  it('a rank-deficient matrix has zeros at the end', () => {
    const got = singularValues(withSingularValues(9, 6, [2, 1, 0.5], 3), 9, 6);
    expect(Array.from(got.subarray(0, 3)).map((v) => +v.toFixed(10))).toEqual([2, 1, 0.5]);
    for (const v of got.subarray(3)) expect(v).toBeLessThan(1e-7);
  });

  it('refuses a wrong length and non-finite values', () => {
    expect(() => singularValues(new Float64Array(5), 2, 3)).toThrow(/5 values for a 2 × 3 matrix/);
    expect(() => singularValues(Float64Array.of(1, NaN), 1, 2)).toThrow(/element 1 is NaN/);
  });
});

describe('RankMe (Garrido et al. 2023)', () => {
  it('equals exp(−Σ p log p), p = σ/‖σ‖₁ + ε, for the singular values a matrix was built with', () => {
    const s = [5, 4, 2, 1, 0.5, 0.1];
    const l1 = s.reduce((a, v) => a + v, 0);
    const want = Math.exp(-s.reduce((h, v) => h + (v / l1 + RANKME_EPS) * Math.log(v / l1 + RANKME_EPS), 0));
    expect(rankMeOf(withSingularValues(40, 6, s, 5), 40, 6)).toBeCloseTo(want, 9);
    // Wide: 6 samples of 40 features.
    expect(rankMeOf(withSingularValues(6, 40, s, 7), 6, 40)).toBeCloseTo(want, 9);
  });

  it('k equal singular values give k (up to the ε terms: −ε·log ε ≈ 1.6e-6 for each zero); one gives 1; a zero matrix 0', () => {
    expect(rankMe([2, 2, 2, 2, 2])).toBeCloseTo(5, 5);
    expect(rankMeOf(withSingularValues(30, 8, [1, 1, 1], 2), 30, 8)).toBeCloseTo(3 * Math.exp(-5 * RANKME_EPS * Math.log(RANKME_EPS)), 5);
    expect(rankMe([3, 0, 0])).toBeCloseTo(1, 5);
    expect(rankMe([0, 0])).toBe(0);
  });
});

describe('α-ReQ (Agrawal et al. 2022)', () => {
  it('recovers α of a covariance spectrum λ_i = c·i^(−α) exactly', () => {
    const n = 64;
    const k = 20;
    const ones = Float64Array.from({ length: n }, () => 1 / Math.sqrt(n));
    for (const alpha of [0.7, 1, 2.3]) {
      // Columns of U orthogonal to the ones vector: Z is centred, so its covariance eigenvalues are s_i²/n.
      const lambda = Array.from({ length: k }, (_, i) => 0.5 * (i + 1) ** -alpha);
      const s = lambda.map((l) => Math.sqrt(l * n));
      const z = withSingularValues(n, 30, s, 21, [ones]);
      const ev = covarianceEigenvalues(z, n, 30);
      ev.subarray(0, k).forEach((v, i) => expect(Math.abs(v - lambda[i]!) / lambda[i]!).toBeLessThan(1e-9));
      const fit = alphaReq(z, n, 30)!;
      expect(fit.points).toBe(k); // the other 10 eigenvalues are numerical zeros
      expect(fit.alpha).toBeCloseTo(alpha, 9);
      expect(fit.intercept).toBeCloseTo(Math.log(0.5), 9);
      expect(fit.r2).toBeCloseTo(1, 12);
    }
  });

  it('centres: a constant offset added to every sample changes nothing', () => {
    const n = 50;
    const z = withSingularValues(n, 10, [3, 2, 1, 0.5, 0.25], 4);
    const shifted = z.map((v, i) => v + 7 * ((i % 10) + 1));
    expect(alphaReq(shifted, n, 10)!.alpha).toBeCloseTo(alphaReq(z, n, 10)!.alpha, 8);
  });

  it('the least-squares slope of a spectrum that is not a power law, by hand', () => {
    const ev = [8, 2, 1, 0.125];
    const x = ev.map((_, i) => Math.log(i + 1));
    const y = ev.map(Math.log);
    const mx = x.reduce((a, v) => a + v, 0) / 4;
    const my = y.reduce((a, v) => a + v, 0) / 4;
    const slope = x.reduce((a, v, i) => a + (v - mx) * (y[i]! - my), 0) / x.reduce((a, v) => a + (v - mx) ** 2, 0);
    expect(powerLawFit(ev)!.alpha).toBeCloseTo(-slope, 12);
    expect(powerLawFit([1, 0, 0])).toBeUndefined();
  });
});

describe('condition numbers', () => {
  it('σ_max/σ_min of linear-shaped (tall, wide) and conv-shaped ([out, in·kh·kw]) weights built with known values', () => {
    for (const [rows, cols, s] of [
      [10, 4, [50, 3, 1, 0.05]],
      [3, 12, [2, 1.5, 0.002]],
      [4, 2 * 3 * 3, [1, 1, 1, 1]],
    ] as [number, number, number[]][]) {
      const c = conditionNumber(withSingularValues(rows, cols, s, rows * 31 + cols), rows, cols);
      expect(c.sigmaMax).toBeCloseTo(s[0]!, 10);
      expect(Math.abs(c.sigmaMin - s.at(-1)!) / s.at(-1)!).toBeLessThan(1e-7);
      expect(Math.abs(c.cond! - s[0]! / s.at(-1)!) / (s[0]! / s.at(-1)!)).toBeLessThan(1e-7);
    }
  });

  it('a rank-deficient weight has no resolved condition number', () => {
    const c = conditionNumber(withSingularValues(8, 5, [1, 0.5, 0.2], 8), 8, 5);
    expect(c.cond).toBeUndefined();
    expect(c.sigmaMax).toBeCloseTo(1, 10);
    expect(c.sigmaMin).toBeLessThan(1e-6);
  });
});
