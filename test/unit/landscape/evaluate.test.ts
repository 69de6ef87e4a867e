/**
 * The batched evaluator (many grid points per dispatch: first layer by linearity, later layers by
 * pointCombine + batchedMatmul) against the one-point-at-a-time reference (setWeights + the
 * model's own forward) on every backend; and the host scoring against a direct computation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../../src/backends/backend.js';
import { mlpDescription } from '../../../src/model/description.js';
import { Mlp } from '../../../src/model/mlp.js';
import { gaussianDirection, normalizeDirection } from '../../../src/landscape/directions.js';
import { BatchedEvaluator, evaluateOneByOne, freeData, scoreLogits, uploadData } from '../../../src/landscape/evaluate.js';
import { backendsUnderTest, expectClose, randomArray, randomInts } from '../../helpers/backends.js';

const backends = await backendsUnderTest();

describe('scoreLogits', () => {
  it('is the mean log-sum-exp minus the true logit, and first-maximum accuracy', () => {
    const logits = Float32Array.of(1, 2, 2, 0, -1, 3);
    const labels = Int32Array.of(1, 2);
    const s = scoreLogits(logits, labels, 3);
    const l0 = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(2)) - 2;
    const l1 = Math.log(Math.exp(0) + Math.exp(-1) + Math.exp(3)) - 3;
    expect(s.loss).toBeCloseTo(l0 + l1, 12);
    expect(s.correct).toBe(2); // row 0: ties → first maximum (class 1) = label 1
  });
});

for (const bt of backends) {
  describe.skipIf(!!bt.skip)(`batched landscape evaluation: ${bt.name}`, () => {
    let be: Backend;
    beforeAll(async () => {
      be = await bt.create();
    });
    afterAll(() => be?.dispose());

    for (const [name, hidden, act, K] of [
      ['2 hidden layers, tanh, 2-D', [12, 7], 'tanh', 2],
      ['1 hidden layer, relu, 1-D', [9], 'relu', 1],
      ['no hidden layer, 2-D', [], 'relu', 2],
    ] as const) {
      it(`${name}: equals one point at a time`, async () => {
        const desc = mlpDescription(6, [...hidden], 4, act);
        const model = Mlp.init(be, desc, 3);
        const base = new Map((await model.toHost()).map((t) => [t.name, t.data]));
        const dirs = Array.from({ length: K }, (_, k) => normalizeDirection(desc, gaussianDirection(desc, 5, k), base, 'filter', 'copy'));
        const N = 37;
        const data = uploadData(be, randomArray(N * 6, 11), randomInts(N, 12, 4), N, 6, 16); // 3 batches, the last short
        const P = 11;
        const coefs = Float64Array.from(randomArray(P * K, 13, -1.5, 1.5));
        const ref = await evaluateOneByOne(model, { base, dirs }, coefs, data);
        model.setWeights(base);
        // 4 points per dispatch: chunks of 4, 4, 3.
        const ev = new BatchedEvaluator(model, { base, dirs }, data, { points: 4 });
        expect(ev.pointsPerDispatch).toBe(4);
        const got = await ev.evaluate(coefs);
        ev.dispose();
        expectClose(got.loss, ref.loss, { rtol: 2e-5, atol: 1e-6 }, 'loss');
        expectClose(got.accuracy, ref.accuracy, { rtol: 0, atol: 1.5 / N }, 'accuracy');
        // Accuracy may differ only where a logit tie flips under float rounding: never here by more than one sample.
        freeData(be, data);
        model.dispose();
      });
    }

    it('a CNN (conv, relu, max pool, a second conv point by point, tanh, flatten, linear): equals one point at a time', async () => {
      const desc = {
        format: 'riverbed.model' as const, version: 1 as const, input: [2, 5, 5], loss: 'cross_entropy' as const,
        layers: [
          { type: 'conv2d' as const, in: 2, out: 3, kernel: [3, 3] as [number, number], stride: [1, 1] as [number, number], padding: [1, 1] as [number, number] },
          { type: 'relu' as const },
          { type: 'maxpool2d' as const, kernel: [2, 2] as [number, number], stride: [2, 2] as [number, number], padding: [0, 0] as [number, number] },
          { type: 'conv2d' as const, in: 3, out: 2, kernel: [2, 2] as [number, number], stride: [1, 1] as [number, number], padding: [0, 0] as [number, number] },
          { type: 'tanh' as const },
          { type: 'flatten' as const },
          { type: 'linear' as const, in: 2, out: 4 },
        ],
      };
      const model = Mlp.init(be, desc, 6);
      const base = new Map((await model.toHost()).map((t) => [t.name, t.data]));
      const dirs = [0, 1].map((k) => normalizeDirection(desc, gaussianDirection(desc, 8, k), base, 'filter', 'copy'));
      const N = 21;
      const data = uploadData(be, randomArray(N * 50, 21), randomInts(N, 22, 4), N, 50, 8);
      const coefs = Float64Array.from(randomArray(7 * 2, 23, -1, 1));
      const ref = await evaluateOneByOne(model, { base, dirs }, coefs, data);
      model.setWeights(base);
      const ev = new BatchedEvaluator(model, { base, dirs }, data, { points: 3 });
      const got = await ev.evaluate(coefs);
      ev.dispose();
      expectClose(got.loss, ref.loss, { rtol: 2e-5, atol: 1e-6 }, 'loss');
      expectClose(got.accuracy, ref.accuracy, { rtol: 0, atol: 1.5 / N }, 'accuracy');
      freeData(be, data);
      model.dispose();
    });
  });
}

describe('convolutional models: one point at a time through the model', () => {
  it('the origin is the model\'s own loss, α = 1 is the loss at w + d, and the weights are restored', async () => {
    const { JsBackend } = await import('../../../src/backends/js/index.js');
    const { evaluatePoints, pointWeights } = await import('../../../src/landscape/evaluate.js');
    const be = new JsBackend();
    const desc = {
      format: 'riverbed.model' as const, version: 1 as const, input: [1, 5, 5], loss: 'cross_entropy' as const,
      layers: [
        { type: 'conv2d' as const, in: 1, out: 2, kernel: [3, 3] as [number, number], stride: [1, 1] as [number, number], padding: [1, 1] as [number, number] },
        { type: 'relu' as const }, { type: 'maxpool2d' as const, kernel: [2, 2] as [number, number], stride: [2, 2] as [number, number], padding: [0, 0] as [number, number] },
        { type: 'flatten' as const }, { type: 'linear' as const, in: 8, out: 3 },
      ],
    };
    const model = Mlp.init(be, desc, 1);
    const base = new Map((await model.toHost()).map((t) => [t.name, t.data]));
    const d = normalizeDirection(desc, gaussianDirection(desc, 2, 0), base, 'filter', 'zero');
    const N = 9;
    const X = randomArray(N * 25, 3);
    const Y = randomInts(N, 4, 3);
    const data = uploadData(be, X, Y, N, 25, 4);
    const r = await evaluatePoints(model, { base, dirs: [d] }, Float64Array.of(0, 1), data);
    const after = new Map((await model.toHost()).map((t) => [t.name, t.data]));
    for (const [k, v] of base) expect([...after.get(k)!]).toEqual([...v]);
    const loss = async (w: Map<string, Float32Array>) => {
      const m = Mlp.fromHost(be, desc, w);
      const l = await be.read(m.perSampleLoss(be.upload(X, [N, 25]), be.uploadInt(Y, [N])));
      return l.reduce((a, b) => a + b, 0) / N;
    };
    expect(r.loss[0]).toBeCloseTo(await loss(base), 6);
    expect(r.loss[1]).toBeCloseTo(await loss(pointWeights({ base, dirs: [d] }, [1])), 6);
    expect(r.loss[1]).not.toBeCloseTo(r.loss[0]!, 3);
  });
});
