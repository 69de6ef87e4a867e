/** The CLD variants' samplers against hand-computed cases. */
import { describe, expect, it } from 'vitest';
import { ccsSample, rankedByClass, stratifiedByRank, stratumBudgets } from '../../../src/coreset/evaluate/methods.js';
import { paired, pm, stat } from '../../../src/coreset/evaluate/stats.js';
import { Rng } from '../../../src/model/rng.js';

describe('evaluation samplers', () => {
  it('water-filling stratum budgets', () => {
    // level t = 3: min(1,3)+min(5,3)+min(9,3) = 7 ≤ 8 < 9 (t = 4 gives 1+4+4); the rest (1) to the first stratum with room
    expect(stratumBudgets([1, 5, 9], 8)).toEqual([1, 4, 3]);
    expect(stratumBudgets([2, 2, 2], 6)).toEqual([2, 2, 2]);
    expect(stratumBudgets([0, 10, 3], 5)).toEqual([0, 3, 2]);
    expect(stratumBudgets([4], 0)).toEqual([0]);
    expect(() => stratumBudgets([1, 1], 3)).toThrow();
  });

  it('rank strata: one sample from each of k equal-count strata, after trimming the low end', () => {
    const scores = Float32Array.from({ length: 12 }, (_, i) => i / 12); // sample i has rank 11 − i
    const [ranked] = rankedByClass(scores, new Int32Array(12), 1);
    expect(Array.from(ranked!)).toEqual([11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    const pick = stratifiedByRank(ranked!, 3, 0, new Rng(3));
    expect(pick.length).toBe(3);
    // strata {11,10,9,8}, {7,6,5,4}, {3,2,1,0}
    expect(pick[0]! >= 8).toBe(true);
    expect(pick[1]! >= 4 && pick[1]! <= 7).toBe(true);
    expect(pick[2]! <= 3).toBe(true);
    // trim 0.5 drops the six lowest scores (samples 0..5): strata {11,10}, {9,8}, {7,6}
    const trimmed = stratifiedByRank(ranked!, 3, 0.5, new Rng(3));
    expect(trimmed.every((r) => r >= 6)).toBe(true);
    expect(new Set(trimmed.map((r) => Math.floor((11 - r) / 2))).size).toBe(3);
    // the trim never leaves fewer than k
    expect(stratifiedByRank(ranked!, 12, 0.9, new Rng(1)).sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i));
  });

  it('CCS over a score: cutoff drops the low end, every stratum represented when the budget allows', () => {
    // 20 samples: scores 0..19; cutoff 0.25 drops 0..4; 3 strata over [5, 19] (width 14/3)
    const scores = Float32Array.from({ length: 20 }, (_, i) => i);
    const [ranked] = rankedByClass(scores, new Int32Array(20), 1);
    const got = ccsSample(ranked!, scores, 6, 0.25, 3, new Rng(7));
    expect(got.length).toBe(6);
    expect(new Set(got).size).toBe(6);
    expect(got.every((r) => r >= 5)).toBe(true);
    const stratumOf = (r: number) => Math.min(2, Math.floor((r - 5) / (14 / 3)));
    const per = [0, 0, 0];
    for (const r of got) per[stratumOf(r)]!++;
    expect(per).toEqual([2, 2, 2]);
  });

  it('mean ± sample std and paired differences', () => {
    const s = stat([0.9, 0.92, 0.94]);
    expect(s.mean).toBeCloseTo(0.92, 12);
    expect(s.std).toBeCloseTo(0.02, 12);
    expect(stat([0.5]).std).toBe(0);
    const d = paired([0.9, 0.8], [0.85, 0.7]);
    expect(d.mean).toBeCloseTo(0.075, 12);
    expect(d.std).toBeCloseTo(Math.abs(0.05 - 0.1) / Math.SQRT2, 12);
    expect(pm(s)).toBe('92.00 ± 2.00');
  });
});
