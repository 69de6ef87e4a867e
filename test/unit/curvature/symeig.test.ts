/** tred2 + tql2 (src) against the independent cyclic Jacobi (test helper) and closed forms. */
import { describe, expect, it } from 'vitest';
import { symmetricEigen, tridiagonalEigen } from '../../../src/curvature/symeig.js';
import { rng } from '../../helpers/backends.js';
import { jacobiEigen, symmetrize } from '../../helpers/dense.js';

function randomSymmetric(n: number, seed: number): Float64Array {
  const r = rng(seed);
  return symmetrize(Float64Array.from({ length: n * n }, () => r() * 2 - 1), n);
}

describe('symmetricEigen (Householder + implicit QL, float64)', () => {
  it('matches Jacobi on random symmetric matrices; A·V = V·Λ and VᵀV = I to 1e-12', () => {
    for (const n of [1, 2, 7, 40]) {
      const a = randomSymmetric(n, n);
      const { values, vectors } = symmetricEigen(a, n);
      const truth = jacobiEigen(a, n).values;
      values.forEach((v, i) => expect(Math.abs(v - truth[i]!)).toBeLessThan(1e-12 * n));
      for (let j = 0; j < n; j++)
        for (let i = 0; i < n; i++) {
          let av = 0;
          for (let k = 0; k < n; k++) av += a[i * n + k]! * vectors[k * n + j]!;
          expect(Math.abs(av - values[j]! * vectors[i * n + j]!)).toBeLessThan(1e-12 * n);
          let dot = 0;
          for (let k = 0; k < n; k++) dot += vectors[k * n + i]! * vectors[k * n + j]!;
          expect(Math.abs(dot - (i === j ? 1 : 0))).toBeLessThan(1e-12 * n);
        }
    }
  });

  it('repeated eigenvalues (identity, zero matrix)', () => {
    expect(Array.from(symmetricEigen([2, 0, 0, 0, 2, 0, 0, 0, 2], 3).values)).toEqual([2, 2, 2]);
    expect(Array.from(symmetricEigen(new Float64Array(4), 2).values)).toEqual([0, 0]);
  });

  it('tridiagonalEigen: the discrete Laplacian has eigenvalues 2 − 2cos(kπ/(n+1))', () => {
    const n = 30;
    const { values } = tridiagonalEigen(new Float64Array(n).fill(2), new Float64Array(n - 1).fill(-1));
    const truth = Array.from({ length: n }, (_, k) => 2 - 2 * Math.cos(((k + 1) * Math.PI) / (n + 1))).sort((x, y) => x - y);
    values.forEach((v, i) => expect(Math.abs(v - truth[i]!)).toBeLessThan(1e-13));
  });
});
