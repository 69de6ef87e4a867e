/**
 * Unlearning metrics against constructed truths: ROC-AUC of separable scores is 1 (reversed 0),
 * of identically distributed scores 0.5; KL of a model with itself is 0 and matches a hand sum;
 * the per-sample features match their definitions; the logistic-regression MIA calls a clearly
 * non-member-like forget set non-member and a member-like one member.
 */
import { describe, expect, it } from 'vitest';
import { fitLogistic, lossMiaAuc, meanKl, miaEfficacy, rocAuc, sampleStats } from '../../../src/unlearn/metrics.js';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

describe('rocAuc / lossMiaAuc', () => {
  it('separable scores: 1.0, reversed: 0.0; ties count half', () => {
    expect(rocAuc([5, 6, 7], [1, 2, 3, 4])).toBe(1);
    expect(rocAuc([1, 2], [5, 6, 7])).toBe(0);
    expect(rocAuc([1, 1], [1, 1, 1])).toBe(0.5);
    expect(rocAuc([2, 1], [1])).toBe(0.75);
    // members have the lower loss: separable by loss → 1
    expect(lossMiaAuc([0.01, 0.02, 0.03], [1, 2, 3])).toBe(1);
  });

  it('identically distributed scores: 0.5 within sampling error', () => {
    const r = lcg(3);
    const a = Array.from({ length: 4000 }, r);
    const b = Array.from({ length: 4000 }, r);
    expect(Math.abs(rocAuc(a, b) - 0.5)).toBeLessThan(0.02);
  });
});

describe('sampleStats and KL', () => {
  const logits = Float32Array.of(2, 0, -1, 0.5, 0.5, 3);
  const labels = Int32Array.of(0, 1);
  it('loss, confidence, entropy and modified entropy by their definitions', () => {
    const s = sampleStats(logits, labels, 3);
    const p0 = [Math.exp(2), 1, Math.exp(-1)].map((v, _, a) => v / (Math.exp(2) + 1 + Math.exp(-1)));
    expect(s.loss[0]).toBeCloseTo(-Math.log(p0[0]!), 6);
    expect(s.confidence[0]).toBeCloseTo(p0[0]!, 6);
    expect(s.entropy[0]).toBeCloseTo(-p0.reduce((a, p) => a + p * Math.log(p), 0), 6);
    const ment = -(1 - p0[0]!) * Math.log(p0[0]!) - p0[1]! * Math.log(1 - p0[1]!) - p0[2]! * Math.log(1 - p0[2]!);
    expect(s.mentropy[0]).toBeCloseTo(ment, 6);
    expect(Array.from(s.correct)).toEqual([1, 0]);
  });

  it('KL of a model with itself is 0; with another model the hand-computed mean', () => {
    const a = sampleStats(logits, labels, 3);
    expect(meanKl(a, a)).toBe(0);
    const other = Float32Array.of(0, 0, 0, 1, 0, 0);
    const b = sampleStats(other, labels, 3);
    let want = 0;
    for (let i = 0; i < 2; i++) for (let c = 0; c < 3; c++) {
      const pa = Math.exp(a.logp[i * 3 + c]!);
      want += pa * (a.logp[i * 3 + c]! - b.logp[i * 3 + c]!);
    }
    expect(meanKl(a, b)).toBeCloseTo(want / 2, 12);
    expect(meanKl(a, b)).toBeGreaterThan(0);
  });
});

describe('logistic regression and MIA-efficacy', () => {
  it('fits a separable 1-D problem (finite weights thanks to the ridge)', () => {
    const X = [...Array.from({ length: 50 }, (_, i) => [i / 50]), ...Array.from({ length: 50 }, (_, i) => [2 + i / 50])];
    const y = [...new Array(50).fill(0), ...new Array(50).fill(1)];
    const clf = fitLogistic(X, y);
    expect(clf.weights.every(Number.isFinite)).toBe(true);
    expect(clf.predict([0.2])).toBeLessThan(0.1);
    expect(clf.predict([2.8])).toBeGreaterThan(0.9);
  });

  it('members are confident, non-members not: a confident forget set is member, an unsure one non-member', () => {
    const r = lcg(9);
    // logits of 3 classes, label 0: members with a large margin, non-members with a small one
    const make = (n: number, margin: number) => {
      const z = new Float32Array(n * 3);
      for (let i = 0; i < n; i++) {
        z[i * 3] = margin + r();
        z[i * 3 + 1] = r();
        z[i * 3 + 2] = r();
      }
      return sampleStats(z, new Int32Array(n), 3);
    };
    const retain = make(400, 8);
    const test = make(300, 1);
    expect(miaEfficacy({ retain, test, forget: make(100, 1) }).all).toBeGreaterThan(0.95);
    expect(miaEfficacy({ retain, test, forget: make(100, 8) }).all).toBeLessThan(0.05);
    expect(miaEfficacy({ retain, test, forget: make(100, 8) }).confidence).toBeLessThan(0.05);
  });
});
