/**
 * Spectra of small dense matrices on the host, in float64, and the measures the training probes
 * build on them (curvature/train-probes.ts):
 *
 *   singular values   through the symmetric eigen-decomposition (symeig.ts) of the smaller Gram
 *                     matrix AᵀA or AAᵀ: σ_k = √λ_k. The Gram squares the condition, so a singular
 *                     value is resolved to about n·ε·σ_max²/σ_k relative (n the Gram's size, ε =
 *                     2⁻⁵²); `conditionNumber` says when σ_min is below that resolution.
 *   RankMe            Garrido et al. 2023: exp(−Σ p_k log p_k), p_k = σ_k/‖σ‖₁ + ε (ε = 1e-7, the
 *                     paper's), over the min(rows, cols) singular values of the representation
 *                     matrix (rows = samples), uncentred as in the paper.
 *   α-ReQ             Agrawal et al. 2022: the decay coefficient α of λ_i ∝ i^(−α), the eigenvalues
 *                     of the sample covariance (1/n)·(Z − μ)ᵀ(Z − μ) in descending order, fitted by
 *                     least squares of log λ_i on log i over i = 1..K, where K counts the eigenvalues
 *                     above 1e-10·λ₁ (the rest are numerically zero: centring leaves at most
 *                     min(n − 1, d) non-zero ones).
 *   condition number  σ_max/σ_min of a matrix (a weight [out, in], or a conv weight as [out, in·kh·kw]).
 */
import { fail } from '../errors.js';
import { symmetricEigen } from './symeig.js';

/** ε of RankMe's p_k (Garrido et al. 2023, eq. 1). */
export const RANKME_EPS = 1e-7;
/** Covariance eigenvalues at or below this fraction of the largest are left out of the α-ReQ fit. */
export const ALPHA_REQ_RELATIVE_FLOOR = 1e-10;

function checkMatrix(a: ArrayLike<number>, rows: number, cols: number, field: string): void {
  if (!Number.isSafeInteger(rows) || !Number.isSafeInteger(cols) || rows < 1 || cols < 1) fail('E_SHAPE', `expected a matrix of at least 1 × 1, got ${rows} × ${cols}`, { field });
  if (a.length !== rows * cols) fail('E_SHAPE', `${a.length} values for a ${rows} × ${cols} matrix`, { field });
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) fail('E_VALUE', `element ${i} is ${a[i]}; expected finite values`, { field });
}

/**
 * The smaller Gram matrix of the row-major rows × cols matrix a, in float64: AᵀA (cols × cols)
 * when cols ≤ rows, else AAᵀ (rows × rows). Both have the same non-zero eigenvalues σ_k².
 */
export function smallerGram(a: ArrayLike<number>, rows: number, cols: number): { gram: Float64Array; n: number } {
  const A = Float64Array.from(a as ArrayLike<number>);
  if (cols <= rows) {
    const n = cols;
    const g = new Float64Array(n * n);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      for (let i = 0; i < n; i++) {
        const v = A[o + i]!;
        if (v === 0) continue;
        for (let j = 0; j <= i; j++) g[i * n + j] = g[i * n + j]! + v * A[o + j]!;
      }
    }
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) g[j * n + i] = g[i * n + j]!;
    return { gram: g, n };
  }
  const n = rows;
  const g = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = 0; k < cols; k++) s += A[i * cols + k]! * A[j * cols + k]!;
      g[i * n + j] = s;
      g[j * n + i] = s;
    }
  }
  return { gram: g, n };
}

/** The min(rows, cols) singular values of a (row-major rows × cols), descending; σ_k = √max(λ_k, 0). */
export function singularValues(a: ArrayLike<number>, rows: number, cols: number, field = 'matrix'): Float64Array {
  checkMatrix(a, rows, cols, field);
  const { gram, n } = smallerGram(a, rows, cols);
  const ev = symmetricEigen(gram, n).values; // ascending
  const out = new Float64Array(n);
  for (let k = 0; k < n; k++) out[k] = Math.sqrt(Math.max(0, ev[n - 1 - k]!));
  return out;
}

/**
 * RankMe of singular values σ (Garrido et al. 2023): exp(−Σ p_k log p_k) with p_k = σ_k/‖σ‖₁ + ε.
 * All σ zero (a representation that is identically zero) gives 0: it has no rank to measure.
 */
