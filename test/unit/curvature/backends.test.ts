/**
 * The curvature path on every backend: HVP and GGN products against the js reference on random
 * vectors, and Lanczos top-3 / Hutch++ against the dense Jacobi truth of the js operator.
 * Tolerances off js (f32 accumulation): products within 1e-4·‖Hv‖∞ per entry; eigenvalues within
 * 1e-4 relative (the Ritz values of the top eigenvalues are insensitive to f32 noise in the products).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../../src/backends/backend.js';
import { JsBackend } from '../../../src/backends/js/index.js';
import { lanczos } from '../../../src/curvature/lanczos.js';
import { ggnOperator, hessianOperator } from '../../../src/curvature/model-operators.js';
import { hutchPlusPlus } from '../../../src/curvature/trace.js';
import { Mlp } from '../../../src/model/mlp.js';
import { backendsUnderTest, randomArray, randomInts } from '../../helpers/backends.js';
import { type CurvatureFixture, mlpHessian } from './fixture.js';

const js = new JsBackend();
let truth: CurvatureFixture;
beforeAll(async () => {
  truth = await mlpHessian(js, 'gelu', 31);
});

for (const t of await backendsUnderTest()) {
  describe.skipIf(t.skip !== undefined)(`curvature on ${t.name}${t.skip ? ` (skipped: ${t.skip})` : ''}`, () => {
    let b: Backend;
    let model: Mlp;
    let x: ReturnType<Backend['zeros']>;
    let y: ReturnType<Backend['zeros']>;
    beforeAll(async () => {
      b = await t.create();
      model = Mlp.fromHost(b, truth.model.description, new Map((await truth.model.toHost()).map((p) => [p.name, p.data])));
      // The fixture's batch: 32 samples drawn with the same seeds as mlpHessian (seed 31).
      x = b.upload(randomArray(32 * 6, 32, -2, 2), [32, 6]);
      y = b.uploadInt(randomInts(32, 33, 4), [32]);
    });

    it('HVP and GGN products match js on random vectors', async () => {
      const jsX = js.upload(randomArray(32 * 6, 32, -2, 2), [32, 6]);
      const jsY = js.uploadInt(randomInts(32, 33, 4), [32]);
      for (const kind of ['hessian', 'ggn'] as const) {
        const make = kind === 'hessian' ? hessianOperator : ggnOperator;
        const op = make(model, { x, labels: y });
        const ref = make(truth.model, { x: jsX, labels: jsY });
        for (let s = 0; s < 3; s++) {
          const v = randomArray(op.size, 100 + s);
          const hv = await b.read(op.matvec(b.upload(v, [op.size])));
          const want = await js.read(ref.matvec(js.upload(v, [op.size])));
          const scale = Math.max(...want.map(Math.abs));
          want.forEach((w, i) => expect(Math.abs(hv[i]! - w), `${kind} entry ${i}`).toBeLessThanOrEqual(1e-4 * scale));
        }
        op.dispose();
      }
    });

    it('Lanczos top-3 within 1e-4 relative of the dense eigenvalues; Hutch++ interval holds the trace', async () => {
      const op = hessianOperator(model, { x, labels: y });
      const r = await lanczos(op, { k: 3, seed: 1 });
      const desc = Array.from(truth.eigenvalues).reverse();
      expect(r.converged).toBe(true);
      r.eigenvalues.forEach((v, i) => expect(Math.abs(v - desc[i]!) / Math.abs(desc[i]!), `λ${i}`).toBeLessThanOrEqual(1e-4));
      const h = await hutchPlusPlus(op, { matvecs: 30, seed: 1 });
      expect(h.interval[0]).toBeLessThanOrEqual(truth.trace);
      expect(h.interval[1]).toBeGreaterThanOrEqual(truth.trace);
      op.dispose();
    });
  });
}

describe('webgpu: the curvature path frees every intermediate', () => {
  it('no new GPU buffers once the pool is warm (HVP, GGN, Lanczos, Hutch++, SLQ)', async (ctx) => {
    const [gpu] = await backendsUnderTest(['webgpu']);
    if (gpu!.skip) ctx.skip();
    const b = await gpu!.create();
    try {
      const stats = (b as unknown as { rt: { stats: { buffersCreated: number } } }).rt.stats;
      const model = Mlp.fromHost(b, truth.model.description, new Map((await truth.model.toHost()).map((p) => [p.name, p.data])));
      const batch = { x: b.upload(randomArray(32 * 6, 32, -2, 2), [32, 6]), labels: b.uploadInt(randomInts(32, 33, 4), [32]) };
      const once = async (): Promise<void> => {
        for (const make of [hessianOperator, ggnOperator]) {
          const op = make(model, batch, { cache: make === ggnOperator });
          await lanczos(op, { k: 2, seed: 1, residuals: 'exact', vectors: true });
          await hutchPlusPlus(op, { matvecs: 9, seed: 1 });
          const { spectralDensity } = await import('../../../src/curvature/density.js');
          await spectralDensity(op, { probes: 1, steps: 10, seed: 1 });
          op.dispose();
        }
        await b.sync();
      };
      await once();
      const warm = stats.buffersCreated;
      await once();
      expect(stats.buffersCreated - warm).toBe(0);
    } finally {
      b.dispose();
    }
  });
});
