/**
 * Rank agreement of two score vectors over the same samples: how stable a method's ranking is
 * across seeds, checkpoint subsets or architectures.
 *
 *  - Spearman ρ: Pearson correlation of the average ranks (ties get their mean rank), as
 *    scipy.stats.spearmanr.
 *  - Kendall τ-b: (n_c − n_d) / sqrt((n₀ − n₁)(n₀ − n₂)) with ties in either vector, as
 *    scipy.stats.kendalltau (variant 'b'), in O(N log N) by Knight's algorithm (1966): sort by
 *    (a, b), count pairs tied in a and in both, then count the discordant pairs as the swaps of a
 *    merge sort on b, and the pairs tied in b.
 *  - Top-k Jaccard: |A ∩ B| / |A ∪ B| of the k best samples of each (the kept end; ties by index).
 * NaN scores (CLD classes without validation samples) are dropped pairwise first.
 */
import { fail } from '../errors.js';

function pairs(a: ArrayLike<number>, b: ArrayLike<number>): { x: Float64Array; y: Float64Array; idx: Int32Array } {
  if (a.length !== b.length) fail('E_SHAPE', `score vectors differ in length (${a.length} vs ${b.length})`, { field: 'scores' });
  const keep: number[] = [];
  for (let i = 0; i < a.length; i++) if (a[i] === a[i] && b[i] === b[i]) keep.push(i);
  const x = new Float64Array(keep.length);
  const y = new Float64Array(keep.length);
  keep.forEach((i, j) => {
    x[j] = a[i]!;
    y[j] = b[i]!;
  });
  return { x, y, idx: Int32Array.from(keep) };
}

/** Average ranks (1-based; ties share their mean rank). */
export function averageRanks(v: ArrayLike<number>): Float64Array {
  const n = v.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((p, q) => v[p]! - v[q]! || p - q);
  const r = new Float64Array(n);
  for (let s = 0; s < n; ) {
    let e = s;
    while (e + 1 < n && v[order[e + 1]!] === v[order[s]!]) e++;
    const mean = (s + e) / 2 + 1;
    for (let t = s; t <= e; t++) r[order[t]!] = mean;
    s = e + 1;
  }
  return r;
}

function pearson(x: Float64Array, y: Float64Array): number {
  const n = x.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i]!;
    my += y[i]!;
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx;
    const dy = y[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : NaN;
}

/** Spearman's ρ (NaN when either vector is constant or fewer than 2 pairs remain). */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const { x, y } = pairs(a, b);
  if (x.length < 2) return NaN;
  return pearson(averageRanks(x), averageRanks(y));
}

/** Pairs tied within runs of equal values of a sorted array: Σ t(t−1)/2. */
function tiedPairs(v: Float64Array): number {
  let total = 0;
  for (let s = 0; s < v.length; ) {
    let e = s;
    while (e + 1 < v.length && v[e + 1] === v[s]) e++;
    const t = e - s + 1;
    total += (t * (t - 1)) / 2;
    s = e + 1;
  }
  return total;
}

/** Kendall's τ-b by Knight's O(N log N) algorithm (NaN when either vector is constant). */
export function kendallTauB(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const { x, y } = pairs(a, b);
  const n = x.length;
  if (n < 2) return NaN;
  const order = Int32Array.from({ length: n }, (_, i) => i).sort((p, q) => x[p]! - x[q]! || y[p]! - y[q]!);
  const xs = new Float64Array(n);
  let ys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    xs[i] = x[order[i]!]!;
    ys[i] = y[order[i]!]!;
  }
  const n1 = tiedPairs(xs); // tied in x
  let n3 = 0; // tied in both
  for (let s = 0; s < n; ) {
    let e = s;
    while (e + 1 < n && xs[e + 1] === xs[s] && ys[e + 1] === ys[s]) e++;
    const t = e - s + 1;
    n3 += (t * (t - 1)) / 2;
    s = e + 1;
  }
  // bottom-up merge sort of ys counting swaps = discordant pairs (strictly out of order)
  let swaps = 0;
  let buf = new Float64Array(n);
  for (let w = 1; w < n; w *= 2) {
    for (let lo = 0; lo < n; lo += 2 * w) {
      const mid = Math.min(lo + w, n);
      const hi = Math.min(lo + 2 * w, n);
      let i = lo;
      let j = mid;
      let k = lo;
      while (i < mid && j < hi) {
        if (ys[j]! < ys[i]!) {
          buf[k++] = ys[j++]!;
          swaps += mid - i;
        } else buf[k++] = ys[i++]!;
      }
      while (i < mid) buf[k++] = ys[i++]!;
      while (j < hi) buf[k++] = ys[j++]!;
    }
    const t = ys;
    ys = buf;
    buf = t;
  }
  const n2 = tiedPairs(ys); // ys is now sorted
  const n0 = (n * (n - 1)) / 2;
  const denom = Math.sqrt((n0 - n1) * (n0 - n2));
  if (denom === 0) return NaN;
  // concordant − discordant = n0 − n1 − n2 + n3 − 2·swaps
  return (n0 - n1 - n2 + n3 - 2 * swaps) / denom;
}

/** The k best sample indices (highest, or lowest with keep 'lowest'; ties by index; NaN never). */
export function topK(scores: ArrayLike<number>, k: number, keep: 'highest' | 'lowest' = 'highest'): Int32Array {
  const sign = keep === 'lowest' ? 1 : -1;
  const idx: number[] = [];
  for (let i = 0; i < scores.length; i++) if (scores[i] === scores[i]) idx.push(i);
  idx.sort((p, q) => sign * (scores[p]! - scores[q]!) || p - q);
  return Int32Array.from(idx.slice(0, Math.max(0, Math.min(k, idx.length))));
}

/** |A ∩ B| / |A ∪ B| of two index sets. */
export function jaccard(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const sa = new Set(Array.from(a));
  const sb = new Set(Array.from(b));
  let inter = 0;
  for (const v of sa) if (sb.has(v)) inter++;
  const union = sa.size + sb.size - inter;
  return union === 0 ? NaN : inter / union;
}

export interface Agreement {
  spearman: number;
  kendall: number;
  /** Top-k Jaccard per fraction, k = round(fraction · N). */
  topJaccard: { fraction: number; k: number; jaccard: number }[];
  n: number;
}

/** Spearman, Kendall τ-b and top-fraction Jaccard overlaps of two score vectors. */
export function agreement(a: ArrayLike<number>, b: ArrayLike<number>, keep: 'highest' | 'lowest' = 'highest', fractions: readonly number[] = [0.01, 0.1, 0.3]): Agreement {
  const n = a.length;
  return {
    spearman: spearman(a, b),
    kendall: kendallTauB(a, b),
    topJaccard: fractions.map((f) => {
      const k = Math.max(1, Math.round(f * n));
      return { fraction: f, k, jaccard: jaccard(topK(a, k, keep), topK(b, k, keep)) };
    }),
    n,
  };
}
