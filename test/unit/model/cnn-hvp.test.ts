/**
 * Curvature products of a small CNN (conv with padding and stride 2, max and avg pooling, flatten,
 * smooth activations) on every backend, against float64 truths on the host: the dense Hessian
 * from products vs second central differences of a direct float64 loss (test/helpers/host-cnn.ts,
 * no im2col), the dense GGN vs Jᵀ H_loss J from central-difference logit Jacobians, symmetry
 * vᵀHw = wᵀHv, and a one-layer block vs the matching block of the dense Hessian.
 *
 * Tolerances as in hvp.test.ts: |a − b| ≤ 1e-4·|b| + 2e-5·max|H| on js (float64 accumulation),
 * 1e-3·|b| + 1e-4·max|H| on native/webgpu (f32). The differences (h = 1e-4 on the loss, float64)
 * are accurate to ~1e-8.
 */
import { describe, expect, it } from 'vitest';
import type { Backend, Tensor } from '../../../src/backends/backend.js';
import { inputSize, parseModelDescription } from '../../../src/model/description.js';
import { CurvatureProduct, flattenParameters, parameterLayout } from '../../../src/model/hvp.js';
import { Mlp } from '../../../src/model/mlp.js';
import { backendsUnderTest, randomArray, randomInts } from '../../helpers/backends.js';
import { fdGgn, fdHessian } from '../../helpers/host-cnn.js';

const d = parseModelDescription({
  format: 'riverbed.model',
  version: 1,
  input: [2, 5, 4],
  layers: [
    { type: 'conv2d', in: 2, out: 2, kernel: 3, padding: 1 },
    { type: 'tanh' },
    { type: 'maxpool2d', kernel: 2 },
    { type: 'avgpool2d', kernel: 2, stride: 1, padding: 1 },
    { type: 'conv2d', in: 2, out: 3, kernel: 2, stride: 2, bias: false },
    { type: 'gelu' },
    { type: 'flatten' },
    { type: 'linear', in: 3, out: 3 },
  ],
  loss: 'cross_entropy',
});
const B = 4;
const D = inputSize(d);
const x = randomArray(B * D, 41, -2, 2);
const y = randomInts(B, 42, 3);

async function dense(b: Backend, P: number, apply: (v: Tensor) => Tensor): Promise<Float64Array> {
  const M = new Float64Array(P * P);
  for (let j = 0; j < P; j++) {
    const e = new Float32Array(P);
    e[j] = 1;
    const v = b.upload(e, [P]);
    const col = apply(v);
    const host = await b.read(col);
    b.free(v);
    b.free(col);
    for (let i = 0; i < P; i++) M[i * P + j] = host[i]!;
  }
  return M;
}

function expectMatrixClose(actual: Float64Array, expected: Float64Array, rtol: number, atolRel: number, label: string): void {
  let scale = 0;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  let at = -1;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const excess = Math.abs(actual[i]! - expected[i]!) - (atolRel * scale + rtol * Math.abs(expected[i]!));
    if (excess > worst) {
      worst = excess;
      at = i;
    }
  }
  expect(at, `${label}: entry ${at} is ${actual[at]} but expected ${expected[at]} (scale ${scale})`).toBe(-1);
}

// The float64 truths do not depend on the backend: computed once, lazily.
let truth: { theta: Float64Array; H: Float64Array; G: Float64Array } | undefined;

