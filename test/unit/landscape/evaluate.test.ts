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
  });
}
