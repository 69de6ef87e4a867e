/** Online CLD equals the offline cldScores (float64 js reference) on the same losses. */
import { describe, expect, it } from 'vitest';
import { JsBackend } from '../../../src/backends/js/index.js';
import { cldScores } from '../../../src/coreset/cld.js';
import { OnlineCld, classMeans } from '../../../src/coreset/online.js';
import { randomArray, randomInts } from '../../helpers/backends.js';

function makeCase(n: number, m: number, E: number, C: number, seed: number) {
  const train = randomArray(E * n, seed, 0, 3);
  const val = randomArray(E * m, seed + 1, 0, 3);
  // drift so the differences are large next to their spread (the cancellation case for Σx² − (Σx)²/D)
  for (let e = 0; e < E; e++) for (let i = 0; i < n; i++) train[e * n + i] = 1000 - 10 * e + 0.001 * train[e * n + i]!;
  const labels = randomInts(n, seed + 2, C);
  const valLabels = randomInts(m, seed + 3, C);
  // sample 0 constant, sample 1 exactly linear: zero-variance differences → r = 0
  for (let e = 0; e < E; e++) {
    train[e * n] = 2;
    train[e * n + 1] = 8 - 0.5 * e;
  }
  return { train, val, labels, valLabels };
}

describe('OnlineCld', () => {
  it('equals offline cldScores within 1e-6 (incl. constant/linear samples, drifting losses, a class without validation)', async () => {
    const n = 500;
    const m = 120;
    const E = 9;
    const C = 6;
    const { train, val, labels, valLabels } = makeCase(n, m, E, C, 11);
    for (let j = 0; j < m; j++) if (valLabels[j] === 5) valLabels[j] = 4; // class 5 has no validation samples
    const js = new JsBackend();
    const off = await cldScores(js, { trainLoss: train, epochs: E, samples: n, trainLabels: labels, valLoss: val, valSamples: m, valLabels });
    const online = new OnlineCld(labels, C);
    for (let e = 0; e < E; e++) online.observeVal(train.subarray(e * n, (e + 1) * n), val.subarray(e * m, (e + 1) * m), valLabels);
    const on = online.scores();
    expect(on[0]).toBe(0);
    expect(on[1]).toBe(0);
    let checked = 0;
    for (let i = 0; i < n; i++) {
      if (labels[i] === 5) {
        expect(on[i]).toBeNaN();
        expect(off.scores[i]).toBeNaN();
        continue;
      }
      expect(Math.abs(on[i]! - off.scores[i]!)).toBeLessThan(1e-6);
      checked++;
    }
    expect(checked).toBeGreaterThan(300);
    js.dispose();
  });
  it('matches at every prefix of checkpoints (scores can be read while training goes on)', async () => {
    const { train, val, labels, valLabels } = makeCase(64, 40, 6, 3, 5);
    const js = new JsBackend();
    const online = new OnlineCld(labels, 3);
    for (let e = 0; e < 6; e++) {
      online.observe(train.subarray(e * 64, (e + 1) * 64), classMeans(val.subarray(e * 40, (e + 1) * 40), valLabels, 3));
      if (e < 2) {
        expect(() => online.scores()).toThrow(/3 checkpoints/);
        continue;
      }
      const E = e + 1;
      const off = await cldScores(js, { trainLoss: train.subarray(0, E * 64), epochs: E, samples: 64, trainLabels: labels, valLoss: val.subarray(0, E * 40), valSamples: 40, valLabels });
      const on = online.scores();
      for (let i = 0; i < 64; i++) expect(Math.abs(on[i]! - off.scores[i]!)).toBeLessThan(1e-6);
    }
    js.dispose();
  });
  it('refuses bad input', () => {
    const o = new OnlineCld(Int32Array.from([0, 1]), 2);
    expect(() => o.observe([1], [0, 0])).toThrow(/expected 2/);
    expect(() => o.observe([1, NaN], [0, 0])).toThrow(/finite/);
    expect(() => new OnlineCld(Int32Array.from([0, 2]), 2)).toThrow(/labels\[1\]/);
  });
});
