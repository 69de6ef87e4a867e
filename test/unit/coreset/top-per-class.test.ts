/**
 * Per-class top-k (coreset/select.ts topPerClass): the TypeScript version and the addon's
 * (native/select.cc) against an independent comparator sort, on the inputs that stress the
 * selection: exact ties, ±0, NaN, ±∞, scores far outside [−1, 1] (every sample of a class in one
 * histogram bucket, so the quickselect does all the work), classes selecting nothing or more
 * than they hold, one class and thousands of classes.
 */
import { describe, expect, it } from 'vitest';
import { nativeTopPerClassIfAvailable } from '../../../src/backends/native/host.js';
import { topPerClass, topPerClassJs } from '../../../src/coreset/select.js';
import { availability, rng } from '../../helpers/backends.js';

const why = await availability('native');
const inCI = process.env.CI === 'true' || process.env.CI === '1';
if (why && inCI) throw new Error(`CI requires the native backend, but it is unavailable: ${why}`);

/** Rank by score descending (NaN last, −0 = +0), then index; the first k_c of each class. */
function reference(scores: Float32Array, labels: Int32Array, C: number, k: readonly number[]): number[] {
  const out: number[] = [];
  for (let c = 0; c < C; c++) {
    const idx: number[] = [];
    for (let i = 0; i < labels.length; i++) if (labels[i] === c) idx.push(i);
    const key = (v: number) => (Number.isNaN(v) ? -Infinity : v);
    idx.sort((a, b) => {
      const x = key(scores[a]!);
      const y = key(scores[b]!);
      if (x !== y) return y > x ? 1 : -1;
      if (Number.isNaN(scores[a]!) !== Number.isNaN(scores[b]!)) return Number.isNaN(scores[a]!) ? 1 : -1; // NaN after −∞
      return a - b;
    });
    out.push(...idx.slice(0, k[c]!));
  }
  return out;
}

interface Case {
  name: string;
  scores: Float32Array;
  labels: Int32Array;
  C: number;
  k: number[];
}

function cases(): Case[] {
  const r = rng(2024);
  const out: Case[] = [];
  const n = 30_000;
  const labelsOf = (C: number) => Int32Array.from({ length: n }, () => Math.floor(r() * C));
  {
    const scores = Float32Array.from({ length: n }, () => Math.round((r() * 2 - 1) * 300) / 300); // many exact ties
    scores[1] = -0;
    scores[2] = 0;
    scores[3] = NaN;
    scores[4] = NaN;
    const labels = labelsOf(7);
    for (const K of [1, 3, 250, 5000, n]) out.push({ name: `ties, K=${K}`, scores, labels, C: 7, k: Array(7).fill(K) });
    out.push({ name: 'k_c = 0 for some classes, mixed k', scores, labels, C: 7, k: [0, 10, 0, 4000, 1, 0, 99] });
  }
  {
    const scores = Float32Array.from({ length: n }, () => (r() - 0.5) * 10 ** Math.floor(r() * 14 - 5));
    scores[5] = Infinity;
    scores[6] = -Infinity;
    scores[7] = 1e-40;
    scores[8] = -1e-40;
    scores[9] = NaN;
    const labels = labelsOf(5);
    for (const K of [1, 17, 3000]) out.push({ name: `wide scores (clamped buckets), K=${K}`, scores, labels, C: 5, k: Array(5).fill(K) });
  }
  {
    const scores = new Float32Array(n).fill(0.25); // one bucket holds every sample: selection by index alone
    for (const K of [1, 4321, n - 1]) out.push({ name: `all equal, one class, K=${K}`, scores, labels: new Int32Array(n), C: 1, k: [K] });
  }
  {
    const C = 3000; // B = 512 buckets per class, most classes a handful of samples, some absent
    const labels = Int32Array.from({ length: n }, () => Math.floor(r() * r() * C));
    const scores = Float32Array.from({ length: n }, () => r() * 2 - 1);
    out.push({ name: `${C} classes of uneven size`, scores, labels, C, k: Array.from({ length: C }, (_, c) => c % 5) });
  }
  out.push({ name: 'empty', scores: new Float32Array(0), labels: new Int32Array(0), C: 3, k: [1, 2, 3] });
  return out;
}

describe('per-class top-k', () => {
  const all = cases();
  it('TypeScript: equals a comparator sort on every case', () => {
    for (const c of all) expect(Array.from(topPerClassJs(c.scores, c.labels, c.C, c.k)), c.name).toEqual(reference(c.scores, c.labels, c.C, c.k));
  });

  it.skipIf(!!why)('native: the same indices as the TypeScript, bit for bit, and topPerClass takes it', () => {
    for (const c of all) {
      const native = nativeTopPerClassIfAvailable(c.scores, c.labels, c.C, c.k);
      expect(native, c.name).toBeDefined();
      expect(Array.from(native!), c.name).toEqual(Array.from(topPerClassJs(c.scores, c.labels, c.C, c.k)));
      expect(Array.from(topPerClass(c.scores, c.labels, c.C, c.k)), c.name).toEqual(Array.from(native!));
    }
  });

  it.skipIf(!!why)('native: a K past int32 selects whole classes; bad labels throw instead of reading out of bounds', () => {
    const scores = Float32Array.of(0.1, 0.3, 0.2, 0.9);
    const labels = Int32Array.of(0, 1, 0, 1);
    expect(Array.from(nativeTopPerClassIfAvailable(scores, labels, 2, [2 ** 40, 1])!)).toEqual([2, 0, 3]);
    expect(() => nativeTopPerClassIfAvailable(scores, Int32Array.of(0, 2, 0, 1), 2, [1, 1])).toThrow(/labels\[1\] is 2/);
    expect(() => nativeTopPerClassIfAvailable(scores, Int32Array.of(0, -1, 0, 1), 2, [1, 1])).toThrow(RangeError);
  });
});
