/**
 * The audit's neighbourhood statistics against losses computed one perturbed input at a time, its
 * directions (unit, seeded), and the three-state AUC on constructed features: separable states give
 * 1, identically distributed ones ≈ 0.5.
 */
import { describe, expect, it } from 'vitest';
import { JsBackend } from '../../../src/backends/js/index.js';
import { mlpDescription } from '../../../src/model/description.js';
import { Mlp } from '../../../src/model/mlp.js';
import { auditDirections, auditFeatures, auditNeighbourhood, stateAuc } from '../../../src/unlearn/audit.js';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

describe('audit', () => {
  it('directions: unit length, the same for the same seed, others for another', () => {
    const a = auditDirections(5, 7, 3);
    for (let j = 0; j < 5; j++) {
      let n = 0;
      for (let i = 0; i < 7; i++) n += a[j * 7 + i]! ** 2;
      expect(n).toBeCloseTo(1, 6);
    }
    expect(Array.from(auditDirections(5, 7, 3))).toEqual(Array.from(a));
    expect(Array.from(auditDirections(5, 7, 4))).not.toEqual(Array.from(a));
  });

  it('statistics equal losses computed one perturbed input at a time', async () => {
    const b = new JsBackend();
    const D = 4;
    const model = Mlp.init(b, mlpDescription(D, [6], 3, 'tanh'), 1);
    const r = lcg(2);
    const N = 5;
    const xs = Float32Array.from({ length: N * D }, () => 2 * r() - 1);
    const labels = Int32Array.of(0, 1, 2, 1, 0);
    const x = b.upload(xs, [N, D]);
    const rows = Int32Array.of(4, 1, 3);
    const eps = [0.5, 2];
    const K = 6;
    const nb = await auditNeighbourhood(model, x, labels, rows, { k: K, eps, seed: 9, batch: 2 });
    const z = auditDirections(K, D, 9);
    const lossAt = async (v: Float32Array, y: number) => (await b.read(model.perSampleLoss(b.upload(v, [1, D]), b.uploadInt(Int32Array.of(y), [1]))))[0]!;
    for (let q = 0; q < rows.length; q++) {
      const row = rows[q]!;
      const base = xs.slice(row * D, row * D + D);
      const l0 = await lossAt(base, labels[row]!);
      expect(nb.loss[q]).toBeCloseTo(l0, 6);
      let slopeNum = 0;
      let meanAll = 0;
      for (let e = 0; e < eps.length; e++) {
        const inc: number[] = [];
        for (let j = 0; j < K; j++) inc.push((await lossAt(base.map((v, i) => v + eps[e]! * z[j * D + i]!), labels[row]!)) - l0);
        const mean = inc.reduce((a, v) => a + v, 0) / K;
        const std = Math.sqrt(inc.reduce((a, v) => a + (v - mean) ** 2, 0) / K);
        expect(nb.meanIncrease[q * 2 + e]).toBeCloseTo(mean, 5);
        expect(nb.stdIncrease[q * 2 + e]).toBeCloseTo(std, 5);
        expect(nb.maxIncrease[q * 2 + e]).toBeCloseTo(Math.max(...inc), 5);
        slopeNum += eps[e]! * mean;
        meanAll += mean / eps.length;
      }
      expect(nb.slope[q]).toBeCloseTo(slopeNum / (0.25 + 4), 5);
      expect(nb.score[q]).toBeCloseTo(l0 + meanAll, 5);
    }
  });

  it('three states: separable features give AUC 1, identical distributions ≈ 0.5', () => {
    const r = lcg(5);
    const cloud = (cx: number, cy: number, n: number) => Array.from({ length: n }, () => [cx + r(), cy + r()]);
    const sep = stateAuc({ retained: cloud(0, 0, 60), forgotten: cloud(10, 0, 60), unseen: cloud(0, 10, 60) });
    expect(sep.macro).toBe(1);
    expect(sep.forgottenVsUnseen).toBe(1);
    const same = stateAuc({ retained: cloud(0, 0, 300), forgotten: cloud(0, 0, 300), unseen: cloud(0, 0, 300) });
    // cross-validation on pure noise leans a little below 0.5 (held-out folds anti-correlate with the fit)
    expect(Math.abs(same.macro - 0.5)).toBeLessThan(0.1);
  });

  it('the single-point features let a middle band of losses be one state', () => {
    const nb = (losses: number[]) => ({ eps: [1], k: 1, loss: Float64Array.from(losses), meanIncrease: new Float64Array(losses.length), stdIncrease: new Float64Array(losses.length), maxIncrease: new Float64Array(losses.length), slope: new Float64Array(losses.length), score: Float64Array.from(losses) });
    const r = lcg(8);
    const band = (lo: number) => Array.from({ length: 50 }, () => lo + r());
    const a = stateAuc({ retained: auditFeatures(nb(band(0)), 'point'), forgotten: auditFeatures(nb(band(2)), 'point'), unseen: auditFeatures(nb(band(4)), 'point') });
    expect(a.perState.forgotten).toBeGreaterThan(0.95);
  });
});
