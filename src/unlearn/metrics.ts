/**
 * What unlearning is judged by, all on the host in float64 from the model's logits:
 *
 *   accuracy and mean cross-entropy on the forget, retain and test sets (UA = 100 − forget accuracy);
 *   membership inference —
 *     loss-threshold AUC: ROC-AUC of −loss telling forget samples (members if unlearning failed)
 *       from test samples of the same classes; 0.5 = indistinguishable;
 *     MIA-efficacy (SalUn / ℓ1-sparse): a classifier on per-sample features (confidence p_y,
 *       entropy, modified entropy) trained on retain = member vs test = non-member, applied to the
 *       forget set; the fraction it calls non-member. Here the classifier is a logistic regression
 *       (standardised features, Newton's method with a small ridge), not the papers' SVM, and the
 *       retain side is subsampled to the test set's size so the two classes weigh the same;
 *   mean KL(p_retrained ‖ p_model) over the forget and the test set (0 for the retrained model itself).
 */
import type { Backend, Tensor } from '../backends/backend.js';
import { fail } from '../errors.js';
import type { Mlp } from '../model/mlp.js';
import { Rng } from '../model/rng.js';

/** Logits [rows.length, C] of rows `rows` of x (row-major), in chunks of `batch` rows. */
export async function predictLogits(model: Mlp, x: Tensor, rows: Int32Array, batch = 2048): Promise<{ logits: Float32Array; classes: number }> {
  const b: Backend = model.backend;
  let classes = 0;
  const parts: Float32Array[] = [];
  for (let s = 0; s < rows.length; s += batch) {
    const idx = b.uploadInt(rows.subarray(s, Math.min(rows.length, s + batch)), [Math.min(batch, rows.length - s)]);
    const xb = b.gatherRows(x, idx);
    b.free(idx);
    const z = model.forward(xb);
    b.free(xb);
    classes = z.shape[1]!;
    parts.push(await b.read(z));
    b.free(z);
  }
  const logits = new Float32Array(rows.length * classes);
  let at = 0;
  for (const p of parts) {
    logits.set(p, at);
    at += p.length;
  }
  return { logits, classes };
}

/** Per-sample quantities of logits [n, C] with labels [n]. */
export interface SampleStats {
  n: number;
  classes: number;
  loss: Float64Array;
  correct: Uint8Array;
  /** Log-softmax [n, C]. */
  logp: Float64Array;
  /** p_y. */
  confidence: Float64Array;
  /** −Σ p log p. */
  entropy: Float64Array;
  /** Song & Mittal's modified entropy: −(1 − p_y) log p_y − Σ_{c≠y} p_c log(1 − p_c). */
  mentropy: Float64Array;
}

const TINY = 1e-30;

export function sampleStats(logits: Float32Array, labels: ArrayLike<number>, classes: number): SampleStats {
  const n = labels.length;
  const s: SampleStats = {
    n,
    classes,
    loss: new Float64Array(n),
    correct: new Uint8Array(n),
    logp: new Float64Array(n * classes),
    confidence: new Float64Array(n),
    entropy: new Float64Array(n),
    mentropy: new Float64Array(n),
  };
  for (let i = 0; i < n; i++) {
    const row = i * classes;
    const y = labels[i]!;
    let mx = -Infinity;
    let arg = 0;
    for (let c = 0; c < classes; c++) {
      const v = logits[row + c]!;
      if (v > mx) {
        mx = v;
        arg = c;
      }
    }
    let z = 0;
    for (let c = 0; c < classes; c++) z += Math.exp(logits[row + c]! - mx);
    const lz = Math.log(z) + mx;
    let ent = 0;
    let ment = 0;
    for (let c = 0; c < classes; c++) {
      const lp = logits[row + c]! - lz;
      s.logp[row + c] = lp;
      const p = Math.exp(lp);
      ent -= p * lp;
      if (c === y) ment -= (1 - p) * Math.log(Math.max(p, TINY));
      else ment -= p * Math.log(Math.max(1 - p, TINY));
    }
    s.loss[i] = -s.logp[row + y]!;
    s.correct[i] = arg === y ? 1 : 0;
    s.confidence[i] = Math.exp(s.logp[row + y]!);
    s.entropy[i] = ent;
    s.mentropy[i] = ment;
  }
  return s;
}

