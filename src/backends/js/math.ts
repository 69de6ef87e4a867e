/**
 * Scalar maths of the reference backend, in float64.
 * GELU is the exact erf form (PyTorch's default, approximate='none').
 */
import type { Activation, CldKernelInput } from '../backend.js';

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);
const INV_SQRT2 = 1 / Math.SQRT2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** erfc(x) for x ≥ 3 by its continued fraction (modified Lentz), relative error ~1e-15. */
function erfcLarge(x: number): number {
  // erfc(x) = exp(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …)))))
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 200; n++) {
    const a = n / 2;
    d = x + a * d;
    d = Math.abs(d) < tiny ? tiny : d;
    c = x + a / c;
    c = Math.abs(c) < tiny ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

/** The error function to ~1e-14: Taylor series near 0, continued fraction in the tails. */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax >= 3) {
    const v = 1 - erfcLarge(ax);
    return x < 0 ? -v : v;
  }
  // erf(x) = 2/√π Σ (-1)^n x^(2n+1) / (n! (2n+1))
  let term = x;
  let sum = x;
  const x2 = x * x;
  for (let n = 1; n < 200; n++) {
    term *= -x2 / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
  }
  return TWO_OVER_SQRT_PI * sum;
}

/** Standard normal CDF Φ(x), accurate in the far left tail too. */
export function normalCdf(x: number): number {
  const z = x * INV_SQRT2;
  if (z < -3) return 0.5 * erfcLarge(-z);
  return 0.5 * (1 + erf(z));
}

export function activationValue(kind: Activation, x: number): number {
  switch (kind) {
    case 'relu':
      return x > 0 ? x : 0;
    case 'tanh':
      return Math.tanh(x);
    case 'sigmoid':
      return 1 / (1 + Math.exp(-x));
    case 'gelu':
      return x * normalCdf(x);
  }
}

/** f'(x). ReLU's derivative at 0 is taken as 0, as PyTorch does. */
export function activationDerivative(kind: Activation, x: number): number {
  switch (kind) {
    case 'relu':
      return x > 0 ? 1 : 0;
    case 'tanh': {
      const t = Math.tanh(x);
      return 1 - t * t;
    }
    case 'sigmoid': {
      const s = 1 / (1 + Math.exp(-x));
      return s * (1 - s);
    }
    case 'gelu':
      return normalCdf(x) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
  }
}

/** f''(x). ReLU's second derivative is 0 wherever it exists. */
export function activationSecondDerivative(kind: Activation, x: number): number {
  switch (kind) {
    case 'relu':
      return 0;
    case 'tanh': {
      const t = Math.tanh(x);
      return -2 * t * (1 - t * t);
    }
    case 'sigmoid': {
      const s = 1 / (1 + Math.exp(-x));
      return s * (1 - s) * (1 - 2 * s);
    }
    case 'gelu':
      // d/dx [Φ(x) + x φ(x)] = 2φ(x) + x φ'(x) = φ(x) (2 − x²)
      return INV_SQRT_2PI * Math.exp(-0.5 * x * x) * (2 - x * x);
  }
}

/**
 * CLD scores the obvious way, two passes in float64 per sample, as the official
 * `Compute_CLD_scores.py` does it (population std, zero std → r = 0).
 */
export function cldScoresReference(input: CldKernelInput): Float32Array {
  const { trajectory: T, epochs: E, samples: N, labels, numClasses: C, classZ } = input;
  const D = E - 1;
  const out = new Float32Array(N);
  const d = new Float64Array(D);
  for (let i = 0; i < N; i++) {
    let mean = 0;
    let constant = true;
    for (let e = 0; e < D; e++) {
      d[e] = T[(e + 1) * N + i]! - T[e * N + i]!;
      mean += d[e]!;
      if (d[e] !== d[0]) constant = false;
    }
    mean /= D;
    let ss = 0;
    for (let e = 0; e < D; e++) ss += (d[e]! - mean) ** 2;
    const std = Math.sqrt(ss / D);
    // Exactly equal differences are zero variance even where rounding of the mean leaves ss > 0.
    if (constant || std === 0) {
      out[i] = 0;
      continue;
    }
    const y = labels[i]!;
    let r = 0;
    for (let e = 0; e < D; e++) r += ((d[e]! - mean) / std) * classZ[e * C + y]!;
    out[i] = r / D;
  }
  return out;
}
