/** Budget options: equal budgets (each class's own count), a minimum per class, excluded samples; and CCS. */
import { describe, expect, it } from 'vitest';
import { ccsPool, ccsSelect } from '../../../src/coreset/ccs.js';
import { budgetPerClassWith, equalShares, selectPerClassWith } from '../../../src/coreset/select.js';
import { Rng } from '../../../src/model/rng.js';
import { RiverbedError } from '../../../src/errors.js';

describe('equal budgets', () => {
  it('water-fills: small classes take everything, the rest share equally (hand-computed)', () => {
    // T = 30 over counts [2, 100, 5, 100]: 2 and 5 filled, 23 left over 2 classes → 12 (class 1), 11 (class 3)
    expect(equalShares([2, 100, 5, 100], 30)).toEqual([2, 12, 5, 11]);
    expect(equalShares([10, 10, 10], 30)).toEqual([10, 10, 10]);
    expect(equalShares([10, 10, 10], 100)).toEqual([10, 10, 10]);
    expect(equalShares([4, 50, 50], 20, new Set([1]))).toEqual([4, 0, 16]);
  });
  it('guard: uses each class’s own count, not the mean or the largest class', () => {
    // F = 0.5 of N = 1 + 9 + 90 = 100 → T = 50: class 0 can give 1, class 1 all 9, class 2 the other 40
    const k = budgetPerClassWith([1, 9, 90], { fraction: 0.5 }, { mode: 'equal' });
    expect(k).toEqual([1, 9, 40]);
    for (const [c, n] of [1, 9, 90].entries()) expect(k[c]!).toBeLessThanOrEqual(n);
    // proportional keeps the largest-remainder rule
    expect(budgetPerClassWith([1, 9, 90], { fraction: 0.5 })).toEqual([1, 4, 45]);
  });
  it('a minimum per class tops up small classes, capped by their count', () => {
    expect(budgetPerClassWith([3, 10, 100], { fraction: 0.1 }, { minPerClass: 5 })).toEqual([3, 5, 10]);
    expect(() => budgetPerClassWith([3], { fraction: 0.1 }, { minPerClass: -1 })).toThrow(RiverbedError);
  });
});

describe('selection with options', () => {
  const labels = Int32Array.from([0, 0, 0, 0, 1, 1, 1, 1]);
  const scores = Float32Array.from([0.9, 0.8, 0.1, 0.5, 0.3, 0.7, 0.2, 0.6]);
  it('keeps the highest or the lowest per class', () => {
    expect(Array.from(selectPerClassWith(scores, labels, 2, { perClass: 2 }).indices)).toEqual([0, 1, 5, 7]);
    expect(Array.from(selectPerClassWith(scores, labels, 2, { perClass: 2 }, { keep: 'lowest' }).indices)).toEqual([2, 3, 6, 4]);
  });
  it('never selects an excluded sample, and budgets from what is left', () => {
    const r = selectPerClassWith(scores, labels, 2, { fraction: 0.5 }, { exclude: [0, 5, 7] });
    // class 0 has 3 selectable (1,2,3), class 1 has 2 (4,6): 0.5·5 = 2.5 → 3 total (1.5 / 1.0 → 2, 1)
    expect(r.perClassSelected).toEqual([2, 1]);
    expect(Array.from(r.indices)).toEqual([1, 3, 4]);
    expect(() => selectPerClassWith(scores, labels, 2, { perClass: 1 }, { exclude: [8] })).toThrow(/outside 0\.\.7/);
  });
});

describe('CCS', () => {
  it('cuts the hardest β, stratifies, and shares the budget from the smallest stratum (hand-computed)', () => {
    // scores 0..9 and 100: β = 1/11 cuts 100 (cut high). Remaining 0..9 in 2 strata of width 4.5:
    // [0..4] (5 samples) and [5..9] (5 samples). Budget 4 → 2 + 2.
    const scores = Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 100]);
    const pool = Int32Array.from({ length: 11 }, (_, i) => i);
    const got = ccsPool(pool, scores, 4, { cut: 'high', cutoff: 1 / 11, strata: 2 }, new Rng(1));
    expect(got.length).toBe(4);
    expect(got.includes(10)).toBe(false);
    expect(Array.from(got).filter((i) => i <= 4).length).toBe(2);
    expect(Array.from(got).filter((i) => i >= 5).length).toBe(2);
  });
  it('what a small stratum cannot use flows to the others', () => {
    // strata over [0, 10] with k = 2: {0} alone in the low stratum... width 5: [0,5) = {0}, [5,10] = {5..10}
    const scores = Float32Array.from([0, 5, 6, 7, 8, 9, 10]);
    const pool = Int32Array.from({ length: 7 }, (_, i) => i);
    const got = ccsPool(pool, scores, 5, { cut: 'high', strata: 2 }, new Rng(2));
    expect(got.length).toBe(5);
    expect(got.includes(0)).toBe(true); // the small stratum gives its one sample, the big one gives 4
  });
  it('cut low drops the lowest scores; per class with each class’s own budget; seeded', () => {
    const labels = Int32Array.from([0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]);
    const scores = Float32Array.from([-5, 1, 2, 3, -9, 1, 2, 3, 4, 5, 6, 7]);
    const a = ccsSelect(scores, labels, 2, { fraction: 0.5 }, { cut: 'low', cutoff: 0.25, strata: 3, seed: 7 });
    expect(a.perClassSelected).toEqual([2, 4]);
    expect(Array.from(a.indices).includes(0)).toBe(false);
    expect(Array.from(a.indices).includes(4)).toBe(false);
    const b = ccsSelect(scores, labels, 2, { fraction: 0.5 }, { cut: 'low', cutoff: 0.25, strata: 3, seed: 7 });
    expect(Array.from(b.indices)).toEqual(Array.from(a.indices));
    expect(() => ccsSelect(scores, labels, 2, { fraction: 0.5 }, { cut: 'low', cutoff: 1 })).toThrow(/cutoff/);
  });
});
