/**
 * The baselines against hand-computed cases, and the guards against bugs seen in peer code:
 * AUM sums margins over ALL epochs, dynamic-uncertainty windows slide by one epoch.
 */
import { describe, expect, it } from 'vitest';
import { aumScores } from '../../../src/coreset/baselines/aum.js';
import { dynUncScores } from '../../../src/coreset/baselines/dynunc.js';
import { el2nScores } from '../../../src/coreset/baselines/el2n.js';
import { forgettingScores } from '../../../src/coreset/baselines/forgetting.js';
import { randomScores } from '../../../src/coreset/baselines/random.js';
import { RiverbedError } from '../../../src/errors.js';

/** [E, N] row-major from per-sample columns. */
function matrix<T extends Float32Array | Uint8Array>(Ctor: new (n: number) => T, cols: number[][]): T {
  const N = cols.length;
  const E = cols[0]!.length;
  const m = new Ctor(E * N);
  cols.forEach((col, i) => col.forEach((v, e) => (m[e * N + i] = v)));
  return m;
}

describe('forgetting events', () => {
  it('counts correct → incorrect transitions; never learned ranks above every learned sample', () => {
    const cols = [
      [1, 1, 1, 1, 1], // 0 events
      [0, 1, 0, 1, 0], // 2 events
      [1, 0, 0, 1, 1], // 1 event
      [0, 0, 0, 0, 0], // never learned → E = 5
      [0, 0, 0, 0, 1], // learned at the end, 0 events
      [1, 0, 1, 0, 1], // 2 events
    ];
    expect(Array.from(forgettingScores(matrix(Uint8Array, cols), 5, 6))).toEqual([0, 2, 1, 5, 0, 2]);
  });
});

describe('EL2N', () => {
  it('averages the error norm over the first k epochs only', () => {
    const cols = [
      [0.2, 0.4, 9],
      [1.0, 0.0, 9],
    ];
    const m = matrix(Float32Array, cols);
    expect(Array.from(el2nScores(m, 3, 2, 2))).toEqual([Math.fround(0.3), Math.fround(0.5)]);
    expect(el2nScores(m, 3, 2, 1)[0]).toBeCloseTo(0.2, 6);
    expect(el2nScores(m, 3, 2, 3)[1]).toBeCloseTo(10 / 3, 6);
  });
  it('averages several runs (the paper’s mean over initialisations)', () => {
    const a = matrix(Float32Array, [[1, 3]]);
    const b = matrix(Float32Array, [[2, 6]]);
    expect(el2nScores([a, b], 2, 1, 1)[0]).toBeCloseTo(1.5, 6);
    expect(el2nScores([a, b], 2, 1, 2)[0]).toBeCloseTo(3, 6);
  });
  it('refuses k outside 1..E', () => {
    expect(() => el2nScores(new Float32Array(6), 3, 2, 4)).toThrow(RiverbedError);
    expect(() => el2nScores(new Float32Array(6), 3, 2, 0)).toThrow(/--epochs/);
  });
});

describe('AUM', () => {
  it('is the mean margin over all epochs', () => {
    const cols = [
      [1, 2, 3, 6],
      [-1, -1, 2, 0],
    ];
    expect(Array.from(aumScores(matrix(Float32Array, cols), 4, 2))).toEqual([3, 0]);
  });
  it('guard: the sum is not reset each epoch (a last-epoch-only AUM ranks these two the other way)', () => {
    // sample 0: hard for three epochs, easy at the end; sample 1: steady
    const cols = [
      [-5, -5, -5, 4],
      [1, 1, 1, 1],
    ];
    const s = aumScores(matrix(Float32Array, cols), 4, 2);
    expect(s[0]).toBeCloseTo(-2.75, 6);
    expect(s[1]).toBeCloseTo(1, 6);
    expect(s[0]!).toBeLessThan(s[1]!); // a reset sum would give 4 > 1
  });
});

describe('dynamic uncertainty', () => {
  it('averages the sample std of exp(−loss) over SLIDING windows (hand-computed)', () => {
    // p = [0.5, 0.7, 0.4, 0.9]: losses −ln p. J = 2 windows: |0.2|, |0.3|, |0.5| → std = |Δ|/√2
    const p = [0.5, 0.7, 0.4, 0.9];
    const loss = matrix(Float32Array, [p.map((v) => -Math.log(v))]);
    const expected = ((0.2 + 0.3 + 0.5) / Math.SQRT2) / 3;
    expect(dynUncScores(loss, 4, 1, 2)[0]).toBeCloseTo(expected, 6);
    // J = 3: windows [0.5,0.7,0.4] and [0.7,0.4,0.9]
    const sd = (a: number[]) => {
      const m = a.reduce((x, y) => x + y) / a.length;
      return Math.sqrt(a.reduce((s, v) => s + (v - m) ** 2, 0) / (a.length - 1));
    };
    expect(dynUncScores(loss, 4, 1, 3)[0]).toBeCloseTo((sd([0.5, 0.7, 0.4]) + sd([0.7, 0.4, 0.9])) / 2, 6);
  });
  it('guard: the window slides by one epoch (disjoint blocks give a different value)', () => {
    // p = [0.1, 0.1, 0.9, 0.9]: J = 2 sliding → windows std 0, 0.566, 0 → mean 0.1886;
    // disjoint blocks [0.1,0.1], [0.9,0.9] would give 0.
    const loss = matrix(Float32Array, [[0.1, 0.1, 0.9, 0.9].map((v) => -Math.log(v))]);
    const s = dynUncScores(loss, 4, 1, 2)[0]!;
    expect(s).toBeCloseTo(0.8 / Math.SQRT2 / 3, 6);
    expect(s).toBeGreaterThan(0.1);
  });
  it('refuses a window outside 2..E', () => {
    expect(() => dynUncScores(new Float32Array(4), 4, 1, 5)).toThrow(/--window/);
    expect(() => dynUncScores(new Float32Array(4), 4, 1, 1)).toThrow(RiverbedError);
  });
});

describe('random', () => {
  it('is seeded: same seed same scores, other seed other scores, uniform in [0, 1)', () => {
    const a = randomScores(1000, 3);
    expect(Array.from(randomScores(1000, 3))).toEqual(Array.from(a));
    expect(Array.from(randomScores(1000, 4))).not.toEqual(Array.from(a));
    let mean = 0;
    for (const v of a) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(1);
      mean += v / a.length;
    }
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.05);
  });
});
