/**
 * Exact HVP / GGN products against independent float64 truths on the host: the dense Hessian
 * built column by column from HVPs is compared with central differences of a float64 gradient,
 * and the dense GGN with Jᵀ H J from per-sample Jacobians.
 *
 * Tolerances: the products run on the backends with f32 tensors, so each entry is compared with
 * |a − b| ≤ 1e-4·|b| + 2e-5·max|H| on js (float64 accumulation) and 1e-3·|b| + 1e-4·max|H| on
 * native/webgpu (f32 accumulation). The central differences (h = 1e-5, float64) are accurate to
 * about 1e-9.
 */
import { describe, expect, it } from 'vitest';
import { ACTIVATIONS, type Backend } from '../../../src/backends/backend.js';
import { JsBackend } from '../../../src/backends/js/index.js';
import { inputSize, mlpDescription, type ModelDescription, outputSize, parseModelDescription } from '../../../src/model/description.js';
import { CurvatureProduct, flattenParameters, ggnVectorProduct, hessianVectorProduct, parameterLayout } from '../../../src/model/hvp.js';
import { Mlp } from '../../../src/model/mlp.js';
import { asymmetry, denseGgn, finiteDifferenceHessian, jacobiEigen } from '../../helpers/dense.js';
import { randomArray, randomInts } from '../../helpers/backends.js';

interface Problem {
  model: Mlp;
  d: ModelDescription;
  theta: Float64Array;
  x: Float32Array;
  y: Int32Array;
  B: number;
  D: number;
}

async function problem(b: Backend, d: ModelDescription, seed: number, B = 6): Promise<Problem> {
  const base = Mlp.init(b, d, seed);
  // Scale weights up so every activation works away from its linear regime (curvature is visible).
  const host = await base.toHost();
  const model = Mlp.fromHost(b, d, new Map(host.map((t) => [t.name, t.data.map((v) => v * 2.5)])));
  const flat = flattenParameters(model);
  const theta = Float64Array.from(await b.read(flat));
  b.free(flat);
  const D = inputSize(d);
  const C = outputSize(d);
  return { model, d, theta, x: randomArray(B * D, seed + 1, -2, 2), y: randomInts(B, seed + 2, C), B, D };
}

/** Column j of the product matrix is op(e_j): the dense matrix from products. */
async function denseFromProducts(b: Backend, P: number, apply: (v: ReturnType<Backend['upload']>) => ReturnType<Backend['upload']>): Promise<Float64Array> {
  const M = new Float64Array(P * P);
  for (let j = 0; j < P; j++) {
    const e = new Float32Array(P);
    e[j] = 1;
    const v = b.upload(e, [P]);
    const hv = apply(v);
    const col = await b.read(hv);
    b.free(v);
    b.free(hv);
    for (let i = 0; i < P; i++) M[i * P + j] = col[i]!;
  }
  return M;
}

function expectMatrixClose(actual: Float64Array, expected: Float64Array, rtol: number, atolRel: number, label: string): void {
  let scale = 0;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  const atol = atolRel * scale;
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const excess = Math.abs(actual[i]! - expected[i]!) - (atol + rtol * Math.abs(expected[i]!));
    if (excess > worst) {
      worst = excess;
      at = i;
    }
  }
  expect(at, `${label}: entry ${at} is ${actual[at]} but expected ${expected[at]} (scale ${scale})`).toBe(-1);
}

const js = new JsBackend();