export function accuracyOf(s: SampleStats, rows?: ArrayLike<number>): number {
  const n = rows ? rows.length : s.n;
  let c = 0;
  for (let j = 0; j < n; j++) c += s.correct[rows ? rows[j]! : j]!;
  return n ? c / n : NaN;
}

export function meanLossOf(s: SampleStats, rows?: ArrayLike<number>): number {
  let t = 0;
  const n = rows ? rows.length : s.n;
  for (let j = 0; j < n; j++) t += s.loss[rows ? rows[j]! : j]!;
  return n ? t / n : NaN;
}

/**
 * ROC-AUC of scores: the probability that a positive scores above a negative, ties counting half
 * (the Mann–Whitney U statistic over |pos|·|neg|). NaN when either side is empty.
 */
export function rocAuc(pos: ArrayLike<number>, neg: ArrayLike<number>): number {
  const np = pos.length;
  const nn = neg.length;
  if (np === 0 || nn === 0) return NaN;
  const all: [number, number][] = [];
  for (let i = 0; i < np; i++) all.push([pos[i]!, 1]);
  for (let i = 0; i < nn; i++) all.push([neg[i]!, 0]);
  all.sort((a, b) => a[0] - b[0]);
  // Sum of the positives' (mid-)ranks.
  let rankSum = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && all[j]![0] === all[i]![0]) j++;
    const mid = (i + 1 + j) / 2;
    for (let t = i; t < j; t++) if (all[t]![1] === 1) rankSum += mid;
    i = j;
  }
  return (rankSum - (np * (np + 1)) / 2) / (np * nn);
}

/** Loss-threshold MIA: AUC of −loss with members positive (a lower loss looks like a member). */
export function lossMiaAuc(memberLoss: ArrayLike<number>, nonMemberLoss: ArrayLike<number>): number {
  return rocAuc(Array.from(memberLoss, (v) => -v), Array.from(nonMemberLoss, (v) => -v));
}

/** A fitted logistic regression on standardised features. */
export interface Logistic {
  /** P(y = 1 | x). */
  predict(x: readonly number[]): number;
  weights: number[];
  iterations: number;
}

/**
 * Logistic regression by Newton's method (IRLS) on standardised features with a ridge `l2` on the
 * weights (not the intercept), which keeps separable data finite.
 */
export function fitLogistic(X: readonly (readonly number[])[], y: ArrayLike<number>, l2 = 1e-3, maxIter = 100): Logistic {
  const n = X.length;
  const d = X[0]?.length ?? 0;
  const mean = new Array<number>(d).fill(0);
  const std = new Array<number>(d).fill(0);
  for (const r of X) r.forEach((v, j) => (mean[j]! += v / n));
  for (const r of X) r.forEach((v, j) => (std[j]! += (v - mean[j]!) ** 2 / n));
  for (let j = 0; j < d; j++) std[j] = Math.sqrt(std[j]!) || 1;
  const Z = X.map((r) => [1, ...r.map((v, j) => (v - mean[j]!) / std[j]!)]);
  const w = new Array<number>(d + 1).fill(0);
  let it = 0;
  for (; it < maxIter; it++) {
    const g = new Array<number>(d + 1).fill(0);
    const H = Array.from({ length: d + 1 }, () => new Array<number>(d + 1).fill(0));
    for (let i = 0; i < n; i++) {
      const z = Z[i]!;
      let t = 0;
      for (let j = 0; j <= d; j++) t += w[j]! * z[j]!;
      const p = 1 / (1 + Math.exp(-t));
      const r = p - y[i]!;
      const s = p * (1 - p);
      for (let j = 0; j <= d; j++) {
        g[j]! += r * z[j]!;
        for (let k = 0; k <= d; k++) H[j]![k]! += s * z[j]! * z[k]!;
      }
    }
    for (let j = 1; j <= d; j++) {
      g[j]! += l2 * n * w[j]!;
      H[j]![j]! += l2 * n;
    }
    H[0]![0]! += 1e-12 * n;
    const step = solveSmall(H, g);
    let moved = 0;
    for (let j = 0; j <= d; j++) {
      w[j]! -= step[j]!;
      moved = Math.max(moved, Math.abs(step[j]!));
    }
    if (moved < 1e-10) break;
  }
  return {
    weights: w,
    iterations: it + 1,
    predict: (x) => {
      let t = w[0]!;
      for (let j = 0; j < d; j++) t += w[j + 1]! * ((x[j]! - mean[j]!) / std[j]!);
      return 1 / (1 + Math.exp(-t));
    },
  };
}

