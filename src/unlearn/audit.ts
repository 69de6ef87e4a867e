/**
 * A REMIND-style audit of what was really forgotten: residual memorisation shows in the *input*
 * loss landscape — around a sample the model was trained on, the loss stays lower and flatter under
 * small input perturbations than around a sample it never saw. The paper's code is not public;
 * every choice below is ours (docs/unlearning.md, "The audit"):
 *
 *   - K perturbation directions z_1 … z_K, uniform on the unit sphere of the input space (Gaussian,
 *     normalised), drawn once from the seed and shared by every sample (common random numbers: the
 *     samples are compared on the same neighbourhood);
 *   - radii ε_1 … ε_E in input units (the standardised pixels of the bundled datasets): x + ε·z_j;
 *   - the sign-of-gradient (FGSM) copy at each radius, on the same sphere: x + ε·s/‖s‖₂ with
 *     s = sign(∇ₓℓ(x)) (so it is compared with the Gaussian copies at equal distance; the literal
 *     x + ε·s of an L∞ ball would lie √D times further out — 28× on MNIST);
 *   - one pass per batch of B samples on the device: one backward for the B input gradients (their
 *     signs taken on the host), then the B·(E·K + E + 1) inputs (each sample unperturbed, at every
 *     radius and direction, and its FGSM copies) gathered, perturbed and evaluated by one forward call;
 *   - per sample: the loss ℓ(x); per radius the mean, standard deviation and maximum of the loss
 *     increase ℓ(x + εz) − ℓ(x) over the K directions, and the FGSM copy's increase; the slope of the
 *     mean increase over ε (least squares through the origin); the score = ℓ(x) plus, averaged over
 *     the radii, the mean of (mean Gaussian increase, FGSM increase) — the average neighbour and
 *     the locally worst one weighted alike; lower looks more like a member;
 *   - telling three states apart — retained (trained on and kept), forgotten, never seen — with a
 *     one-vs-rest logistic regression per state, and one per pair of states, scored by 5-fold
 *     cross-validation, reported as ROC-AUCs, once on the single-point loss alone and once on all
 *     neighbourhood features, so the difference is what the neighbourhood adds. Each feature enters
 *     as its rank r in the pooled samples (label-free, so no leak across folds) as r − ½ and
 *     (r − ½)²: losses and increases span many decades (10⁻⁶ … 10 on an overfit model), and on raw
 *     values the few largest decide a linear fit; on ranks the loss alone scores its threshold AUC,
 *     and the square lets a middle band be a state.
 */
import type { Backend, Tensor } from '../backends/backend.js';
import { fail } from '../errors.js';
import type { Mlp } from '../model/mlp.js';
import { Rng } from '../model/rng.js';
import { fitLogistic, rocAuc } from './metrics.js';

export interface AuditOptions {
  /** Directions per radius (default 32). */
  k: number;
  /** Radii in input units, ascending, positive (default 0.5, 1, 2, 4). */
  eps: number[];
  seed: number;
  /** Samples per device pass (default 64). */
  batch: number;
}

export const AUDIT_DEFAULTS: AuditOptions = { k: 32, eps: [0.5, 1, 2, 4], seed: 0, batch: 64 };

export function checkAuditOptions(o: AuditOptions): void {
  if (!Number.isInteger(o.k) || o.k < 1 || o.k > 4096) fail('E_ARG', `expected an integer in 1..4096, got ${o.k}`, { field: '--k' });
  if (!Array.isArray(o.eps) || o.eps.length === 0 || o.eps.some((e) => !(Number.isFinite(e) && e > 0))) fail('E_ARG', `expected positive radii, got ${JSON.stringify(o.eps)}`, { field: '--eps' });
  for (let i = 1; i < o.eps.length; i++) if (!(o.eps[i]! > o.eps[i - 1]!)) fail('E_ARG', `radii must increase, got ${o.eps.join(',')}`, { field: '--eps' });
  if (!Number.isInteger(o.batch) || o.batch < 1) fail('E_ARG', `expected a positive integer, got ${o.batch}`, { field: '--batch' });
}

/** Per-sample neighbourhood statistics, one entry per queried row. */
export interface Neighbourhood {
  eps: number[];
  k: number;
  loss: Float64Array;
  /** [n, E] row-major: mean, standard deviation and maximum of ℓ(x + εz) − ℓ(x) over the directions. */
  meanIncrease: Float64Array;
  stdIncrease: Float64Array;
  maxIncrease: Float64Array;
  /** [n, E]: ℓ(x + ε·s/‖s‖₂) − ℓ(x), s = sign(∇ₓℓ(x)) (0 where the gradient is 0). */
  fgsmIncrease: Float64Array;
  slope: Float64Array;
  score: Float64Array;
}

