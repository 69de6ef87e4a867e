/**
 * Stochastic trace estimators with confidence intervals.
 *
 * Hutchinson: tr(A) ≈ (1/m) Σ zᵢᵀ A zᵢ with Rademacher zᵢ (unbiased; variance 2(‖A‖_F² − Σ A_jj²)/m).
 * Hutch++ (Meyer, Musco, Musco & Woodruff 2021): with a budget of m products, s = m/3 each for
 *   S (sketch), Q = orth(A S), and G (Hutchinson on the deflated remainder):
 *     tr(A) ≈ tr(Qᵀ A Q) + (1/s) Σ gᵢᵀ (I − QQᵀ) A (I − QQᵀ) gᵢ.
 *   The first term is exact given Q; the second is Hutchinson on a matrix whose top eigenvalues
 *   are removed, so the error falls like 1/m instead of 1/√m on matrices with a decaying spectrum.
 *
 * Confidence interval (both): the stochastic part is a mean of s i.i.d. samples xᵢ, so the
 * interval is  estimate ± t_{s−1,(1+c)/2} · std(xᵢ) / √s  (Student t, sample std with s − 1);
 * for Hutch++ it is conditional on the sketch Q (the exact part adds no variance given Q).
 */
import type { Tensor } from '../backends/backend.js';
import { fail } from '../errors.js';
import { type LinearOperator, applyOperator } from './operator.js';
import { probeRng, rademacher } from './probes.js';
import { meanInterval } from './stats.js';

export interface TraceOptions {
  /** Seed of the probes (default 0). */
  seed?: number;
  /** Confidence level of the interval (default 0.95). */
  confidence?: number;
}

export interface TraceEstimate {
  method: 'hutchinson' | 'hutch++';
  estimate: number;
  /** Standard error of the stochastic part. */
  stderr: number;
  /** Two-sided interval at `confidence` (see the module comment for the formula). */
  interval: [number, number];
  confidence: number;
  /** Operator products used. */
  matvecs: number;
  /** The i.i.d. samples the interval comes from (Hutchinson: zᵀAz; Hutch++: the deflated zᵀAz). */
  samples: number[];
  /** Hutch++ only: tr(Qᵀ A Q), the exact low-rank part, and Q's rank. */
  lowRank?: { trace: number; rank: number };
}

function checkConfidence(c: number): void {
  if (!(c > 0 && c < 1)) fail('E_ARG', `confidence must be in (0, 1), got ${c}`, { field: 'confidence' });
}

async function readScalar(op: LinearOperator, t: Tensor): Promise<number> {
  const v = (await op.backend.read(t))[0]!;
  op.backend.free(t);
  return v;
}

/** zᵀ A z (one product). */
async function quadratic(op: LinearOperator, z: Tensor): Promise<number> {
  const az = await applyOperator(op, z);
  const v = await readScalar(op, op.backend.dot(z, az));
  op.backend.free(az);
  return v;
}

/** Hutchinson's estimator with `probes` Rademacher vectors (default 100, PyHessian's maxIter). */
export async function hutchinson(op: LinearOperator, options: TraceOptions & { probes?: number } = {}): Promise<TraceEstimate> {
  const probes = options.probes ?? 100;
  if (!Number.isSafeInteger(probes) || probes < 2) fail('E_ARG', `probes must be an integer ≥ 2, got ${probes}`, { field: 'probes' });
  const confidence = options.confidence ?? 0.95;
  checkConfidence(confidence);
  const rng = probeRng(options.seed ?? 0, 'hutchinson');
  const b = op.backend;
  const samples: number[] = [];
  for (let i = 0; i < probes; i++) {
    const z = b.upload(rademacher(op.size, rng), [1, op.size]);
    samples.push(await quadratic(op, z));
    b.free(z);
  }
  const ci = meanInterval(samples, confidence);
  return { method: 'hutchinson', estimate: ci.mean, stderr: ci.stderr, interval: ci.interval, confidence, matvecs: probes, samples };
}

/**
 * Hutch++ with a budget of `matvecs` products (default 99; rounded down to a multiple of 3, at
 * least 6): a third sketches the top of the spectrum, a third measures it exactly, a third runs
 * Hutchinson on the rest.
 */
export async function hutchPlusPlus(op: LinearOperator, options: TraceOptions & { matvecs?: number } = {}): Promise<TraceEstimate> {
  const budget = options.matvecs ?? 99;
  if (!Number.isSafeInteger(budget) || budget < 6) fail('E_ARG', `matvecs must be an integer ≥ 6, got ${budget}`, { field: 'matvecs' });
  const confidence = options.confidence ?? 0.95;
  checkConfidence(confidence);
  const n = op.size;
  const s = Math.floor(budget / 3);
  const sketch = Math.min(s, n);
  const rng = probeRng(options.seed ?? 0, 'hutch++');
  const b = op.backend;
  // Q = orth(A S), rows of a [sketch, n] tensor; rank-deficient columns are dropped.
  const q = b.zeros([sketch, n]);
  let rank = 0;
  let used = 0;
  const projectOut = (w: Tensor): Tensor => {
    const c = b.matmul(w, q, false, true);
    const p = b.matmul(c, q);
    const out = b.axpy(-1, p, w);
    b.free(c);
    b.free(p);
    return out;
  };
  const deflate = (w: Tensor): Tensor => {
    const w1 = projectOut(w);
    const w2 = projectOut(w1);
    b.free(w1);
    return w2;
  };
  for (let i = 0; i < sketch; i++) {
    const z = b.upload(rademacher(n, rng), [1, n]);
    const az = await applyOperator(op, z);
    used++;
    b.free(z);
    const w = deflate(az);
    const azNorm = Math.sqrt(await readScalar(op, b.dot(az, az)));
    b.free(az);
    const norm = Math.sqrt(await readScalar(op, b.dot(w, w)));
    if (norm > 1e-5 * azNorm && norm > 0) {
      const unit = b.scale(1 / norm, w);
      b.copyInto(q, rank * n, unit);
      b.free(unit);
      rank++;
    }
    b.free(w);
  }
  let lowRankTrace = 0;
  for (let i = 0; i < rank; i++) {
    const qi = b.slice(q, i * n, [1, n]);
    lowRankTrace += await quadratic(op, qi);
    used++;
    b.free(qi);
  }
  // Hutchinson on (I − QQᵀ) A (I − QQᵀ): gᵀ(I−QQᵀ)A(I−QQᵀ)g = hᵀ A h with h = (I − QQᵀ) g.
  const samples: number[] = [];
  for (let i = 0; i < s; i++) {
    const g = b.upload(rademacher(n, rng), [1, n]);
    const h = deflate(g);
    b.free(g);
    samples.push(await quadratic(op, h));
    used++;
    b.free(h);
  }
  b.free(q);
  const ci = meanInterval(samples, confidence);
  return {
    method: 'hutch++',
    estimate: lowRankTrace + ci.mean,
    stderr: ci.stderr,
    interval: [lowRankTrace + ci.interval[0], lowRankTrace + ci.interval[1]],
    confidence,
    matvecs: used,
    samples,
    lowRank: { trace: lowRankTrace, rank },
  };
}
