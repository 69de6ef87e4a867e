/**
 * Per-sample gradients of the model API on every backend, against truths outside the engine:
 *   - inputGradients: each sample's ∇ₓℓ_i against central differences of the float64 host
 *     reference (test/helpers/host-cnn.ts) in that sample's input, for an MLP and for a CNN whose
 *     first layer is a convolution (inputs as rows and as [B, C, H, W]);
 *   - weightedLossAndGradients: one batched backward equals Σ_i w_i·∇ℓ_i summed from batches of one,
 *     and the host's central differences of Σ_i w_i·ℓ_i; weights of 1/B give lossAndGradients.
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../../src/backends/backend.js';
import { RiverbedError } from '../../../src/errors.js';
import { type ModelDescription, mlpDescription, parseModelDescription } from '../../../src/model/description.js';
import { Mlp } from '../../../src/model/mlp.js';
import { backendsUnderTest, expectClose, randomArray, randomInts } from '../../helpers/backends.js';
import { fdGradient, hostMeanLoss } from '../../helpers/host-cnn.js';

const MLP = mlpDescription(6, [5], 3, 'tanh');
const CNN = parseModelDescription(
  {
    format: 'riverbed.model',
    version: 1,
    input: [2, 5, 5],
    loss: 'cross_entropy',
    layers: [
      { type: 'conv2d', in: 2, out: 3, kernel: 3, padding: 1 },
      { type: 'tanh' },
      { type: 'maxpool2d', kernel: 2 },
      { type: 'flatten' },
      { type: 'linear', in: 12, out: 3 },
    ],
  },
  'cnn.json',
);
const B = 4;
const TOL = { rtol: 2e-3, atol: 2e-5 };

async function flatParams(m: Mlp): Promise<Float64Array> {
  return Float64Array.from((await m.toHost()).flatMap((t) => Array.from(t.data)));
}

/** Central differences of ℓ_i in sample i's own input, every sample, float64 on the host. */
function fdInputGradients(d: ModelDescription, theta: Float64Array, x: Float32Array, y: Int32Array, h = 1e-5): Float64Array {
  const D = x.length / B;
  const out = new Float64Array(x.length);
  for (let i = 0; i < B; i++) {
    const xi = Float64Array.from(x.subarray(i * D, (i + 1) * D));
    const yi = y.subarray(i, i + 1);
    for (let j = 0; j < D; j++) {
      const v = xi[j]!;
      xi[j] = v + h;
      const lp = hostMeanLoss(d, theta, xi, yi, 1);
      xi[j] = v - h;
      const lm = hostMeanLoss(d, theta, xi, yi, 1);
      xi[j] = v;
      out[i * D + j] = (lp - lm) / (2 * h);
    }
  }
  return out;
}

const CASES: [string, ModelDescription, number][] = [
  ['MLP 6-5-3 (tanh)', MLP, 6],
  ['CNN conv-tanh-maxpool-flatten-linear', CNN, 50],
];

describe.each(await backendsUnderTest())('per-sample gradients on $name', ({ name, skip, create }) => {
  describe.skipIf(Boolean(skip))(name, () => {
    let b: Backend;

    for (const [label, desc, D] of CASES) {
      it(`${label}: inputGradients equals central differences of each sample's loss`, async () => {
        b ??= await create();
        const model = Mlp.init(b, desc, 7);
        const theta = await flatParams(model);
        const xs = randomArray(B * D, 11, -1, 1);
        const ys = randomInts(B, 12, 3);
        const shapes: number[][] = desc.input ? [[B, D], [B, ...desc.input]] : [[B, D]];
        const want = fdInputGradients(desc, theta, xs, ys);
        // truth check: the differences are not all ~0 (the test could not fail otherwise)
        expect(Math.max(...want.map(Math.abs))).toBeGreaterThan(1e-2);
        for (const shape of shapes) {
          const x = b.upload(xs, shape);
          const y = b.uploadInt(ys, [B]);
          const { loss, grad } = model.inputGradients(x, y);
          expect(grad.shape).toEqual(shape);
          expectClose(await b.read(grad), want, TOL, `${label} ∇ₓ [${shape.join(', ')}]`);
          const perSample = await b.read(loss);
          for (let i = 0; i < B; i++) expect(perSample[i]).toBeCloseTo(hostMeanLoss(desc, theta, Float64Array.from(xs.subarray(i * D, (i + 1) * D)), ys.subarray(i, i + 1), 1), 4);
          for (const t of [x, y, loss, grad]) b.free(t);
        }
        model.dispose();
      });

      it(`${label}: weightedLossAndGradients is one backward of Σ w_i ℓ_i`, async () => {
        b ??= await create();
        const model = Mlp.init(b, desc, 8);
        const theta = await flatParams(model);
        const xs = randomArray(B * D, 21, -1, 1);
        const ys = randomInts(B, 22, 3);
        const w = [0.7, -1.3, 0, 2.1];
        const x = b.upload(xs, [B, D]);
        const y = b.uploadInt(ys, [B]);
        const got = model.weightedLossAndGradients(x, y, w);
        const gotFlat = Float64Array.from((await Promise.all(got.grads.map((g) => b.read(g)))).flatMap((a) => Array.from(a)));
        // Σ_i w_i·∇ℓ_i from batches of one (lossAndGradients of one sample is ∇ℓ_i)
        const sum = new Float64Array(gotFlat.length);
        for (let i = 0; i < B; i++) {
          const xi = b.upload(xs.slice(i * D, (i + 1) * D), [1, D]);
          const yi = b.uploadInt(ys.slice(i, i + 1), [1]);
          const one = model.lossAndGradients(xi, yi);
          let o = 0;
          for (const g of one.grads) {
            const a = await b.read(g);
            for (let k = 0; k < a.length; k++) sum[o + k]! += w[i]! * a[k]!;
            o += a.length;
            b.free(g);
          }
          for (const t of [xi, yi, one.loss]) b.free(t);
        }
        expectClose(gotFlat, sum, { rtol: 1e-4, atol: 1e-6 }, `${label} weighted vs per-sample sum`);
        // and against the host: Σ w_i ℓ_i = Σ_i B·w_i·(mean loss of sample i alone); differences per sample
        const fd = new Float64Array(theta.length);
        for (let i = 0; i < B; i++) {
          if (w[i] === 0) continue;
          const g = fdGradient(desc, theta, Float64Array.from(xs.subarray(i * D, (i + 1) * D)), ys.subarray(i, i + 1), 1);
          for (let k = 0; k < fd.length; k++) fd[k]! += w[i]! * g[k]!;
        }
        expectClose(gotFlat, fd, TOL, `${label} weighted vs central differences`);
        // 1/B weights are the mean-loss gradients
        const mean = model.lossAndGradients(x, y);
        const viaWeights = model.weightedLossAndGradients(x, y, new Array(B).fill(1 / B));
        for (let j = 0; j < mean.grads.length; j++) expectClose(await b.read(viaWeights.grads[j]!), await b.read(mean.grads[j]!), { rtol: 1e-5, atol: 1e-7 }, `${label} 1/B weights`);
        expect(() => model.weightedLossAndGradients(x, y, [1, 2])).toThrow(RiverbedError);
        expect(() => model.weightedLossAndGradients(x, y, [1, 2, NaN, 4])).toThrow(/finite/);
        for (const t of [x, y, got.loss, ...got.grads, mean.loss, ...mean.grads, viaWeights.loss, ...viaWeights.grads]) b.free(t);
        model.dispose();
      });
    }
  });
});