export function rankMe(sigma: ArrayLike<number>, eps = RANKME_EPS): number {
  let l1 = 0;
  for (let k = 0; k < sigma.length; k++) {
    const s = sigma[k]!;
    if (!(s >= 0) || !Number.isFinite(s)) fail('E_VALUE', `singular value ${k} is ${s}; expected finite values ≥ 0`, { field: 'sigma' });
    l1 += s;
  }
  if (l1 === 0) return 0;
  let h = 0;
  for (let k = 0; k < sigma.length; k++) {
    const p = sigma[k]! / l1 + eps;
    h -= p * Math.log(p);
  }
  return Math.exp(h);
}

/** RankMe of the representation matrix z (row-major samples × features). */
export function rankMeOf(z: ArrayLike<number>, samples: number, features: number): number {
  return rankMe(singularValues(z, samples, features, 'representation'));
}

/** Eigenvalues of the sample covariance (1/n)(Z − μ)ᵀ(Z − μ) of z (n samples × d features), descending, min(n, d) of them. */
export function covarianceEigenvalues(z: ArrayLike<number>, samples: number, features: number): Float64Array {
  checkMatrix(z, samples, features, 'representation');
  const c = new Float64Array(samples * features);
  for (let j = 0; j < features; j++) {
    let m = 0;
    for (let i = 0; i < samples; i++) m += z[i * features + j]!;
    m /= samples;
    for (let i = 0; i < samples; i++) c[i * features + j] = z[i * features + j]! - m;
  }
  const { gram, n } = smallerGram(c, samples, features);
  const ev = symmetricEigen(gram, n).values;
  const out = new Float64Array(n);
  for (let k = 0; k < n; k++) out[k] = Math.max(0, ev[n - 1 - k]!) / samples;
  return out;
}

export interface PowerLawFit {
  /** The decay coefficient: λ_i ≈ C·i^(−α). */
  alpha: number;
  /** log C. */
  intercept: number;
  /** R² of the least-squares line in log–log coordinates. */
  r2: number;
  /** Eigenvalues used: i = 1..points. */
  points: number;
}

/**
 * α-ReQ's power-law fit of descending eigenvalues: least squares of log λ_i on log i over the
 * leading eigenvalues above floor·λ₁. Undefined (fewer than 2 such eigenvalues) returns undefined.
 */
export function powerLawFit(eigenvalues: ArrayLike<number>, floor = ALPHA_REQ_RELATIVE_FLOOR): PowerLawFit | undefined {
  const l1 = eigenvalues[0];
  if (l1 === undefined || !(l1 > 0)) return undefined;
  let K = 0;
  while (K < eigenvalues.length && eigenvalues[K]! > floor * l1) {
    if (K > 0 && eigenvalues[K]! > eigenvalues[K - 1]!) fail('E_ARG', 'eigenvalues must be in descending order', { field: 'eigenvalues' });
    K++;
  }
  if (K < 2) return undefined;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < K; i++) {
    mx += Math.log(i + 1);
    my += Math.log(eigenvalues[i]!);
  }
  mx /= K;
  my /= K;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < K; i++) {
    const dx = Math.log(i + 1) - mx;
    const dy = Math.log(eigenvalues[i]!) - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  const slope = sxy / sxx;
  const r2 = syy === 0 ? 1 : (sxy * sxy) / (sxx * syy);
  return { alpha: -slope, intercept: my - slope * mx, r2, points: K };
}

/** α-ReQ of the representation matrix z (samples × features): the power-law fit of its covariance eigenvalues. */
export function alphaReq(z: ArrayLike<number>, samples: number, features: number): PowerLawFit | undefined {
  return powerLawFit(covarianceEigenvalues(z, samples, features));
}

export interface ConditionNumber {
  sigmaMax: number;
  sigmaMin: number;
  /**
   * σ_max/σ_min; undefined when σ_min is below what the float64 Gram resolves (λ_min ≤ 1000·n·ε·λ_max,
   * i.e. σ_min's relative error could exceed ~0.05 %), which includes a rank-deficient matrix.
   */
  cond: number | undefined;
}

/** σ_max/σ_min of the row-major rows × cols matrix a (a conv weight [out, in, kh, kw] is [out, in·kh·kw] as laid out). */
export function conditionNumber(a: ArrayLike<number>, rows: number, cols: number, field = 'matrix'): ConditionNumber {
  checkMatrix(a, rows, cols, field);
  const { gram, n } = smallerGram(a, rows, cols);
  const ev = symmetricEigen(gram, n).values;
  const lmax = Math.max(0, ev[n - 1]!);
  const lmin = Math.max(0, ev[0]!);
  const resolved = lmax > 0 && lmin > 1000 * n * 2 ** -52 * lmax;
  return { sigmaMax: Math.sqrt(lmax), sigmaMin: Math.sqrt(lmin), cond: resolved ? Math.sqrt(lmax / lmin) : undefined };
}
