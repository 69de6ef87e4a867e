/**
 * CCS, coverage-centric coreset selection — Zheng, Liu, Li, Prakash, "Coverage-centric Coreset
 * Selection for High Pruning Rates" (ICLR 2023), over ANY per-sample score.
 *
 * Per class c with budget k_c (class-balanced: every class stratifies its own samples):
 *  1. Hard cutoff: drop the floor(β·n_c) hardest samples of the class (β = `cutoff`; which end is
 *     "hard" is `cut`: the highest scores for EL2N/forgetting/dynamic uncertainty, the lowest for
 *     AUM; see methods.ts for each method's default).
 *  2. Split the remaining scores' range [min, max] into `strata` equal-width bins
 *     (bin = min(k−1, ⌊(s − min)/width⌋)).
 *  3. Iterative budget sharing: visit the non-empty strata from the smallest; each takes
 *     m = min(|stratum|, ⌊budget_left / strata_left⌋) samples uniformly at random (seeded), so
 *     what small strata cannot use flows to the larger ones; the last stratum takes the rest.
 * If the pool left after the cutoff is smaller than k_c, all of it is taken (perClassSelected
 * reports the real count). Excluded samples never enter the pool. Indices are grouped by class
 * ascending, ascending by sample index within a class (a stratified sample has no rank order).
 */
import { fail } from '../errors.js';
import { Rng } from '../model/rng.js';
import { type Budget, type BudgetOptions, budgetPerClassWith, excludedMask, validateBudgetOptions } from './select.js';

export interface CcsOptions {
  /** β, the fraction of each class's hardest samples pruned first (0 ≤ β < 1). Default 0. */
  cutoff?: number;
  /** Number of equal-width strata k (default 50, the paper's). */
  strata?: number;
  /** The end of the score cut as "hard". */
  cut: 'high' | 'low';
  seed?: number;
}

export function validateCcsOptions(o: CcsOptions): void {
  const b = o.cutoff ?? 0;
  if (!(b >= 0 && b < 1)) fail('E_ARG', `the hard cutoff β must satisfy 0 ≤ β < 1, got ${o.cutoff}`, { field: '--cutoff' });
  const k = o.strata ?? 50;
  if (!Number.isInteger(k) || k < 1) fail('E_ARG', `strata must be an integer ≥ 1, got ${o.strata}`, { field: '--strata' });
  if (o.cut !== 'high' && o.cut !== 'low') fail('E_ARG', `cut must be high or low, got "${o.cut}"`, { field: '--cut' });
}

/** CCS inside one pool of sample indices (one class); returns the chosen indices, ascending. */
export function ccsPool(pool: Int32Array, scores: Float32Array, budget: number, o: CcsOptions, rng: Rng): Int32Array {
  validateCcsOptions(o);
  const n = pool.length;
  // hardest first, ties by index (stable: pool is ascending)
  const sign = o.cut === 'high' ? -1 : 1;
  const order = Array.from(pool).sort((a, b) => sign * (scores[a]! - scores[b]!) || a - b);
  const kept = order.slice(Math.floor((o.cutoff ?? 0) * n));
  if (budget >= kept.length) return Int32Array.from(kept).sort();
  if (budget <= 0) return new Int32Array(0);
  let lo = Infinity;
  let hi = -Infinity;
  for (const i of kept) {
    lo = Math.min(lo, scores[i]!);
    hi = Math.max(hi, scores[i]!);
  }
  const K = o.strata ?? 50;
  const width = (hi - lo) / K;
  // Only non-empty strata take part, so only they are kept: memory is O(samples) for any number
  // of strata (an array of K bins made `--strata 1e9` allocate 10^9 arrays and hang).
  const bins = new Map<number, number[]>();
  for (const i of kept) {
    const b = width > 0 ? Math.min(K - 1, Math.floor((scores[i]! - lo) / width)) : 0;
    const list = bins.get(b);
    if (list) list.push(i);
    else bins.set(b, [i]);
  }
  const strata = Array.from(bins, ([j, b]) => ({ j, b: b.sort((x, y) => x - y) }));
  strata.sort((x, y) => x.b.length - y.b.length || x.j - y.j);
  const out: number[] = [];
  let left = budget;
  for (let s = 0; s < strata.length; s++) {
    const members = strata[s]!.b;
    const m = Math.min(members.length, Math.floor(left / (strata.length - s)));
    // partial Fisher–Yates: m uniform picks without replacement
    const a = Int32Array.from(members);
    for (let t = 0; t < m; t++) {
      const r = t + rng.int(a.length - t);
      const tmp = a[t]!;
      a[t] = a[r]!;
      a[r] = tmp;
      out.push(a[t]!);
    }
    left -= m;
  }
  return Int32Array.from(out).sort();
}

/** CCS per class under a budget (see the module comment). */
export function ccsSelect(
  scores: Float32Array,
  labels: Int32Array,
  numClasses: number,
  budget: Budget,
  o: CcsOptions & BudgetOptions,
  excludedClasses?: ReadonlySet<number>,
): { indices: Int32Array; perClassSelected: number[] } {
  validateCcsOptions(o);
  validateBudgetOptions(o, scores.length);
  if (labels.length !== scores.length) fail('E_SHAPE', `${labels.length} labels for ${scores.length} scores`, { field: 'labels' });
  const mask = excludedMask(scores.length, o.exclude);
  const pools: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!;
    if (y < 0 || y >= numClasses) fail('E_LABEL', `labels[${i}] is ${y}; expected 0..${numClasses - 1}`, { field: 'labels' });
    if (!mask[i] && scores[i] === scores[i]) pools[y]!.push(i);
  }
  const k = budgetPerClassWith(pools.map((p) => p.length), budget, o, excludedClasses);
  const rng = Rng.derive(o.seed ?? 0, 'coreset.ccs');
  const parts: Int32Array[] = [];
  const per: number[] = [];
  for (let c = 0; c < numClasses; c++) {
    const got = excludedClasses?.has(c) ? new Int32Array(0) : ccsPool(Int32Array.from(pools[c]!), scores, k[c]!, o, rng);
    parts.push(got);
    per.push(got.length);
  }
  const indices = new Int32Array(per.reduce((a, b) => a + b, 0));
  let at = 0;
  for (const p of parts) {
    indices.set(p, at);
    at += p.length;
  }
  return { indices, perClassSelected: per };
}