/** The K unit directions [K, D] (Gaussian, normalised) of a seed. */
export function auditDirections(k: number, d: number, seed: number): Float32Array {
  const rng = Rng.derive(seed, 'audit/directions');
  const z = new Float32Array(k * d);
  for (let j = 0; j < k; j++) {
    let n2 = 0;
    const row = new Float64Array(d);
    for (let i = 0; i < d; i += 2) {
      // Box–Muller: two normals per pair of uniforms
      const u = 1 - rng.next();
      const v = rng.next();
      const r = Math.sqrt(-2 * Math.log(u));
      row[i] = r * Math.cos(2 * Math.PI * v);
      if (i + 1 < d) row[i + 1] = r * Math.sin(2 * Math.PI * v);
    }
    for (let i = 0; i < d; i++) n2 += row[i]! * row[i]!;
    const s = 1 / Math.sqrt(n2);
    for (let i = 0; i < d; i++) z[j * d + i] = row[i]! * s;
  }
  return z;
}

/**
 * The neighbourhood statistics of rows `rows` of x [N, D] (labels per row of x): for each batch,
 * one forward pass over every sample unperturbed and at every radius and direction.
 */
export async function auditNeighbourhood(model: Mlp, x: Tensor, labels: Int32Array, rows: Int32Array, options: Partial<AuditOptions> = {}): Promise<Neighbourhood> {
  const o: AuditOptions = { ...AUDIT_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) };
  checkAuditOptions(o);
  const b: Backend = model.backend;
  const D = x.shape[1]!;
  const E = o.eps.length;
  const K = o.k;
  const M = E * K + 1; // shared copies per sample: the centre, then radius-major directions
  const C = M + E; // and each sample's own FGSM copies, one per radius
  // Offsets [M, D]: a zero row, then ε_e·z_j.
  const z = auditDirections(K, D, o.seed);
  const offsets = new Float32Array(M * D);
  for (let e = 0; e < E; e++) for (let j = 0; j < K; j++) for (let i = 0; i < D; i++) offsets[(1 + e * K + j) * D + i] = o.eps[e]! * z[j * D + i]!;
  const n = rows.length;
  const out: Neighbourhood = {
    eps: [...o.eps],
    k: K,
    loss: new Float64Array(n),
    meanIncrease: new Float64Array(n * E),
    stdIncrease: new Float64Array(n * E),
    maxIncrease: new Float64Array(n * E),
    fgsmIncrease: new Float64Array(n * E),
    slope: new Float64Array(n),
    score: new Float64Array(n),
  };
  for (let s = 0; s < n; s += o.batch) {
    const part = rows.subarray(s, Math.min(n, s + o.batch));
    const B = part.length;
    // The B input gradients (one backward), their signs scaled onto each radius's sphere: rows
    // M + r·E + e of this batch's offsets, after the shared ones.
    const fgsm = await fgsmOffsets(model, x, labels, part, o.eps);
    const batchOffsets = new Float32Array((M + B * E) * D);
    batchOffsets.set(offsets);
    batchOffsets.set(fgsm, M * D);
    const rep = new Int32Array(B * C);
    const dir = new Int32Array(B * C);
    const lab = new Int32Array(B * C);
    for (let r = 0; r < B; r++) {
      for (let m = 0; m < C; m++) {
        rep[r * C + m] = part[r]!;
        dir[r * C + m] = m < M ? m : M + r * E + (m - M);
        lab[r * C + m] = labels[part[r]!]!;
      }
    }
    const off = b.upload(batchOffsets, [M + B * E, D]);
    const repT = b.uploadInt(rep, [B * C]);
    const dirT = b.uploadInt(dir, [B * C]);
    const xs = b.gatherRows(x, repT);
    const os = b.gatherRows(off, dirT);
    b.free(off);
    b.free(repT);
    b.free(dirT);
    const xp = b.axpy(1, os, xs);
    b.free(xs);
    b.free(os);
    const y = b.uploadInt(lab, [B * C]);
    const lossT = model.perSampleLoss(xp, y);
    b.free(xp);
    b.free(y);
    const loss = await b.read(lossT);
    b.free(lossT);
    for (let r = 0; r < B; r++) {
      const i = s + r;
      const l0 = loss[r * C]!;
      out.loss[i] = l0;
      let num = 0;
      let den = 0;
      let meanAll = 0;
      for (let e = 0; e < E; e++) {
        let sum = 0;
        let sq = 0;
        let mx = -Infinity;
        for (let j = 0; j < K; j++) {
          const d = loss[r * C + 1 + e * K + j]! - l0;
          sum += d;
          sq += d * d;
          if (d > mx) mx = d;
        }
        const mean = sum / K;
        out.meanIncrease[i * E + e] = mean;
        out.stdIncrease[i * E + e] = Math.sqrt(Math.max(0, sq / K - mean * mean));
        out.maxIncrease[i * E + e] = mx;
        const f = loss[r * C + M + e]! - l0;
        out.fgsmIncrease[i * E + e] = f;
        num += o.eps[e]! * mean;
        den += o.eps[e]! * o.eps[e]!;
        meanAll += (mean + f) / (2 * E);
      }
      out.slope[i] = num / den;
      out.score[i] = l0 + meanAll;
    }
  }
  return out;
}

