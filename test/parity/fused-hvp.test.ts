/**
 * The native backend's fused curvature product (Backend.mlpCurvatureProduct, native/mlp_hvp.cc)
 * against the product composed from kernels (src/model/hvp.ts) on js (float64 accumulation) and on
 * native itself: every activation, 1–3 hidden layers, a bias-less layer, batches of 1, 7 and 64,
 * Hessian and GGN, per-layer blocks, several batches with the forward state kept between products,
 * and a problem past 65 537 elements per activation (the addon's threaded elementwise paths). Each
 * fused product is run with the forward state kept between products (applied twice) and without.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ACTIVATIONS, type Backend, type FusedCurvatureRequest, type Tensor } from '../../src/backends/backend.js';
import { JsBackend } from '../../src/backends/js/index.js';
import { inputSize, mlpDescription, type ModelDescription, outputSize, parseModelDescription } from '../../src/model/description.js';
import { CurvatureProduct, type CurvatureKind, parameterLayout } from '../../src/model/hvp.js';
import { Mlp } from '../../src/model/mlp.js';
import { backendsUnderTest, randomArray, randomInts } from '../helpers/backends.js';

const [native] = await backendsUnderTest(['native']);

/** ‖a − b‖/‖b‖ ≤ 1e-4 and every element within 1e-4·|b| + 1e-5·max|b|. */
function expectProductClose(a: Float32Array, b: Float32Array, label: string): void {
  expect(a.length, label).toBe(b.length);
  let num = 0;
  let den = 0;
  let max = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
    max = Math.max(max, Math.abs(b[i]!));
  }
  expect(max, `${label}: product is all zeros (nothing compared)`).toBeGreaterThan(0);
  expect(Math.sqrt(num / den), `${label}: relative error`).toBeLessThanOrEqual(1e-4);
  for (let i = 0; i < b.length; i++) {
    const tol = 1e-4 * Math.abs(b[i]!) + 1e-5 * max;
    if (!(Math.abs(a[i]! - b[i]!) <= tol)) expect.fail(`${label}: element ${i} is ${a[i]} but expected ${b[i]} (tolerance ${tol})`);
  }
}

