/**
 * The river-valley probe against a case whose Hessian is known in closed form: softmax
 * regression, H = (1/N)·Σ_n (diag(p_n) − p_n p_nᵀ) ⊗ x̃_n x̃_nᵀ with x̃ = [x, 1], built in float64
 * here (not by riverbed's HVP), its top eigenpair by float64 power iteration. An update with a
 * chosen component along v₁ must come out as that component; on every backend. Plus the steps
 * it asks for, and a real run through train() (measurements at multiples of `every` only).
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../../src/backends/backend.js';
import { RiverValleyProbe } from '../../../src/curvature/river-valley.js';
import type { ModelDescription } from '../../../src/model/description.js';
import { Mlp } from '../../../src/model/mlp.js';
import { optimizerConfig } from '../../../src/train/optimizer.js';
import { train } from '../../../src/train/trainer.js';
import { backendsUnderTest, randomArray } from '../../helpers/backends.js';

const backends = await backendsUnderTest();
const D = 5;
const C = 3;
const N = 40;
const P = C * D + C;
const x = randomArray(N * D, 9);
const labels = Int32Array.from({ length: N }, (_, i) => (i * 7) % C);
const softmaxRegression = { format: 'riverbed.model', version: 1, layers: [{ type: 'linear', in: D, out: C }], loss: 'cross_entropy' } as ModelDescription;

/** The Hessian of the mean cross-entropy of softmax regression, float64; layout [W row-major, b] as riverbed flattens it. */
function hessian(W: Float32Array, bias: Float32Array): Float64Array {
  const H = new Float64Array(P * P);
  const idx = (c: number, d: number) => (d < D ? c * D + d : C * D + c); // d = D is the bias input 1
  for (let n = 0; n < N; n++) {
    const xt = [...Array.from(x.subarray(n * D, (n + 1) * D)), 1];
    const z = Array.from({ length: C }, (_, c) => bias[c]! + Array.from({ length: D }, (_, d) => W[c * D + d]! * xt[d]!).reduce((a, v) => a + v, 0));
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const s = e.reduce((a, v) => a + v, 0);
    const p = e.map((v) => v / s);
    for (let c = 0; c < C; c++)
      for (let c2 = 0; c2 < C; c2++) {
        const a = (c === c2 ? p[c]! : 0) - p[c]! * p[c2]!;
        for (let d = 0; d <= D; d++) for (let d2 = 0; d2 <= D; d2++) H[idx(c, d) * P + idx(c2, d2)] = H[idx(c, d) * P + idx(c2, d2)]! + (a * xt[d]! * xt[d2]!) / N;
      }
  }
  return H;
}

/** Top eigenpair of a symmetric PSD matrix by power iteration in float64 (with its residual). */
function topEigen(H: Float64Array): { value: number; vector: Float64Array; residual: number } {
  let v = Float64Array.from({ length: P }, (_, i) => 1 + i / P);
  let value = 0;
  for (let it = 0; it < 20000; it++) {
    const w = new Float64Array(P);
    for (let i = 0; i < P; i++) for (let j = 0; j < P; j++) w[i] = w[i]! + H[i * P + j]! * v[j]!;
    const norm = Math.hypot(...w);
    value = norm;
    v = w.map((u) => u / norm);
  }
  const Hv = new Float64Array(P);
  for (let i = 0; i < P; i++) for (let j = 0; j < P; j++) Hv[i] = Hv[i]! + H[i * P + j]! * v[j]!;
  return { value, vector: v, residual: Math.hypot(...Hv.map((u, i) => u - value * v[i]!)) };
}

describe('RiverValleyProbe.steps', () => {
  it('asks for every multiple m of every and m − 1, after the start', () => {
    const p = new RiverValleyProbe({} as Mlp, {} as never, { every: 5 });
    expect(p.steps(0, 12)).toEqual([4, 5, 9, 10]);
    expect(p.steps(5, 12)).toEqual([9, 10]);
    expect(p.steps(4, 12)).toEqual([5, 9, 10]); // step 4 is the start: begin(4) captures it
    expect(new RiverValleyProbe({} as Mlp, {} as never, { every: 1 }).steps(0, 3)).toEqual([1, 2, 3]);
    expect(() => new RiverValleyProbe({} as Mlp, {} as never, { every: 0 })).toThrow(/positive integer/);
  });
});

