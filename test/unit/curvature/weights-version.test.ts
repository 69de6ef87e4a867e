/**
 * Curvature operators keep each batch's forward/backward state between products; that state is
 * derived from the weights, so it must not survive a change of them. After an optimizer step, an
 * in-place weights load (`Mlp.loadWeights`) or a whole training run, a kept operator's product must
 * equal a fresh operator's product on the new weights — on every backend, on the composed path and
 * (native) the fused one, Hessian and GGN, with several batches kept.
 *
 * The truth is a fresh operator without any cache, built after the change. Both run the same kernels
 * on the same inputs, so they agree to 1e-6·max|Hv| (f32 reassociation only); the old product is
 * checked to differ from the new one by far more, so a stale cache cannot pass.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, Tensor } from '../../../src/backends/backend.js';
import { hessianOperator } from '../../../src/curvature/model-operators.js';
import { mlpDescription } from '../../../src/model/description.js';
import { CurvatureProduct, type CurvatureKind, type DeviceBatch } from '../../../src/model/hvp.js';
import { Mlp } from '../../../src/model/mlp.js';
import { Optimizer, optimizerConfig } from '../../../src/train/optimizer.js';
import { train } from '../../../src/train/trainer.js';
import { backendsUnderTest, randomArray, randomInts } from '../../helpers/backends.js';

const desc = mlpDescription(5, [7, 6], 3, 'tanh');
const P = 5 * 7 + 7 + 7 * 6 + 6 + 6 * 3 + 3;
const dir = mkdtempSync(join(tmpdir(), 'riverbed-weights-version-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Seeded weights scaled so tanh works away from its linear regime (the curvature moves with them). */
function weights(seed: number): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  let k = 0;
  for (const [name, n] of [['0.weight', 35], ['0.bias', 7], ['2.weight', 42], ['2.bias', 6], ['4.weight', 18], ['4.bias', 3]] as const) {
    out.set(name, randomArray(n, seed * 100 + k++, -1.2, 1.2));
  }
  return out;
}

async function read(b: Backend, t: Tensor): Promise<Float32Array> {
  const a = await b.read(t);
  b.free(t);
  return a;
}

function maxAbs(a: Float32Array): number {
  return a.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
}

/** `got` equals `want` to 1e-6·max|want| per entry. */
function expectSame(got: Float32Array, want: Float32Array, label: string): void {
  const tol = 1e-6 * maxAbs(want);
  expect(maxAbs(want), `${label}: product is all zeros`).toBeGreaterThan(0);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i]! - want[i]!) <= tol)) expect.fail(`${label}: entry ${i} is ${got[i]} but a fresh operator gives ${want[i]} (tolerance ${tol})`);
  }
}

/** The weights really moved the product: max|a − b| > 1e-2·max|b|. */
function expectMoved(before: Float32Array, after: Float32Array, label: string): void {
  let d = 0;
  for (let i = 0; i < after.length; i++) d = Math.max(d, Math.abs(after[i]! - before[i]!));
  expect(d, `${label}: the change of weights did not change the product (test would not see a stale cache)`).toBeGreaterThan(1e-2 * maxAbs(after));
}