describe('HVP by the R-operator (js, float64 accumulation)', () => {
  for (const act of ACTIVATIONS) {
    it(`equals the finite-difference Hessian and is symmetric (${act}, two hidden layers)`, async () => {
      const d = mlpDescription(6, [12, 12], 4, act);
      const p = await problem(js, d, 11);
      const P = p.model.parameterCount;
      expect(P).toBe(6 * 12 + 12 + 12 * 12 + 12 + 12 * 4 + 4); // 292
      const xs = js.upload(p.x, [p.B, p.D]);
      const ys = js.uploadInt(p.y, [p.B]);
      const H = await denseFromProducts(js, P, (v) => hessianVectorProduct(p.model, xs, ys, v));
      const fd = finiteDifferenceHessian(d, p.theta, Float64Array.from(p.x), p.y, p.B);
      expectMatrixClose(H, fd, 1e-4, 2e-5, `H vs FD (${act})`);
      expect(asymmetry(H, P)).toBeLessThan(1e-5);
    });
  }

  it('handles a layer without bias and an activation directly on the input', async () => {
    const d = parseModelDescription({
      format: 'riverbed.model',
      version: 1,
      loss: 'cross_entropy',
      layers: [{ type: 'tanh' }, { type: 'linear', in: 4, out: 6, bias: false }, { type: 'gelu' }, { type: 'linear', in: 6, out: 3 }],
    });
    const p = await problem(js, d, 5);
    const xs = js.upload(p.x, [p.B, p.D]);
    const ys = js.uploadInt(p.y, [p.B]);
    const P = p.model.parameterCount;
    const H = await denseFromProducts(js, P, (v) => hessianVectorProduct(p.model, xs, ys, v));
    expectMatrixClose(H, finiteDifferenceHessian(d, p.theta, Float64Array.from(p.x), p.y, p.B), 1e-4, 2e-5, 'no-bias model');
  });

  it('per-layer products are the diagonal blocks of the full Hessian; several batches give the mean over all', async () => {
    const d = mlpDescription(4, [5, 5], 3, 'sigmoid');
    const p = await problem(js, d, 3, 9);
    const P = p.model.parameterCount;
    const xs = js.upload(p.x, [p.B, p.D]);
    const ys = js.uploadInt(p.y, [p.B]);
    const H = await denseFromProducts(js, P, (v) => hessianVectorProduct(p.model, xs, ys, v));
    const full = parameterLayout(p.model);
    expect(full.blocks.map((b) => b.name)).toEqual(['0.weight', '0.bias', '2.weight', '2.bias', '4.weight', '4.bias']);
    for (const layer of ['0', '2', '4']) {
      const lay = parameterLayout(p.model, [layer]);
      const off = full.blocks.find((b) => b.name === `${layer}.weight`)!.offset;
      const Hb = await denseFromProducts(js, lay.size, (v) => hessianVectorProduct(p.model, xs, ys, v, [layer]));
      const expected = new Float64Array(lay.size * lay.size);
      for (let i = 0; i < lay.size; i++) for (let j = 0; j < lay.size; j++) expected[i * lay.size + j] = H[(off + i) * P + off + j]!;
      expectMatrixClose(Hb, expected, 1e-5, 1e-6, `block ${layer}`);
    }
    // Batches of 4 + 5 samples, accumulated, equal the 9-sample batch.
    const batches = [
      { x: js.upload(p.x.subarray(0, 4 * p.D), [4, p.D]), labels: js.uploadInt(p.y.subarray(0, 4), [4]) },
      { x: js.upload(p.x.subarray(4 * p.D), [5, p.D]), labels: js.uploadInt(p.y.subarray(4), [5]) },
    ];
    // All cached, none cached, and a budget that holds the first batch only (4 samples: 4 hidden
    // tensors [4, 5] + logits [4, 3] + output gradients [4, 3] and 4 × [4, 5] = 184 floats).
    for (const [cache, cacheBytes] of [[true, undefined], [false, undefined], [true, 4 * 184 + 1]] as const) {
      const prod = new CurvatureProduct(p.model, batches, { cache, cacheBytes });
      const Hs = await denseFromProducts(js, P, (v) => prod.apply(v));
      expectMatrixClose(Hs, H, 1e-5, 1e-6, `batched (cache ${cache})`);
      expect(prod.products).toBe(P);
      prod.dispose();
    }
  });

  it('GGN equals Jᵀ H J from per-sample Jacobians and is positive semi-definite', async () => {
    for (const act of ['tanh', 'relu'] as const) {
      const d = mlpDescription(4, [6], 3, act);
      const p = await problem(js, d, 21, 5);
      const P = p.model.parameterCount;
      const xs = js.upload(p.x, [p.B, p.D]);
      const ys = js.uploadInt(p.y, [p.B]);
      const G = await denseFromProducts(js, P, (v) => ggnVectorProduct(p.model, xs, ys, v));
      const truth = denseGgn(d, p.theta, Float64Array.from(p.x), p.B);
      expectMatrixClose(G, truth, 1e-4, 2e-5, `GGN (${act})`);
      const { values } = jacobiEigen(truth, P);
      const { values: mine } = jacobiEigen(G.map((v, k) => 0.5 * (v + G[(k % P) * P + Math.floor(k / P)]!)), P);
      expect(mine[0]!).toBeGreaterThan(-1e-6 * values[P - 1]!);
      // Rank ≤ B·(C − 1): the softmax Hessian has the all-ones null vector.
      expect(mine.filter((v) => v > 1e-6 * values[P - 1]!).length).toBeLessThanOrEqual(p.B * 2);
    }
  });

  it('rejects a vector of the wrong length, an unknown layer and a wrong backend, naming the expectation', async () => {
    const d = mlpDescription(3, [4], 2, 'relu');
    const p = await problem(js, d, 1, 2);
    const xs = js.upload(p.x, [p.B, p.D]);
    const ys = js.uploadInt(p.y, [p.B]);
    const P = p.model.parameterCount;
    expect(() => hessianVectorProduct(p.model, xs, ys, js.zeros([P - 1]))).toThrow(new RegExp(`${P - 1} elements; expected ${P}`));
    expect(() => hessianVectorProduct(p.model, xs, ys, js.zeros([3]), ['1'])).toThrow(/"1" is not a linear layer.*"0", "2"/);
    expect(() => parameterLayout(p.model, ['x'])).toThrow(/not a linear layer/);
    expect(() => new CurvatureProduct(p.model, [{ x: js.zeros([2, 5]), labels: ys }])).toThrow(/expected \[batch, 3\]/);
  });
});
