/**
 * CCS keeps only its non-empty strata (a map, not an array of --strata bins): the same selection
 * as the dense version it replaced, and any number of strata in O(samples) memory.
 */
import { describe, expect, it } from 'vitest';
import { type CcsOptions, ccsPool } from '../../../src/coreset/ccs.js';
import { Rng } from '../../../src/model/rng.js';

/** The dense-bin CCS pool as it was (one array per stratum), the reference for moderate K. */
function denseCcsPool(pool: Int32Array, scores: Float32Array, budget: number, o: CcsOptions, rng: Rng): number[] {
  const sign = o.cut === 'high' ? -1 : 1;
  const order = Array.from(pool).sort((a, b) => sign * (scores[a]! - scores[b]!) || a - b);
  const kept = order.slice(Math.floor((o.cutoff ?? 0) * pool.length));
  if (budget >= kept.length) return kept.sort((a, b) => a - b);
  let lo = Infinity;
  let hi = -Infinity;
  for (const i of kept) {
    lo = Math.min(lo, scores[i]!);
    hi = Math.max(hi, scores[i]!);
  }
  const K = o.strata ?? 50;
  const width = (hi - lo) / K;
  const bins: number[][] = Array.from({ length: K }, () => []);
  for (const i of kept) bins[width > 0 ? Math.min(K - 1, Math.floor((scores[i]! - lo) / width)) : 0]!.push(i);
  for (const b of bins) b.sort((x, y) => x - y);
  const strata = bins.map((b, j) => ({ j, b })).filter((s) => s.b.length > 0);
  strata.sort((x, y) => x.b.length - y.b.length || x.j - y.j);
  const out: number[] = [];
  let left = budget;
  for (let s = 0; s < strata.length; s++) {
    const a = Int32Array.from(strata[s]!.b);
    const m = Math.min(a.length, Math.floor(left / (strata.length - s)));
    for (let t = 0; t < m; t++) {
      const r = t + rng.int(a.length - t);
      [a[t], a[r]] = [a[r]!, a[t]!];
      out.push(a[t]!);
    }
    left -= m;
  }
  return out.sort((x, y) => x - y);
}

describe('ccs strata', () => {
  const r = new Rng(5);
  const n = 300;
  // scores with ties (rounded) and a gap, so strata are uneven and some are empty
  const scores = Float32Array.from({ length: n }, (_, i) => (i % 7 === 0 ? 3 : Math.round(r.uniform(-1, 1) * 40) / 40));
  const pool = Int32Array.from({ length: n }, (_, i) => i);
  it('select exactly what the dense version selected', () => {
    for (const strata of [1, 7, 50, 300, 4096]) {
      for (const [budget, cutoff, cut] of [[30, 0, 'high'], [100, 0.1, 'low'], [1, 0.5, 'high']] as const) {
        const o: CcsOptions = { strata, cutoff, cut };
        const got = ccsPool(pool, scores, budget, o, Rng.derive(9, 'ccs'));
        expect(Array.from(got), `strata ${strata}, budget ${budget}`).toEqual(denseCcsPool(pool, scores, budget, o, Rng.derive(9, 'ccs')));
      }
    }
  });
  it('take any number of strata: with every sample alone in its stratum, CCS keeps the top of the range', () => {
    const distinct = Float32Array.from({ length: n }, (_, i) => ((i * 37) % n) / n); // a permutation of 0..(n-1)/n
    const got = ccsPool(pool, distinct, 25, { strata: 1e9, cut: 'high' }, Rng.derive(1, 'ccs'));
    // singleton strata in score order: ⌊left / strata left⌋ is 0 until the last 25, so the 25 highest scores
    const top = Array.from(pool).sort((a, b) => distinct[b]! - distinct[a]!).slice(0, 25).sort((a, b) => a - b);
    expect(Array.from(got)).toEqual(top);
  });
});
