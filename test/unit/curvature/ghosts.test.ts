/**
 * The ghosts-of-softmax radius (src/curvature/ghosts.ts): the logits' JVP (model/hvp.ts
 * logitsJvp, the R-forward pass) against central finite differences of a float64 host forward
 * (test/helpers/host-cnn.ts) for an MLP and a CNN; ρ against a hand computation on a softmax
 * regression whose update is chosen so the numbers are exact; the JVP taken at the weights the
 * update starts from; the probe through TrainProbes and through train() (fused and composed): the
 * update it sees at step t is θ_t − θ_{t−1} of runs stopped at t − 1 and t.
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../../src/backends/backend.js';
import { radiusFromJvp, updateRadius, weightsOnHost } from '../../../src/curvature/ghosts.js';
import { parseProbe, TrainProbes } from '../../../src/curvature/train-probes.js';
import { inputSize, mlpDescription, parseModelDescription, type ModelDescription } from '../../../src/model/description.js';
import { logitsJvp, parameterLayout } from '../../../src/model/hvp.js';
import { Mlp } from '../../../src/model/mlp.js';
import { optimizerConfig } from '../../../src/train/optimizer.js';
import { train } from '../../../src/train/trainer.js';
import { backendsUnderTest, randomArray } from '../../helpers/backends.js';
import { hostLogits } from '../../helpers/host-cnn.js';

const backends = await backendsUnderTest();

const cnn = parseModelDescription({
  format: 'riverbed.model',
  version: 1,
  input: [2, 5, 4],
  layers: [
    { type: 'conv2d', in: 2, out: 3, kernel: 3, padding: 1 },
    { type: 'tanh' },
    { type: 'avgpool2d', kernel: 2 },
    { type: 'flatten' },
    { type: 'linear', in: 12, out: 4 },
  ],
  loss: 'cross_entropy',
});
const mlp = { ...mlpDescription(5, [7], 3), layers: [{ type: 'linear', in: 5, out: 7 }, { type: 'tanh' }, { type: 'linear', in: 7, out: 3 }] } as ModelDescription;
const softmaxRegression = { format: 'riverbed.model', version: 1, layers: [{ type: 'linear', in: 2, out: 3 }], loss: 'cross_entropy' } as ModelDescription;

async function flatWeights(model: Mlp): Promise<Float64Array> {
  const host = await model.toHost();
  return Float64Array.from(host.flatMap((t) => Array.from(t.data)));
}

describe('radiusFromJvp by hand', () => {
  it('ρ = π‖Δθ‖ / max_i (max − min)_c (JΔθ)_ic; r = ‖Δθ‖/ρ', () => {
    // Sample 1 spreads 0.5 − (−1) = 1.5, sample 0 spreads 1: ρ = π·2/1.5.
    const r = radiusFromJvp([0.25, -0.75, 0.25, 0.5, -1, 0], 2, 3, 2);
    expect(r.sample).toBe(1);
    expect(r.rho).toBeCloseTo((Math.PI * 2) / 1.5, 14);
    expect(r.spread).toBeCloseTo(0.75, 14);
    expect(r.ratio).toBeCloseTo(1.5 / Math.PI, 14);
    expect(r.exceeded).toBe(false);
    expect(radiusFromJvp([0, 4, 0, 0], 2, 2, 1)).toMatchObject({ exceeded: true, sample: 0 });
    // No movement of the spread: no radius.
    expect(radiusFromJvp([1, 1, 2, 2], 2, 2, 0.5)).toMatchObject({ rho: undefined, ratio: 0, exceeded: false });
    expect(() => radiusFromJvp([1, 2, 3], 2, 2, 1)).toThrow(/3 directional derivatives for 2 samples × 2 classes/);
  });
});

for (const be of backends) {
  describe.skipIf(!!be.skip)(`ghosts of softmax on ${be.name}`, () => {
    for (const [name, desc] of [['MLP (tanh)', mlp], ['CNN (conv, tanh, avg pool, flatten, linear)', cnn]] as const) {
      it(`the logits' JVP (R-forward) equals central finite differences of a float64 forward: ${name}`, async () => {
        const b: Backend = await be.create();
        try {
          const B = 3;
          const D = inputSize(desc);
          const x = randomArray(B * D, 5, -1.5, 1.5);
          const model = Mlp.init(b, desc, 3);
          const P = parameterLayout(model).size;
          const v = randomArray(P, 8);
          const X = b.upload(x, [B, D]);
          const V = b.upload(v, [P]);
          const jv = await b.read(logitsJvp(model, X, V));
          const theta = await flatWeights(model);
          const h = 1e-5;
          const plus = hostLogits(desc, theta.map((t, i) => t + h * v[i]!), Float64Array.from(x), B);
          const minus = hostLogits(desc, theta.map((t, i) => t - h * v[i]!), Float64Array.from(x), B);
          const fd = plus.map((p, i) => (p - minus[i]!) / (2 * h));
          const scale = Math.max(...fd.map(Math.abs));
          expect(scale).toBeGreaterThan(0.1);
          fd.forEach((want, i) => expect(Math.abs(jv[i]! - want), `logit ${i}`).toBeLessThan(2e-5 * scale + 1e-6));
          // A layer restriction: the JVP along the last layer's parameters only.
          const last = String(desc.layers.length - 1);
          const sub = parameterLayout(model, [last]);
          const v2 = b.upload(v.subarray(P - sub.size), [sub.size]);
          const jLast = await b.read(logitsJvp(model, X, v2, [last]));
          const masked = Float64Array.from(v, (t, i) => (i >= P - sub.size ? t : 0));
          const p2 = hostLogits(desc, theta.map((t, i) => t + h * masked[i]!), Float64Array.from(x), B);
          const m2 = hostLogits(desc, theta.map((t, i) => t - h * masked[i]!), Float64Array.from(x), B);
          p2.forEach((p, i) => expect(Math.abs(jLast[i]! - (p - m2[i]!) / (2 * h))).toBeLessThan(2e-5 * scale + 1e-6));
          expect(() => logitsJvp(model, X, v2)).toThrow(/expected \d+ \(the parameters\)/);
          model.dispose();
          for (const t of [X, V, v2]) b.free(t);
        } finally {
          b.dispose();
        }
      });
    }

    it('ρ of a softmax-regression update by hand: x₁ = (1, 0), x₂ = (0, 2), ΔW = s·[[1, 0], [0, 0], [0, −1]]', async () => {
      // JΔθ: x₁ → (s, 0, 0) spreads s, x₂ → (0, 0, −2s) spreads 2s; ‖Δθ‖ = s√2, so
      // ρ = π·s√2/(2s) = π/√2 for every s, and r = ‖Δθ‖/ρ = 2s/π: exceeded once s > π/2.
      const b: Backend = await be.create();
      try {
        const model = Mlp.init(b, softmaxRegression, 1);
        const before = await weightsOnHost(model);
        const X = b.upload(Float32Array.of(1, 0, 0, 2), [2, 2]);
        for (const s of [1, 2]) {
          const w = before.get('0.weight')!.slice();
          w[0] = w[0]! + s;
          w[5] = w[5]! - s;
          model.setWeights(new Map([['0.weight', w], ['0.bias', before.get('0.bias')!]]));
          const r = await updateRadius(model, before, X);
          // ‖Δθ‖ from float32 weights: s√2 up to the rounding of w ± s.
          expect(r.updateNorm).toBeCloseTo(s * Math.SQRT2, 6);
          expect(r.rho!).toBeCloseTo(Math.PI / Math.SQRT2, 6);
          expect(r.ratio).toBeCloseTo((2 * s) / Math.PI, 6);
          expect(r.exceeded).toBe(s > Math.PI / 2);
          expect(r.sample).toBe(1);
        }
        model.dispose();
        b.free(X);
      } finally {
        b.dispose();
      }
    });

    it('the JVP is taken where the update starts (θ_{t−1}), not where it ends', async () => {
      const b: Backend = await be.create();
      try {
        const B = 4;
        const x = randomArray(B * 5, 12, -2, 2);
        const X = b.upload(x, [B, 5]);
        const model = Mlp.init(b, mlp, 9);
        const before = await weightsOnHost(model);
        const theta0 = await flatWeights(model);
        const step = randomArray(theta0.length, 13, -0.3, 0.3);
        const after = new Map<string, Float32Array>();
        let off = 0;
        for (const [k, w] of before) {
          after.set(k, Float32Array.from(w, (t, i) => t + step[off + i]!));
          off += w.length;
        }
        model.setWeights(after);
        const delta = Float64Array.from(await flatWeights(model), (t, i) => t - theta0[i]!);
        const r = await updateRadius(model, before, X);
        // The spread of J(θ₀)·Δθ by central differences at θ₀ on the host.
        const h = 1e-6;
        const p = hostLogits(mlp, theta0.map((t, i) => t + h * delta[i]!), Float64Array.from(x), B);
        const m = hostLogits(mlp, theta0.map((t, i) => t - h * delta[i]!), Float64Array.from(x), B);
        const a = p.map((v, i) => (v - m[i]!) / (2 * h));
        const want = radiusFromJvp(a, B, 3, Math.hypot(...delta));
        expect(r.rho!).toBeCloseTo(want.rho!, 4);
        expect(r.sample).toBe(want.sample);
        model.dispose();
        b.free(X);
      } finally {
        b.dispose();
      }
    });

    it('the ghosts probe: a record at every N-th step with ‖θ_t − θ_{t−1}‖ (TrainProbes.measure, then train() on every path)', async () => {
      const b: Backend = await be.create();
      try {
        const N = 24;
        const D = 5;
        const x = randomArray(N * D, 17, -1, 1);
        const labels = Int32Array.from({ length: N }, (_, i) => i % 3);
        const X = b.upload(x, [N, D]);
        const L = b.uploadInt(labels, [N]);
        const desc = mlpDescription(D, [6], 3);
        const o = { epochs: 2, batchSize: 5, optimizer: optimizerConfig('sgd', { lr: 0.5 }), schedule: { name: 'constant' as const, warmupSteps: 0 }, seed: 2 };
        for (const fused of be.name === 'js' ? [false] : [true, false]) {
          const model = Mlp.init(b, desc, 4);
          const probes = new TrainProbes(model, { x: X, labels: L }, labels, [parseProbe('ghosts:every=3')]);
          expect(probes.beforeIntervals).toEqual([3]);
          expect(probes.probeAt(0, 10)).toEqual([2, 5, 8]);
          expect(probes.probeAt(5, 10)).toEqual([8]);
          // Steps another probe's interval brings are not listed again; every=1 lists none.
          const both = new TrainProbes(model, { x: X, labels: L }, labels, [parseProbe('ghosts:every=3'), parseProbe('loss:every=4')]);
          expect(both.probeAt(0, 12)).toEqual([2, 5, 11]);
          expect(new TrainProbes(model, { x: X, labels: L }, labels, [parseProbe('ghosts:every=1')]).probeAt(0, 10)).toEqual([]);
          expect(await probes.measure(0)).toEqual([]); // no update at step 0
          await train(model, { x: X, labels }, { ...o, fused, probeEvery: probes.intervals, probeAt: probes.probeAt(0, 10), onProbe: async (t) => void (await probes.measure(t)) });
          // 5 steps per epoch, 10 in all: steps 3, 6, 9.
          expect(probes.records.map((r) => r.step)).toEqual([3, 6, 9]);
          for (const rec of probes.records) {
            const run = async (t: number) => {
              const m = Mlp.init(b, desc, 4);
              await train(m, { x: X, labels }, { ...o, fused, stopAfter: t });
              const w = await flatWeights(m);
              m.dispose();
              return w;
            };
            const [w0, w1] = [await run(rec.step - 1), await run(rec.step)];
            expect(rec.values.updateNorm, `step ${rec.step}`).toBeCloseTo(Math.hypot(...w1.map((v, i) => v - w0[i]!)), 10);
            expect(rec.values.rho).toBeGreaterThan(0);
            expect(rec.values.exceeded === 1).toBe(rec.values.updateNorm! > rec.values.rho!);
            expect(rec.values.ratio).toBeCloseTo(rec.values.updateNorm! / rec.values.rho!, 10);
          }
          // Asked at step t without the weights of step t − 1: refused.
          const lone = new TrainProbes(model, { x: X, labels: L }, labels, [parseProbe('ghosts:every=2')]);
          await expect(lone.measure(4)).rejects.toThrow(/weights after step 3/);
          probes.dispose();
          model.dispose();
        }
        b.free(X);
        b.free(L);
      } finally {
        b.dispose();
      }
    });
  });
}