/**
 * FGSM offsets [B·E, D] of rows `part` of x: row r·E + e is ε_e·s/‖s‖₂, s = sign(∇ₓℓ) of sample r
 * (the zero row where the gradient is exactly 0). One backward on the device; the gradient rows
 * come back for the signs (B·D floats: one input row per sample, against the B·(E·K + E + 1)
 * rows of the forward that follows).
 */
export async function fgsmOffsets(model: Mlp, x: Tensor, labels: Int32Array, part: Int32Array, eps: readonly number[]): Promise<Float32Array> {
  const b = model.backend;
  const D = x.shape[1]!;
  const B = part.length;
  const E = eps.length;
  const idx = b.uploadInt(part, [B]);
  const xb = b.gatherRows(x, idx);
  b.free(idx);
  const yb = b.uploadInt(Int32Array.from(part, (r) => labels[r]!), [B]);
  const { loss, grad } = model.inputGradients(xb, yb);
  b.free(xb);
  b.free(yb);
  b.free(loss);
  const g = await b.read(grad);
  b.free(grad);
  const out = new Float32Array(B * E * D);
  for (let r = 0; r < B; r++) {
    let nnz = 0;
    for (let i = 0; i < D; i++) if (g[r * D + i] !== 0) nnz++;
    if (nnz === 0) continue;
    const unit = 1 / Math.sqrt(nnz);
    for (let e = 0; e < E; e++) {
      const a = eps[e]! * unit;
      const o = (r * E + e) * D;
      for (let i = 0; i < D; i++) {
        const v = g[r * D + i]!;
        out[o + i] = v > 0 ? a : v < 0 ? -a : 0;
      }
    }
  }
  return out;
}

/**
 * Feature rows of a neighbourhood: the single-point loss, or that and every statistic (raw values;
 * the classifiers rank them, `rankFeatures`).
 */
export function auditFeatures(nb: Neighbourhood, which: 'point' | 'neighbourhood'): number[][] {
  const E = nb.eps.length;
  return Array.from({ length: nb.loss.length }, (_, i) => {
    const l = nb.loss[i]!;
    if (which === 'point') return [l];
    const f = [l, nb.slope[i]!, nb.score[i]!];
    for (let e = 0; e < E; e++) f.push(nb.meanIncrease[i * E + e]!, nb.stdIncrease[i * E + e]!, nb.maxIncrease[i * E + e]!, nb.fgsmIncrease[i * E + e]!);
    return f;
  });
}

/**
 * Each column replaced by its pooled rank r ∈ (0, 1) (mid-ranks for ties), entering as r − ½ and
 * (r − ½)². Uses no labels, so ranking all rows before the cross-validation leaks nothing.
 */
export function rankFeatures(X: readonly (readonly number[])[]): number[][] {
  const n = X.length;
  const d = X[0]?.length ?? 0;
  const out = X.map(() => new Array<number>(2 * d));
  for (let j = 0; j < d; j++) {
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => X[a]![j]! - X[b]![j]!);
    for (let s = 0; s < n; ) {
      let t = s;
      while (t < n && X[order[t]!]![j] === X[order[s]!]![j]) t++;
      const r = (s + t) / 2 / n - 0.5; // mid-rank of the tie group, in (−½, ½)
      for (let u = s; u < t; u++) {
        out[order[u]!]![2 * j] = r;
        out[order[u]!]![2 * j + 1] = r * r;
      }
      s = t;
    }
  }
  return out;
}

export const AUDIT_STATES = ['retained', 'forgotten', 'unseen'] as const;
export type AuditState = (typeof AUDIT_STATES)[number];