for (const t of await backendsUnderTest()) {
  describe.skipIf(t.skip !== undefined)(`curvature caches follow the weights on ${t.name}${t.skip ? ` (skipped: ${t.skip})` : ''}`, () => {
    let b: Backend;
    let batches: DeviceBatch[];
    let v: Tensor;
    let fusedCalls = 0;
    beforeAll(async () => {
      b = await t.create();
      // Count fused calls, so the fused cases cannot pass by silently taking the composed path.
      const inner = b.mlpCurvatureProduct?.bind(b);
      if (inner) {
        b.mlpCurvatureProduct = (req) => {
          fusedCalls++;
          inner(req);
        };
      }
      batches = [0, 1].map((i) => ({ x: b.upload(randomArray(9 * 5, 10 + i, -2, 2), [9, 5]), labels: b.uploadInt(randomInts(9, 20 + i, 3), [9]) }));
      v = b.upload(randomArray(P, 30), [P]);
    });

    const paths = t.name === 'native' ? [true, false] : [false];
    for (const fused of paths) {
      for (const kind of ['hessian', 'ggn'] as CurvatureKind[]) {
        const label = `${kind}, ${fused ? 'fused' : 'composed'}`;
        const checkPath = (calls: number): void => {
          if (fused) expect(fusedCalls, 'fused calls').toBeGreaterThan(calls);
        };
        const fresh = async (model: Mlp): Promise<Float32Array> => {
          const p = new CurvatureProduct(model, batches, { kind, fused, cache: false });
          return read(b, p.apply(v));
        };

        it(`${label}: product, optimizer step, product = a fresh operator's product`, async () => {
          const calls = fusedCalls;
          const model = Mlp.fromHost(b, desc, weights(1));
          const op = new CurvatureProduct(model, batches, { kind, fused });
          const before = await read(b, op.apply(v));
          expectSame(before, await fresh(model), `${label} before the step`);
          const opt = new Optimizer(b, model, optimizerConfig('sgd', { lr: 0.5, momentum: 0 }));
          const { loss, grads } = model.lossAndGradients(batches[0]!.x, batches[0]!.labels);
          b.free(loss);
          opt.step(grads, 0.5);
          for (const g of grads) b.free(g);
          const after = await read(b, op.apply(v));
          const want = await fresh(model);
          expectMoved(before, want, label);
          expectSame(after, want, `${label} after the step`);
          // And the cache is used again afterwards: a second product equals the first.
          expectSame(await read(b, op.apply(v)), want, `${label} second product after the step`);
          checkPath(calls);
          opt.dispose();
          op.dispose();
          model.dispose();
        });

        it(`${label}: product, in-place weights load, product = a fresh operator's product`, async () => {
          const calls = fusedCalls;
          const model = Mlp.fromHost(b, desc, weights(2));
          const other = Mlp.fromHost(b, desc, weights(3));
          const file = join(dir, `${t.name}-${label.replace(/\W+/g, '-')}.safetensors`);
          await other.save(file);
          other.dispose();
          const op = new CurvatureProduct(model, batches, { kind, fused });
          const before = await read(b, op.apply(v));
          await model.loadWeights(file);
          const after = await read(b, op.apply(v));
          const want = await fresh(model);
          expectMoved(before, want, label);
          expectSame(after, want, `${label} after loadWeights`);
          checkPath(calls);
          op.dispose();
          model.dispose();
        });
      }
    }

    it('the public hessianOperator follows a training run', async () => {
      const model = Mlp.fromHost(b, desc, weights(4));
      const op = hessianOperator(model, batches);
      const before = await read(b, op.matvec(v));
      const x = b.upload(randomArray(18 * 5, 40, -2, 2), [18, 5]);
      await train(model, { x, labels: randomInts(18, 41, 3) }, {
        epochs: 2, batchSize: 6, seed: 1, optimizer: optimizerConfig('sgd', { lr: 0.5 }), schedule: { name: 'constant', warmupSteps: 0 },
      });
      b.free(x);
      const after = await read(b, op.matvec(v));
      const want = await read(b, hessianOperator(model, batches, { cache: false }).matvec(v));
      expectMoved(before, want, 'after train()');
      expectSame(after, want, 'hessianOperator after train()');
      op.dispose();
      model.dispose();
    });
  });
}

describe('Mlp.version', () => {
  it('moves with every change of the weights and only then', async () => {
    const [js] = await backendsUnderTest(['js']);
    const b = await js!.create();
    const model = Mlp.fromHost(b, desc, weights(5));
    const x = b.upload(randomArray(4 * 5, 50), [4, 5]);
    const y = b.uploadInt(randomInts(4, 51, 3), [4]);
    const v0 = model.version;
    b.free(model.forward(x));
    const { loss, grads } = model.lossAndGradients(x, y);
    b.free(loss);
    expect(model.version, 'forward/backward do not change the weights').toBe(v0);
    const bare = new Optimizer(b, model.params.map((p) => p.tensor), optimizerConfig('adam'));
    expect(model.version).toBe(v0);
    const opt = new Optimizer(b, model, optimizerConfig('adam'));
    opt.step(grads, 1e-3);
    expect(model.version).toBeGreaterThan(v0);
    const v1 = model.version;
    model.setWeights(weights(6));
    expect(model.version).toBeGreaterThan(v1);
    expect(Array.from(await b.read(model.params[1]!.tensor))).toEqual(Array.from(weights(6).get('0.bias')!));
    const v2 = model.version;
    const short = weights(6);
    short.set('2.bias', new Float32Array(5));
    expect(() => model.setWeights(short, 'w.safetensors')).toThrow(/2\.bias.*6|6.*2\.bias/s);
    expect(model.version, 'a refused load writes nothing').toBe(v2);
    for (const g of grads) b.free(g);
    bare.dispose();
    opt.dispose();
  });
});
