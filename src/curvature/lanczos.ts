/**
 * Extreme eigenpairs of a symmetric operator by Lanczos with full reorthogonalisation and thick
 * restarts. The basis stays on the device; per step only the projection coefficients and β come
 * back; the projected matrix is diagonalised in float64 on the host (symeig.ts).
 *
 * Convergence: the Ritz pair (θ, x = Qᵀs) has residual r = ‖A x − θ x‖ = β·|s_last| in exact
 * arithmetic (the Lanczos relation; full reorthogonalisation keeps it true in floating point).
 * For symmetric A, |λ − θ| ≤ r, and |λ − θ| ≤ r²/gap where gap is the distance from θ to the rest
 * of the spectrum (Kato–Temple; Parlett, "The Symmetric Eigenvalue Problem", §11.7), estimated by
 * the distance to the nearest other Ritz value. The wanted pairs have converged when each has
 *   min(r, r²/gap) ≤ tol · max(|θ|, floor · max_i |θ_i|)
 * (`strict: true` drops the gap bound: r alone must pass). floor keeps eigenvalues near zero from
 * demanding a relative accuracy f32 products cannot give.
 * If the basis fills first it is restarted keeping the wanted Ritz vectors plus as many others
 * (Wu & Simon's thick restart), so a larger k costs more memory only through `maxDim`.
 */
import type { Tensor } from '../backends/backend.js';
import { fail } from '../errors.js';
import { KrylovBasis } from './krylov.js';
import { type LinearOperator, applyOperator } from './operator.js';
import { gaussian, probeRng } from './probes.js';
import { symmetricEigen } from './symeig.js';

export type Which = 'largest' | 'smallest' | 'both';

export interface LanczosOptions {
  /** Number of eigenpairs at each wanted end (default 5, at most the operator's size). */
  k?: number;
  /** 'largest' (algebraically, default), 'smallest', or 'both' ends. */
  which?: Which;
  /** Relative residual tolerance (default 1e-4). */
  tol?: number;
  /** Eigenvalues smaller than floor·max|θ| are judged against floor·max|θ| (default 1e-2). */
  floor?: number;
  /** Basis rows kept on the device (default: max(4·wanted, 2·wanted + 40), at most the size and 512 MiB). */
  maxDim?: number;
  /** Give up (converged: false) after this many products (default max(1000, 20·maxDim)). */
  maxMatvecs?: number;
  /** Seed of the random start vector (default 0). */
  seed?: number;
  /** Start vector (host, `size` elements) instead of a random one. */
  start?: Float32Array;
  /** Judge convergence by the residual alone (‖Ax − θx‖ ≤ tol·|θ|), not by the gap bound r²/gap (default false). */
  strict?: boolean;
  /** Also return the unit Ritz vectors (host, f32). */
  vectors?: boolean;
  /**
   * 'estimate' (default): β·|s_last| from the last step, no extra product; 'exact': ‖A x − θ x‖
   * recomputed with one more product per pair (counted in matvecs).
   */
  residuals?: 'exact' | 'estimate';
}

export interface EigenResult {
  /** Wanted eigenvalue estimates, descending (with 'both': the top k, then the bottom k). */
  eigenvalues: number[];
  /** ‖A x − θ x‖ of each (‖x‖ = 1), aligned with eigenvalues. */
  residuals: number[];
  /** Unit eigenvector estimates when asked, aligned with eigenvalues. */
  vectors?: Float32Array[];
  converged: boolean;
  /** Operator products used (= HVPs for a Hessian operator). */
  matvecs: number;
  /** Lanczos steps taken, restarts and Krylov-space exhaustions (invariant subspaces found). */
  iterations: number;
  restarts: number;
  breakdowns: number;
}

/** The wanted columns of an ascending eigen-decomposition of order m. */
function wantedColumns(m: number, k: number, which: Which): number[] {
  const top = Array.from({ length: Math.min(k, m) }, (_, i) => m - 1 - i);
  const bottom = Array.from({ length: Math.min(k, m) }, (_, i) => i);
  if (which === 'largest') return top;
  if (which === 'smallest') return bottom.reverse();
  const set = new Set([...top, ...bottom]);
  return [...set].sort((a, b) => b - a);
}

