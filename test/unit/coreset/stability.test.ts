/** Rank statistics against scipy's published examples and an O(N²) definition of τ-b. */
import { describe, expect, it } from 'vitest';
import { agreement, averageRanks, jaccard, kendallTauB, spearman, topK } from '../../../src/coreset/stability.js';
import { randomInts } from '../../helpers/backends.js';

/** τ-b straight from the definition, O(N²). */
function tauBDirect(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let nc = 0;
  let nd = 0;
  let tx = 0;
  let ty = 0;
  for (let i = 0; i < x.length; i++) {
    for (let j = i + 1; j < x.length; j++) {
      const a = Math.sign(x[i]! - x[j]!);
      const b = Math.sign(y[i]! - y[j]!);
      if (a === 0 && b === 0) continue;
      if (a === 0) tx++;
      else if (b === 0) ty++;
      else if (a === b) nc++;
      else nd++;
    }
  }
  return (nc - nd) / Math.sqrt((nc + nd + tx) * (nc + nd + ty));
}

describe('rank statistics', () => {
  it('Kendall τ-b: scipy.stats.kendalltau docs example', () => {
    expect(kendallTauB([12, 2, 1, 12, 2], [1, 4, 7, 1, 0])).toBeCloseTo(-0.47140452079103173, 12);
  });
  it('Spearman: scipy.stats.spearmanr docs example', () => {
    expect(spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7])).toBeCloseTo(0.8207826816681233, 12);
  });
  it('Knight’s O(N log N) τ-b equals the O(N²) definition with heavy ties', () => {
    for (const seed of [1, 2, 3]) {
      const x = randomInts(301, seed, 7);
      const y = randomInts(301, seed + 10, 5);
      expect(kendallTauB(x, y)).toBeCloseTo(tauBDirect(x, y), 12);
    }
  });
  it('perfect and reversed orders; NaN dropped pairwise; constant → NaN', () => {
    expect(kendallTauB([1, 2, 3], [10, 20, 30])).toBe(1);
    expect(spearman([1, 2, 3], [3, 2, 1])).toBeCloseTo(-1, 12);
    expect(kendallTauB([1, 2, NaN, 3], [1, 2, 0, 3])).toBe(1);
    expect(spearman([1, 1, 1], [1, 2, 3])).toBeNaN();
    expect(Array.from(averageRanks([10, 20, 10, 30]))).toEqual([1.5, 3, 1.5, 4]);
  });
  it('top-k and Jaccard', () => {
    expect(Array.from(topK([0.1, 0.9, 0.5, 0.9], 2))).toEqual([1, 3]);
    expect(Array.from(topK([0.1, 0.9, 0.5, 0.9], 2, 'lowest'))).toEqual([0, 2]);
    expect(jaccard([1, 2, 3], [2, 3, 4])).toBe(0.5);
    const a = agreement([1, 2, 3, 4], [1, 2, 4, 3], 'highest', [0.5]);
    expect(a.topJaccard[0]).toEqual({ fraction: 0.5, k: 2, jaccard: 1 });
    expect(a.kendall).toBeCloseTo(tauBDirect([1, 2, 3, 4], [1, 2, 4, 3]), 12);
  });
});

describe('run alignment (coreset stability)', async () => {
  const { aligned } = await import('../../../src/cli/coreset-stability.js');
  it('pairs samples by original dataset index, in the first run’s order', () => {
    const [x, y] = aligned(Float32Array.from([1, 2, 3]), Int32Array.from([10, 20, 30]), Float32Array.from([7, 8, 9]), Int32Array.from([30, 99, 10]), 'a', 'b');
    expect(Array.from(x)).toEqual([1, 3]);
    expect(Array.from(y)).toEqual([9, 7]);
    expect(() => aligned(Float32Array.from([1]), Int32Array.from([1]), Float32Array.from([1]), Int32Array.from([2]), 'a', 'b')).toThrow(/share 0/);
  });
});