/** Solves A x = b (small, dense) by Gaussian elimination with partial pivoting. */
function solveSmall(A: number[][], b: number[]): number[] {
  const n = b.length;
  const M = A.map((r, i) => [...r, b[i]!]);
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r]![c]!) > Math.abs(M[piv]![c]!)) piv = r;
    [M[c], M[piv]] = [M[piv]!, M[c]!];
    const d = M[c]![c]! || 1e-300;
    for (let r = c + 1; r < n; r++) {
      const f = M[r]![c]! / d;
      for (let k = c; k <= n; k++) M[r]![k]! -= f * M[c]![k]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let v = M[r]![n]!;
    for (let k = r + 1; k < n; k++) v -= M[r]![k]! * x[k]!;
    x[r] = v / (M[r]![r]! || 1e-300);
  }
  return x;
}

export type MiaFeature = 'confidence' | 'entropy' | 'mentropy';
export const MIA_FEATURES: readonly MiaFeature[] = ['confidence', 'entropy', 'mentropy'];

/** The features of rows `rows` of a SampleStats. */
function features(s: SampleStats, rows: ArrayLike<number>, which: readonly MiaFeature[]): number[][] {
  return Array.from({ length: rows.length }, (_, j) => which.map((f) => s[f][rows[j]!]!));
}

export interface MiaEfficacy {
  /** Fraction of the forget set the classifier on all three features calls non-member. */
  all: number;
  /** The same with a classifier on one feature each (SalUn reports confidence). */
  confidence: number;
  entropy: number;
  mentropy: number;
}

/**
 * SalUn's MIA-efficacy with logistic regression: trained on retain (member, label 1, subsampled to
 * the test set's size with `Rng.derive(seed, "mia")`) vs test (non-member, label 0); the fraction of
 * forget rows with P(member) < 0.5.
 */
export function miaEfficacy(
  stats: { retain: SampleStats; test: SampleStats; forget: SampleStats },
  seed = 0,
): MiaEfficacy {
  const nTest = stats.test.n;
  const perm = Rng.derive(seed, 'mia').permutation(stats.retain.n);
  const members = perm.subarray(0, Math.min(nTest, stats.retain.n));
  const testRows = Int32Array.from({ length: nTest }, (_, i) => i);
  const forgetRows = Int32Array.from({ length: stats.forget.n }, (_, i) => i);
  const run = (which: readonly MiaFeature[]): number => {
    const X = [...features(stats.retain, members, which), ...features(stats.test, testRows, which)];
    const y = [...new Array<number>(members.length).fill(1), ...new Array<number>(nTest).fill(0)];
    const clf = fitLogistic(X, y);
    const F = features(stats.forget, forgetRows, which);
    let non = 0;
    for (const f of F) if (clf.predict(f) < 0.5) non++;
    return F.length ? non / F.length : NaN;
  };
  return { all: run(MIA_FEATURES), confidence: run(['confidence']), entropy: run(['entropy']), mentropy: run(['mentropy']) };
}

/** Mean over rows of KL(p_ref ‖ p) = Σ_c p_ref (log p_ref − log p), from two log-softmax tables. */
export function meanKl(ref: SampleStats, model: SampleStats): number {
  const n = ref.n;
  const C = ref.classes;
  if (model.n !== n || model.classes !== C) fail('E_INTERNAL', `meanKl: ${n}×${C} vs ${model.n}×${model.classes}`);
  let total = 0;
  for (let i = 0; i < n; i++) {
    let kl = 0;
    for (let c = 0; c < C; c++) {
      const lr = ref.logp[i * C + c]!;
      kl += Math.exp(lr) * (lr - model.logp[i * C + c]!);
    }
    total += kl;
  }
  return n ? total / n : NaN;
}
