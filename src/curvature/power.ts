/**
 * Power iteration with deflation, as PyHessian does it (`hessian.eigenvalues`): for each of the
 * top k, start from a random vector, orthonormalise it against the eigenvectors found so far,
 * multiply, take the Rayleigh quotient, and stop when it changes by less than tol relative
 * (|λ_new − λ_old| / (|λ_old| + 1e-6) < tol) or after maxIter products. It finds the eigenvalues
 * of largest magnitude. Kept as the baseline Lanczos is measured against.
 */
import type { Tensor } from '../backends/backend.js';
import { fail } from '../errors.js';
import { type LinearOperator, applyOperator } from './operator.js';
import { gaussian, probeRng } from './probes.js';

export interface PowerOptions {
  /** Number of eigenpairs (default 1). */
  k?: number;
  /** Relative change of the eigenvalue that stops an iteration (PyHessian: 1e-3). */
  tol?: number;
  /** Products per eigenpair at most (PyHessian: 100). */
  maxIter?: number;
  seed?: number;
  vectors?: boolean;
}

export interface PowerResult {
  /** In the order found (largest magnitude first). */
  eigenvalues: number[];
  /** ‖A x − λ x‖ for the last iterate x (‖x‖ = 1) of each, from the products already made. */
  residuals: number[];
  vectors?: Float32Array[];
  /** Products spent on each eigenpair. */
  iterations: number[];
  /** Whether each stopped on tol rather than maxIter. */
  converged: boolean[];
  matvecs: number;
}

export async function powerIteration(op: LinearOperator, options: PowerOptions = {}): Promise<PowerResult> {
  const n = op.size;
  const k = options.k ?? 1;
  if (!Number.isSafeInteger(k) || k < 1 || k > n) fail('E_ARG', `k must be an integer in [1, ${n}], got ${k}`, { field: 'k' });
  const tol = options.tol ?? 1e-3;
  const maxIter = options.maxIter ?? 100;
  const rng = probeRng(options.seed ?? 0, 'power');
  const b = op.backend;
  const found: Tensor[] = [];
  const res: PowerResult = { eigenvalues: [], residuals: [], iterations: [], converged: [], matvecs: 0 };
  const read1 = async (t: Tensor): Promise<number> => {
    const v = (await b.read(t))[0]!;
    b.free(t);
    return v;
  };
  /** v minus its components along the found vectors, normalised (consumes v). */
  const orthonormalise = async (v: Tensor): Promise<Tensor> => {
    for (const u of found) {
      const c = await read1(b.dot(u, v));
      const w = b.axpy(-c, u, v);
      b.free(v);
      v = w;
    }
    const norm = Math.sqrt(await read1(b.dot(v, v)));
    const out = b.scale(1 / norm, v);
    b.free(v);
    return out;
  };
  try {
    for (let e = 0; e < k; e++) {
      let v = await orthonormalise(b.upload(gaussian(n, rng), [1, n]));
      let lambda: number | undefined;
      let iters = 0;
      let ok = false;
      let residual = NaN;
      for (; iters < maxIter; ) {
        v = await orthonormalise(v);
        const hv = await applyOperator(op, v);
        iters++;
        const tmp = await read1(b.dot(hv, v));
        const r = b.axpy(-tmp, v, hv);
        residual = Math.sqrt(await read1(b.dot(r, r)));
        b.free(r);
        b.free(v);
        v = await orthonormalise(hv); // PyHessian: v = normalization(Hv) (and re-orthonormalised next round)
        if (lambda !== undefined && Math.abs(lambda - tmp) / (Math.abs(lambda) + 1e-6) < tol) {
          ok = true; // PyHessian keeps the previous Rayleigh quotient on this exit
          break;
        }
        lambda = tmp;
      }
      res.eigenvalues.push(lambda!);
      res.residuals.push(residual);
      res.iterations.push(iters);
      res.converged.push(ok);
      res.matvecs += iters;
      found.push(v);
    }
    if (options.vectors) res.vectors = await Promise.all(found.map((f) => b.read(f)));
    return res;
  } finally {
    for (const f of found) b.free(f);
  }
}