for (const be of backends) {
  describe.skipIf(!!be.skip)(`river-valley probe on ${be.name}`, () => {
    it('|⟨Δθ, v₁⟩|, ‖Δθ‖ and λ₁ against the closed-form Hessian', async () => {
      const b: Backend = await be.create();
      try {
        const model = Mlp.init(b, softmaxRegression, 2);
        const batch = { x: b.upload(x, [N, D]), labels: b.uploadInt(labels, [N]) };
        const [W, bias] = (await model.toHost()).map((t) => t.data);
        const top = topEigen(hessian(W!, bias!));
        expect(top.residual).toBeLessThan(1e-10 * top.value);
        // An update with component 0.03 along v₁ and 0.04 across it (w ⊥ v₁, unit).
        const r = Float64Array.from(randomArray(P, 4));
        const rv = r.reduce((a, u, i) => a + u * top.vector[i]!, 0);
        const w = r.map((u, i) => u - rv * top.vector[i]!);
        const wn = Math.hypot(...w);
        const delta = top.vector.map((u, i) => 0.03 * u + (0.04 * w[i]!) / wn);
        const now = Float32Array.from([...W!, ...bias!]);
        const before = now.map((u, i) => u - delta[i]!);
        const probe = new RiverValleyProbe(model, batch, { every: 5, rate: (t) => 0.1 + t, tol: 1e-5 });
        model.setWeights(new Map([['0.weight', before.slice(0, C * D)], ['0.bias', before.slice(C * D)]]));
        expect(await probe.at(4)).toBeUndefined(); // captures θ_4
        model.setWeights(new Map([['0.weight', now.slice(0, C * D)], ['0.bias', now.slice(C * D)]]));
        const rec = (await probe.at(5))!;
        // The truth from the f32 weights actually set.
        let along = 0;
        let sq = 0;
        for (let i = 0; i < P; i++) {
          const d = now[i]! - before[i]!;
          along += d * top.vector[i]!;
          sq += d * d;
        }
        expect(Math.abs(along)).toBeCloseTo(0.03, 6);
        expect(rec.step).toBe(5);
        expect(rec.lambdaMax).toBeCloseTo(top.value, 5);
        expect(rec.converged).toBe(1);
        expect(rec.along).toBeCloseTo(Math.abs(along), 5);
        expect(rec.updateNorm).toBeCloseTo(Math.sqrt(sq), 6);
        expect(rec.ratio).toBeCloseTo(Math.abs(along) / Math.sqrt(sq), 4);
        expect(rec.ratio).toBeCloseTo(0.6, 4); // 0.03 / ‖(0.03, 0.04)‖
        expect(rec.lr).toBe(4.1); // the rate of update 4, the one that led to step 5
        // A measurement without the weights of the step before is an internal error, not a silent number.
        await expect(probe.at(10)).rejects.toThrow(/step 9 were not captured/);
        probe.dispose();
        model.dispose();
        b.free(batch.x);
        b.free(batch.labels);
      } finally {
        b.dispose();
      }
    });

    it('through train(): measured at multiples of every, each from the one step before it', async () => {
      const b: Backend = await be.create();
      try {
        const X = b.upload(x, [N, D]);
        const model = Mlp.init(b, softmaxRegression, 1);
        const batch = { x: X, labels: b.uploadInt(labels, [N]) };
        const probe = new RiverValleyProbe(model, batch, { every: 4 });
        const o = { epochs: 3, batchSize: 8, optimizer: optimizerConfig('sgd', { lr: 0.5 }), schedule: { name: 'constant' as const, warmupSteps: 0 }, seed: 4 };
        const steps = probe.steps(0, 15);
        expect(steps).toEqual([3, 4, 7, 8, 11, 12]);
        await train(model, { x: X, labels }, { ...o, probeAt: steps, onProbe: async (t) => void (await probe.at(t)) });
        expect(probe.records.map((r) => r.step)).toEqual([4, 8, 12]);
        for (const r of probe.records) {
          expect(r.updateNorm).toBeGreaterThan(0);
          expect(r.along).toBeLessThanOrEqual(r.updateNorm * (1 + 1e-6));
          expect(r.lambdaMax).toBeGreaterThan(0);
          expect(Number.isNaN(r.lr)).toBe(true);
        }
        probe.dispose();
        model.dispose();
        b.free(X);
        b.free(batch.labels);
      } finally {
        b.dispose();
      }
    });
  });
}