describe.skipIf(native!.skip !== undefined)('fused native curvature product', () => {
  let nb: Backend;
  const js = new JsBackend();
  let fusedCalls = 0;
  beforeAll(async () => {
    nb = await native!.create();
    // Count the fused calls, so a test cannot pass by silently taking the composed path.
    const inner = nb.mlpCurvatureProduct!.bind(nb);
    nb.mlpCurvatureProduct = (req: FusedCurvatureRequest) => {
      fusedCalls++;
      inner(req);
    };
  });

  async function models(d: ModelDescription, seed: number): Promise<{ jm: Mlp; nm: Mlp }> {
    const base = Mlp.init(js, d, seed);
    // Weights scaled up so every activation works away from its linear regime.
    const host = new Map((await base.toHost()).map((t) => [t.name, t.data.map((v) => v * 2.5)]));
    return { jm: Mlp.fromHost(js, d, host), nm: Mlp.fromHost(nb, d, host) };
  }

  interface Case {
    d: ModelDescription;
    B: number;
    seed: number;
    layers?: string[];
    batches?: number;
  }

  /** Fused native, composed native and composed js products of one random vector; returns the three. */
  async function run(c: Case, kind: CurvatureKind): Promise<{ fused: Float32Array; fresh: Float32Array; composed: Float32Array; ref: Float32Array }> {
    const { jm, nm } = await models(c.d, c.seed);
    const D = inputSize(c.d);
    const C = outputSize(c.d);
    const P = parameterLayout(jm, c.layers).size;
    const v = randomArray(P, c.seed + 3, -1, 1);
    const nBatches = c.batches ?? 1;
    const xs = Array.from({ length: nBatches }, (_, k) => randomArray(c.B * D, c.seed + 10 + k, -2, 2));
    const ys = Array.from({ length: nBatches }, (_, k) => randomInts(c.B, c.seed + 20 + k, C));
    const product = async (b: Backend, m: Mlp, fused: boolean, applies: number, cache = true): Promise<Float32Array> => {
      const batches = xs.map((x, k) => ({ x: b.upload(x, [c.B, D]), labels: b.uploadInt(ys[k]!, [c.B]) }));
      const op = new CurvatureProduct(m, batches, { kind, layers: c.layers, fused, cache });
      const vt = b.upload(v, [P]);
      let last: Float32Array | undefined;
      for (let k = 0; k < applies; k++) {
        const hv: Tensor = op.apply(vt);
        const got = await b.read(hv);
        b.free(hv);
        if (last) expect(Array.from(got), 'a cached product equals the first').toEqual(Array.from(last));
        last = got;
      }
      op.dispose();
      b.free(vt);
      for (const bt of batches) (b.free(bt.x), b.free(bt.labels));
      return last!;
    };
    const before = fusedCalls;
    const fused = await product(nb, nm, true, 2); // forward state kept by the caller, reused
    const fresh = await product(nb, nm, true, 2, false); // recomputed in the addon's workspace
    expect(fusedCalls - before, 'fused calls (one per batch per product)').toBe(4 * nBatches);
    const composed = await product(nb, nm, false, 1);
    expect(fusedCalls - before, 'fused: false takes the composed path').toBe(4 * nBatches);
    const ref = await product(js, jm, true, 1); // js has no fused product: composed
    return { fused, fresh, composed, ref };
  }

  async function check(c: Case, label: string): Promise<void> {
    for (const kind of ['hessian', 'ggn'] as const) {
      const { fused, fresh, composed, ref } = await run(c, kind);
      expect(Array.from(fresh), `${label} ${kind}: kept state and recomputed forward agree`).toEqual(Array.from(fused));
      expectProductClose(fused, ref, `${label} ${kind} fused vs js`);
      expectProductClose(fused, composed, `${label} ${kind} fused vs composed native`);
    }
  }

  for (const act of ACTIVATIONS) {
    for (const depth of [1, 2, 3]) {
      it(`${act}, ${depth} hidden layer(s), batches of 1, 7 and 64`, async () => {
        const hidden = [9, 12, 7].slice(0, depth);
        const d = mlpDescription(6, hidden, 4, act);
        for (const B of [1, 7, 64]) await check({ d, B, seed: 100 * depth + B }, `${act}/${depth}/B${B}`);
      });
    }
  }

  it('a bias-less layer and an activation before the first linear layer', async () => {
    const d = parseModelDescription({
      format: 'riverbed.model',
      version: 1,
      layers: [{ type: 'tanh' }, { type: 'linear', in: 5, out: 8, bias: false }, { type: 'gelu' }, { type: 'linear', in: 8, out: 6 }, { type: 'sigmoid' }, { type: 'linear', in: 6, out: 3, bias: false }],
    });
    await check({ d, B: 7, seed: 7 }, 'bias-less');
    await check({ d, B: 7, seed: 8, layers: ['5'] }, 'bias-less block 5');
  });

  it('per-layer blocks (first, middle, last, two layers)', async () => {
    const d = mlpDescription(6, [9, 8], 4, 'tanh');
    for (const layers of [['0'], ['2'], ['4'], ['0', '4']]) await check({ d, B: 7, seed: 31, layers }, `block ${layers.join('+')}`);
  });

  it('several batches with the forward state kept between products', async () => {
    const d = mlpDescription(6, [10, 8], 5, 'sigmoid');
    await check({ d, B: 7, seed: 41, batches: 3 }, '3 batches');
    await check({ d, B: 7, seed: 42, batches: 2, layers: ['2'] }, '2 batches, block 2');
  });

  it('past 65 537 elements per activation (threaded paths)', async () => {
    const d = mlpDescription(12, [520], 5, 'tanh');
    await check({ d, B: 130, seed: 51 }, 'B·width = 67 600');
  });

  it('a label out of range is E_LABEL (Hessian), with no output', async () => {
    const { nm } = await models(mlpDescription(4, [5], 3, 'relu'), 3);
    const x = nb.upload(randomArray(8, 1), [2, 4]);
    const labels = nb.uploadInt(Int32Array.of(0, 3), [2]);
    const op = new CurvatureProduct(nm, [{ x, labels }]);
    const v = nb.upload(new Float32Array(parameterLayout(nm).size), [parameterLayout(nm).size]);
    expect(() => op.apply(v)).toThrow(/label 3 of row 1 is outside \[0, 3\)/);
  });
});