export interface StateAuc {
  /** Per state: ROC-AUC of its one-vs-rest classifier's cross-validated probability. */
  perState: Record<AuditState, number>;
  /** Mean of the three. */
  macro: number;
  /** Forgotten vs never seen alone (the question after unlearning), from the same probabilities. */
  forgottenVsUnseen: number;
}

/**
 * Cross-validated AUC of telling two groups of feature rows apart (`pos` the positives): a logistic
 * regression fit on the other folds scores each fold (`folds`-fold, stratified: each group's rows
 * dealt to the folds by a seeded permutation, so every fit sees the same group proportions). Unlike the three-state classifiers, it asks one question — e.g. forgotten vs never
 * seen — which stays answerable when a third state looks like one of the two.
 */
/** Fold of each row of groups laid end to end: within each group a seeded permutation dealt round-robin. */
function stratifiedFolds(sizes: readonly number[], folds: number, rng: Rng): Int32Array {
  const fold = new Int32Array(sizes.reduce((a, v) => a + v, 0));
  let at = 0;
  let next = 0;
  for (const size of sizes) {
    rng.permutation(size).forEach((row) => (fold[at + row] = next++ % folds));
    at += size;
  }
  return fold;
}

export function pairAuc(pos: readonly number[][], neg: readonly number[][], folds = 5, seed = 0): number {
  if (pos.length < folds || neg.length < folds) fail('E_ARG', `each group needs at least ${folds} samples`, { field: '--samples' });
  const X = rankFeatures([...pos, ...neg]);
  const y = X.map((_, i) => (i < pos.length ? 1 : 0));
  const n = X.length;
  const fold = stratifiedFolds([pos.length, neg.length], folds, Rng.derive(seed, 'audit/pair-folds'));
  const prob = new Float64Array(n);
  for (let f = 0; f < folds; f++) {
    const rows: number[] = [];
    for (let i = 0; i < n; i++) if (fold[i] !== f) rows.push(i);
    const clf = fitLogistic(rows.map((i) => X[i]!), rows.map((i) => y[i]!));
    for (let i = 0; i < n; i++) if (fold[i] === f) prob[i] = clf.predict(X[i]!);
  }
  return rocAuc(prob.subarray(0, pos.length), prob.subarray(pos.length));
}

/**
 * Cross-validated one-vs-rest AUCs of telling the three states apart from feature rows
 * (`folds`-fold, samples assigned to folds by a seeded permutation).
 */
export function stateAuc(features: Record<AuditState, number[][]>, folds = 5, seed = 0): StateAuc {
  const X: number[][] = [];
  const y: number[] = [];
  AUDIT_STATES.forEach((s, c) => {
    for (const f of features[s]) {
      X.push(f);
      y.push(c);
    }
  });
  const n = X.length;
  if (AUDIT_STATES.some((s) => features[s].length < folds)) fail('E_ARG', `each state needs at least ${folds} samples`, { field: '--samples' });
  const R = rankFeatures(X);
  const fold = stratifiedFolds(AUDIT_STATES.map((s) => features[s].length), folds, Rng.derive(seed, 'audit/folds'));
  const prob = AUDIT_STATES.map(() => new Float64Array(n));
  for (let f = 0; f < folds; f++) {
    const trainRows: number[] = [];
    for (let i = 0; i < n; i++) if (fold[i] !== f) trainRows.push(i);
    AUDIT_STATES.forEach((_, c) => {
      const clf = fitLogistic(trainRows.map((i) => R[i]!), trainRows.map((i) => (y[i] === c ? 1 : 0)));
      for (let i = 0; i < n; i++) if (fold[i] === f) prob[c]![i] = clf.predict(R[i]!);
    });
  }
  const perState = {} as Record<AuditState, number>;
  AUDIT_STATES.forEach((s, c) => {
    const pos: number[] = [];
    const neg: number[] = [];
    for (let i = 0; i < n; i++) (y[i] === c ? pos : neg).push(prob[c]![i]!);
    perState[s] = rocAuc(pos, neg);
  });
  // forgotten vs unseen: the forgotten-vs-rest probability on those two groups only
  const fg: number[] = [];
  const un: number[] = [];
  for (let i = 0; i < n; i++) {
    if (y[i] === 1) fg.push(prob[1]![i]!);
    if (y[i] === 2) un.push(prob[1]![i]!);
  }
  return { perState, macro: (perState.retained + perState.forgotten + perState.unseen) / 3, forgottenVsUnseen: rocAuc(fg, un) };
}