export async function lanczos(op: LinearOperator, options: LanczosOptions = {}): Promise<EigenResult> {
  const n = op.size;
  const which = options.which ?? 'largest';
  if (!['largest', 'smallest', 'both'].includes(which)) fail('E_ARG', `expected "largest", "smallest" or "both", got ${JSON.stringify(which)}`, { field: 'which' });
  const k = options.k ?? 5;
  if (!Number.isSafeInteger(k) || k < 1) fail('E_ARG', `k must be a positive integer, got ${k}`, { field: 'k' });
  if (k > n) fail('E_ARG', `k = ${k} exceeds the operator's size ${n}`, { field: 'k' });
  const tol = options.tol ?? 1e-4;
  if (!(tol > 0)) fail('E_ARG', `tol must be positive, got ${tol}`, { field: 'tol' });
  const floor = options.floor ?? 1e-2;
  const wanted = Math.min(n, which === 'both' ? 2 * k : k);
  const memCap = Math.max(wanted + 2, Math.floor((512 * 2 ** 20) / (4 * n)));
  const maxDim = Math.min(n, options.maxDim ?? Math.min(memCap, Math.max(4 * wanted, 2 * wanted + 40)));
  if (!Number.isSafeInteger(maxDim) || maxDim < Math.min(n, wanted + 1)) {
    fail('E_ARG', `maxDim must be an integer ≥ ${Math.min(n, wanted + 1)} (wanted pairs + 1), got ${maxDim}`, { field: 'maxDim' });
  }
  const maxMatvecs = options.maxMatvecs ?? Math.max(1000, 20 * maxDim);
  const rng = probeRng(options.seed ?? 0, 'lanczos');
  const start = options.start ?? gaussian(n, rng);
  if (start.length !== n) fail('E_SHAPE', `start vector has ${start.length} elements; expected ${n}`, { field: 'start' });

  const b = op.backend;
  const basis = new KrylovBasis(op, maxDim);
  let restarts = 0;
  let iterations = 0;
  try {
    basis.start(start);
    let eig = symmetricEigen([], 0);
    let cols: number[] = [];
    let converged = false;
    for (;;) {
      await basis.step();
      iterations++;
      const m = basis.count;
      eig = symmetricEigen(basis.projected(), m);
      cols = wantedColumns(m, k, which);
      const scale = Math.max(Math.abs(eig.values[0]!), Math.abs(eig.values[m - 1]!));
      const exhausted = basis.beta <= 1e-6 * Math.max(scale, basis.scale());
      converged =
        cols.length >= wanted &&
        (m === n ||
          cols.every((c) => {
            const r = basis.beta * Math.abs(eig.vectors[(m - 1) * m + c]!);
            const bound = options.strict ? r : Math.min(r, (r * r) / ritzGap(eig.values, c));
            return bound <= tol * Math.max(Math.abs(eig.values[c]!), floor * scale);
          }));
      if (converged || basis.matvecs >= maxMatvecs) break;
      if (exhausted) await basis.freshDirection(rng);
      if (basis.count === maxDim) {
        // Thick restart: keep the wanted Ritz vectors and the best of the rest, up to half the basis.
        const keepN = Math.min(maxDim - 1, Math.max(wanted, Math.floor((maxDim + wanted) / 2)));
        const keep = wantedColumns(m, which === 'both' ? Math.floor(keepN / 2) : keepN, which);
        basis.restart(keep, eig.values, eig.vectors);
        restarts++;
      }
    }
    const m = basis.count;
    const eigenvalues = cols.map((c) => eig.values[c]!);
    let residuals = cols.map((c) => basis.beta * Math.abs(eig.vectors[(m - 1) * m + c]!));
    let vectors: Float32Array[] | undefined;
    const exact = options.residuals === 'exact';
    if (options.vectors || exact) {
      const coef = new Float64Array(cols.length * m);
      cols.forEach((c, r) => {
        for (let i = 0; i < m; i++) coef[r * m + i] = eig.vectors[i * m + c]!;
      });
      const x = basis.combine(coef, cols.length);
      if (exact) residuals = await exactResiduals(op, x, eigenvalues);
      if (options.vectors) {
        const host = await b.read(x);
        vectors = cols.map((_, r) => host.slice(r * n, (r + 1) * n));
      }
      b.free(x);
    }
    const matvecs = basis.matvecs + (exact ? cols.length : 0);
    return { eigenvalues, residuals, vectors, converged, matvecs, iterations, restarts, breakdowns: basis.breakdowns };
  } finally {
    basis.dispose();
  }
}

/** Distance from Ritz value c to the nearest other one (0 when alone: no gap is known, so r²/gap gives no bound). */
function ritzGap(values: Float64Array, c: number): number {
  if (values.length < 2) return 0;
  let g = Infinity;
  if (c > 0) g = Math.min(g, values[c]! - values[c - 1]!);
  if (c < values.length - 1) g = Math.min(g, values[c + 1]! - values[c]!);
  return g;
}

/** ‖A x_r − θ_r x_r‖ for each row x_r of x [rows, n] (one product each). */
export async function exactResiduals(op: LinearOperator, x: Tensor, theta: readonly number[]): Promise<number[]> {
  const b = op.backend;
  const out: number[] = [];
  for (let r = 0; r < theta.length; r++) {
    const xr = b.slice(x, r * op.size, [1, op.size]);
    const ax = await applyOperator(op, xr);
    const res = b.axpy(-theta[r]!, xr, ax);
    const nn = b.dot(res, res);
    out.push(Math.sqrt(Math.max(0, (await b.read(nn))[0]!)));
    for (const t of [xr, ax, res, nn]) b.free(t);
  }
  return out;
}

/** The LLA criterion: ratio of the smallest to the largest eigenvalue (both from one Lanczos run). */
export interface LlaResult {
  ratio: number;
  smallest: number;
  largest: number;
  residuals: [number, number];
  converged: boolean;
  matvecs: number;
}

export async function llaCriterion(op: LinearOperator, options: Omit<LanczosOptions, 'k' | 'which'> = {}): Promise<LlaResult> {
  const r = await lanczos(op, { ...options, k: 1, which: 'both' });
  const largest = r.eigenvalues[0]!;
  const smallest = r.eigenvalues.at(-1)!;
  return {
    ratio: smallest / largest,
    smallest,
    largest,
    residuals: [r.residuals.at(-1)!, r.residuals[0]!],
    converged: r.converged,
    matvecs: r.matvecs,
  };
}
