/**
 * Reference kernels of the landscape ops (src/backends/ops.ts pointCombine, batchedMatmul):
 * plain loops with float64 sums, as every js kernel; the optional activation is applied to the
 * float32-rounded sum, as the activation op applies it to a stored tensor.
 */
import type { Activation } from '../backend.js';
import { activationValue } from './math.js';

const finish = (v: number, act: Activation | undefined): number => (act ? activationValue(act, Math.fround(v)) : v);

/** out[p·s + i] = Σ_j coef[p·J + j]·basis[j·s + i]. */
export function pointCombineReference(coef: Float32Array, basis: Float32Array, p: number, j: number, s: number, act?: Activation): Float32Array {
  const out = new Float32Array(p * s);
  for (let q = 0; q < p; q++) {
    for (let i = 0; i < s; i++) {
      let acc = 0;
      for (let t = 0; t < j; t++) acc += coef[q * j + t]! * basis[t * s + i]!;
      out[q * s + i] = finish(acc, act);
    }
  }
  return out;
}

/** y_p = a_p [M,K] · b_p [N,K]ᵀ + bias_p [N] for p < P. */
export function batchedMatmulReference(a: Float32Array, b: Float32Array, bias: Float32Array | undefined, p: number, m: number, n: number, k: number, act?: Activation): Float32Array {
  const out = new Float32Array(p * m * n);
  for (let q = 0; q < p; q++) {
    const ao = q * m * k;
    const bo = q * n * k;
    for (let i = 0; i < m; i++) {
      for (let c = 0; c < n; c++) {
        let acc = bias ? bias[q * n + c]! : 0;
        for (let t = 0; t < k; t++) acc += a[ao + i * k + t]! * b[bo + c * k + t]!;
        out[(q * m + i) * n + c] = finish(acc, act);
      }
    }
  }
  return out;
}
