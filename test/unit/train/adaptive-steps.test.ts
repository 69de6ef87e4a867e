/**
 * AdaGrad and CLASSP steps (registered generic ops) against hand-computed values on every
 * backend: the independent truth for the js reference the registry's parity rows compare with.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../../src/backends/backend.js';
import { backendsUnderTest } from '../../helpers/backends.js';

const backends = await backendsUnderTest();

for (const b of backends) {
  describe.skipIf(!!b.skip)(`adaptive optimizer steps on ${b.name}`, () => {
    let be: Backend;
    beforeAll(async () => {
      be = await b.create();
    });
    afterAll(() => be?.dispose());

    async function step(op: 'adagradStep' | 'classpStep', p: number[], g: number[], a: number[], h: object): Promise<[number[], number[]]> {
      const P = be.upload(Float32Array.from(p), [p.length]);
      const A = be.upload(Float32Array.from(a), [a.length]);
      (be[op] as (...x: unknown[]) => void)(P, be.upload(Float32Array.from(g), [g.length]), A, h);
      return [Array.from(await be.read(P)), Array.from(await be.read(A))];
    }

    it('AdaGrad: first step, weight decay in the gradient, lr decay by step', async () => {
      // p=1, g=0.5: A = 0.25, p = 1 − 0.1·0.5/0.5 = 0.9.  p=2, g=1, wd=0.5 (second call): g' = 2, A = 4, p = 2 − 0.1·2/2 = 1.9.
      let [p, a] = await step('adagradStep', [1, -3], [0.5, 0], [0, 0], { lr: 0.1, weightDecay: 0, lrDecay: 0, eps: 1e-10, step: 1 });
      expect(p[0]).toBeCloseTo(0.9, 6);
      expect(a[0]).toBeCloseTo(0.25, 7);
      expect(p[1]).toBe(-3); // g = 0 and no decay: A stays 0, p does not move (0/eps = 0)
      expect(a[1]).toBe(0);
      [p, a] = await step('adagradStep', [2], [1], [0], { lr: 0.1, weightDecay: 0.5, lrDecay: 0, eps: 1e-10, step: 1 });
      expect(p[0]).toBeCloseTo(1.9, 6);
      expect(a[0]).toBeCloseTo(4, 6);
      // step 3, lrDecay 0.5: lr' = 0.1 / (1 + 2·0.5) = 0.05; A = 1 + 1 = 2 (carried), p = 1 − 0.05·1/√2.
      [p, a] = await step('adagradStep', [1], [1], [1], { lr: 0.1, weightDecay: 0, lrDecay: 0.5, eps: 1e-10, step: 3 });
      expect(a[0]).toBeCloseTo(2, 6);
      expect(p[0]).toBeCloseTo(1 - 0.05 / Math.SQRT2, 6);
    });

    it('CLASSP: a coordinate below the threshold accumulates but does not move; p = 1 and p = 2', async () => {
      // threshold 0.01: g = 0.5 moves (A: 0.5 → 1, w −= 0.2·0.5/(1e-5 + 1)); g = 0.05 (g² = 0.0025) only accumulates.
      let [p, a] = await step('classpStep', [1, 1, 0.25], [0.5, 0.05, -0.2], [0.5, 0, 0], { lr: 0.2, eps: 1e-5, power: 1, threshold: 0.01 });
      expect(a).toEqual([1, expect.closeTo(0.05, 7), expect.closeTo(0.2, 7)]);
      expect(p[0]).toBeCloseTo(1 - 0.1 / 1.00001, 6);
      expect(p[1]).toBe(1);
      expect(p[2]).toBeCloseTo(0.25 + (0.2 * 0.2) / (1e-5 + 0.2), 5);
      // power 2: A = 0.75 + 0.25 = 1, w −= 0.2·0.5 / √(1e-5 + 1).
      [p, a] = await step('classpStep', [0], [0.5], [0.75], { lr: 0.2, eps: 1e-5, power: 2, threshold: 0 });
      expect(a[0]).toBeCloseTo(1, 6);
      expect(p[0]).toBeCloseTo(-0.1 / Math.sqrt(1.00001), 6);
      // g = 0 with power 2: nothing accumulates, nothing moves (g² = 0 is not > 0).
      [p, a] = await step('classpStep', [0.5], [0], [0.3], { lr: 0.2, eps: 1e-5, power: 2, threshold: 0 });
      expect(p[0]).toBe(0.5);
      expect(a[0]).toBeCloseTo(0.3, 7);
    });

    it("CLASSP's gate marks exactly the coordinates classpStep moves", async () => {
      // threshold 1/16: |g| = 0.5, 0.3, 0.26 pass; 0.05, 0.25 (g² = 1/16 exactly, not >) and 0 do not.
      const g = [0.5, 0.05, -0.3, 0.25, 0, -0.26];
      const mask = be.classpGate(be.upload(Float32Array.from(g), [2, 3]), { threshold: 0.0625 });
      expect(mask.shape).toEqual([2, 3]);
      const m = Array.from(await be.read(mask));
      expect(m).toEqual([1, 0, 1, 0, 0, 1]);
      const [p] = await step('classpStep', [1, 1, 1, 1, 1, 1], g, [0, 0, 0, 0, 0, 0], { lr: 0.2, eps: 1e-5, power: 1, threshold: 0.0625 });
      expect(p.map((v) => (v !== 1 ? 1 : 0))).toEqual(m);
      // Summed on the device: the count of moved coordinates without reading the mask back.
      expect((await be.read(be.sum(mask)))[0]).toBe(3);
      // threshold 0 and negative: every nonzero gradient / every coordinate.
      expect(Array.from(await be.read(be.classpGate(be.upload(Float32Array.from(g), [6]), { threshold: 0 })))).toEqual([1, 1, 1, 1, 0, 1]);
      expect(Array.from(await be.read(be.classpGate(be.upload(Float32Array.from(g), [6]), { threshold: -1 })))).toEqual([1, 1, 1, 1, 1, 1]);
    });

    it('bad hyper-parameters are refused the same way everywhere', () => {
      const t = () => be.upload(new Float32Array(3), [3]);
      expect(() => be.classpStep(t(), t(), t(), { lr: 0.2, eps: 1e-5, power: 0, threshold: 0 })).toThrow(/power must be > 0/);
      expect(() => be.adagradStep(t(), t(), t(), { lr: NaN, weightDecay: 0, lrDecay: 0, eps: 1e-10, step: 1 })).toThrow(/lr must be a finite number/);
      expect(() => be.adagradStep(t(), t(), be.upload(new Float32Array(2), [2]), { lr: 0.1, weightDecay: 0, lrDecay: 0, eps: 1e-10, step: 1 })).toThrow(/accum has 2 elements, expected 3/);
    });
  });
}