describe('CNN curvature products by the R-operator', async () => {
  for (const bt of await backendsUnderTest()) {
    it.skipIf(!!bt.skip)(`${bt.name}: Hessian = finite differences, symmetric; GGN = JᵀHJ; a layer block`, async () => {
      const b = await bt.create();
      try {
        // Larger weights than the default init: the activations work away from their linear regime.
        const base = Mlp.init(b, d, 9);
        const model = Mlp.fromHost(b, d, new Map((await base.toHost()).map((t) => [t.name, t.data.map((v) => v * 2.5)])));
        base.dispose();
        const flat = flattenParameters(model);
        const theta = Float64Array.from(await b.read(flat));
        b.free(flat);
        if (!truth) {
          const x64 = Float64Array.from(x);
          truth = { theta, H: fdHessian(d, theta, x64, y, B), G: fdGgn(d, theta, x64, B) };
        }
        expect(Array.from(theta)).toEqual(Array.from(truth.theta));
        const P = theta.length;
        expect(P).toBe(2 * 2 * 9 + 2 + 3 * 2 * 4 + 3 * 3 + 3);
        const [rtol, atol] = b.name === 'js' ? [1e-4, 2e-5] : [1e-3, 1e-4];
        // Two batches (3 + 1 samples): the product is of the mean over all of them.
        const batches = [
          { x: b.upload(x.subarray(0, 3 * D), [3, D]), labels: b.uploadInt(y.subarray(0, 3), [3]) },
          { x: b.upload(x.subarray(3 * D), [1, ...d.input!]), labels: b.uploadInt(y.subarray(3), [1]) },
        ];
        const hess = new CurvatureProduct(model, batches, { kind: 'hessian' });
        const H = await dense(b, P, (v) => hess.apply(v));
        expectMatrixClose(H, truth.H, rtol, atol, `${b.name} Hessian`);

        const v = b.upload(randomArray(P, 51), [P]);
        const w = b.upload(randomArray(P, 52), [P]);
        const hv = hess.apply(v);
        const hw = await hess.applyAsync(w);
        const [vHw] = await b.read(b.dot(v, hw));
        const [wHv] = await b.read(b.dot(w, hv));
        expect(Math.abs(vHw! - wHv!)).toBeLessThanOrEqual((b.name === 'js' ? 1e-5 : 1e-3) * Math.max(Math.abs(vHw!), 1e-3));
        hess.dispose();

        const ggn = new CurvatureProduct(model, batches, { kind: 'ggn', cache: false });
        expectMatrixClose(await dense(b, P, (t) => ggn.apply(t)), truth.G, rtol, atol, `${b.name} GGN`);

        // The block of the second conv (module 4: its weight only, no bias).
        const layout = parameterLayout(model, ['4']);
        expect(layout.blocks.map((k) => [k.name, k.shape])).toEqual([['4.weight', [3, 2, 2, 2]]]);
        const block = new CurvatureProduct(model, batches, { kind: 'hessian', layers: ['4'] });
        const Hb = await dense(b, layout.size, (t) => block.apply(t));
        const off = 2 * 2 * 9 + 2;
        const sub = new Float64Array(layout.size * layout.size);
        for (let i = 0; i < layout.size; i++) for (let j = 0; j < layout.size; j++) sub[i * layout.size + j] = truth.H[(off + i) * P + off + j]!;
        expectMatrixClose(Hb, sub, rtol, atol, `${b.name} Hessian block of layer 4`);
        block.dispose();
        expect(() => parameterLayout(model, ['2'])).toThrow(/"2" is not a linear or conv2d layer of the model; expected one of "0", "4", "7"/);
      } finally {
        b.dispose();
      }
    });
  }
});

describe('webgpu: a CNN frees every intermediate', () => {
  it('no new GPU buffers once the pool is warm (training steps, forward, HVP and GGN with and without kept states)', async (ctx) => {
    const [gpu] = await backendsUnderTest(['webgpu']);
    if (gpu!.skip) ctx.skip();
    const b = await gpu!.create();
    try {
      const stats = (b as unknown as { rt: { stats: { buffersCreated: number } } }).rt.stats;
      const model = Mlp.init(b, d, 4);
      const xs = b.upload(x, [B, D]);
      const ys = b.uploadInt(y, [B]);
      const { Optimizer, optimizerConfig } = await import('../../../src/train/optimizer.js');
      const opt = new Optimizer(b, model, optimizerConfig('adam', { lr: 1e-3 }));
      const P = model.parameterCount;
      const once = async (): Promise<void> => {
        const { loss, grads } = model.lossAndGradients(xs, ys);
        opt.step(grads, 1e-3);
        for (const g of grads) b.free(g);
        b.free(loss);
        const images = b.upload(x, [B, ...d.input!]);
        b.free(model.forward(images));
        b.free(images);
        for (const kind of ['hessian', 'ggn'] as const) {
          for (const cache of [true, false]) {
            const op = new CurvatureProduct(model, [{ x: xs, labels: ys }], { kind, cache });
            const v = b.upload(randomArray(P, 61), [P]);
            b.free(op.apply(v));
            b.free(op.apply(v));
            b.free(v);
            op.dispose();
          }
        }
        await b.sync();
      };
      await once();
      const warm = stats.buffersCreated;
      await once();
      expect(stats.buffersCreated - warm).toBe(0);
      opt.dispose();
    } finally {
      b.dispose();
    }
  });
});
