/**
 * EWC: the diagonal Fisher against a float64 hand computation (softmax regression, whose batch
 * gradient is (1/B)·Σ (p − onehot)·xᵀ), the penalty gradient against central finite differences
 * of Ω(θ) = λ/2·Σ_tasks Σ F(θ − θ*)² computed on the host, the penalty value, and its effect on
 * training. Every backend.
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../../src/backends/backend.js';
import type { ModelDescription } from '../../../src/model/description.js';
import { mlpDescription } from '../../../src/model/description.js';
import { Mlp } from '../../../src/model/mlp.js';
import { Ewc, diagonalFisher } from '../../../src/train/ewc.js';
import { optimizerConfig } from '../../../src/train/optimizer.js';
import { train } from '../../../src/train/trainer.js';
import { backendsUnderTest, expectClose, randomArray } from '../../helpers/backends.js';

const backends = await backendsUnderTest();
const D = 5;
const C = 3;
const N = 23;
const x = randomArray(N * D, 7);
const labels = Int32Array.from({ length: N }, (_, i) => (i * 5) % C);
const softmaxRegression: ModelDescription = { format: 'riverbed.model', version: 1, layers: [{ type: 'linear', in: D, out: C }], loss: 'cross_entropy' } as ModelDescription;

/** Batch-mean gradient of softmax regression in float64: [W (C×D) row-major, b (C)]. */
function batchGradient(W: Float32Array, bias: Float32Array, rows: number[]): Float64Array {
  const g = new Float64Array(C * D + C);
  for (const r of rows) {
    const z = Array.from({ length: C }, (_, c) => bias[c]! + Array.from({ length: D }, (_, d) => W[c * D + d]! * x[r * D + d]!).reduce((a, b) => a + b, 0));
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    for (let c = 0; c < C; c++) {
      const d = e[c]! / s - (labels[r] === c ? 1 : 0);
      for (let k = 0; k < D; k++) g[c * D + k] = g[c * D + k]! + (d * x[r * D + k]!) / rows.length;
      g[C * D + c] = g[C * D + c]! + d / rows.length;
    }
  }
  return g;
}

for (const be of backends) {
  describe.skipIf(!!be.skip)(`EWC on ${be.name}`, () => {
    it('diagonal Fisher = Σ over the epoch’s batches of the squared batch gradient / samples (float64 by hand)', async () => {
      const b: Backend = await be.create();
      try {
        const model = Mlp.init(b, softmaxRegression, 1);
        const X = b.upload(x, [N, D]);
        const F = diagonalFisher(model, { x: X, labels }, 8); // batches of 8, 8, 7
        const [W, bias] = (await model.toHost()).map((t) => t.data);
        const want = new Float64Array(C * D + C);
        const batches = [[0, 8], [8, 16], [16, 23]].map(([a, z]) => Array.from({ length: z! - a! }, (_, i) => a! + i));
        for (const rows of batches) batchGradient(W!, bias!, rows).forEach((g, i) => (want[i] = want[i]! + (g * g) / N));
        expectClose(await b.read(F[0]!), want.subarray(0, C * D), { rtol: 1e-4, atol: 1e-8 }, 'F(W)');
        expectClose(await b.read(F[1]!), want.subarray(C * D), { rtol: 1e-4, atol: 1e-8 }, 'F(b)');
        // A subset of rows (TrainSet.rows) is what the Fisher is taken over.
        const G = diagonalFisher(model, { x: X, labels, rows: Int32Array.of(3, 11) }, 5);
        const one = batchGradient(W!, bias!, [3, 11]);
        expectClose(await b.read(G[1]!), Array.from(one.subarray(C * D), (v) => (v * v) / 2), { rtol: 1e-4, atol: 1e-9 }, 'F(b) on rows 3, 11');
        for (const t of [...F, ...G, X]) b.free(t);
        model.dispose();
      } finally {
        b.dispose();
      }
    });

    it('penalty gradient = central finite differences of λ/2·Σ_tasks Σ F(θ − θ*)² (two tasks); the value matches', async () => {
      const b: Backend = await be.create();
      try {
        const model = Mlp.init(b, mlpDescription(D, [4], C), 2);
        const X = b.upload(x, [N, D]);
        const lambda = 37;
        const ewc = new Ewc(model, lambda);
        ewc.consolidate({ x: X, labels, rows: Int32Array.from({ length: 12 }, (_, i) => i) }, 4);
        // Move the weights, then a second task's anchor.
        const moved = new Map((await model.toHost()).map((t) => [t.name, t.data.map((v, i) => v + 0.3 * Math.sin(i + 1))]));
        model.setWeights(moved);
        ewc.consolidate({ x: X, labels, rows: Int32Array.from({ length: 11 }, (_, i) => 12 + i) }, 4);
        const anchors = [await ewc.anchor(0), await ewc.anchor(1)];
        // Evaluate at a third point.
        const theta = (await model.toHost()).map((t) => Float64Array.from(t.data, (v, i) => v - 0.2 * Math.cos(3 * i)));
        model.setWeights(new Map(model.params.map((p, i) => [p.name, Float32Array.from(theta[i]!)])));
        const at = (await model.toHost()).map((t) => Float64Array.from(t.data)); // the f32 weights the device holds
        const omega = (th: Float64Array[]) =>
          (lambda / 2) * anchors.reduce((s, a) => s + th.reduce((s2, t, p) => s2 + t.reduce((s3, v, i) => s3 + a.fisher[p]![i]! * (v - a.star[p]![i]!) ** 2, 0), 0), 0);
        const zeros = model.params.map((p) => b.zeros(p.shape));
        const grads = ewc.addGradient(zeros);
        const h = 1e-3;
        for (let p = 0; p < at.length; p++) {
          const fd = Array.from(at[p]!, (_, i) => {
            const plus = at.map((t) => Float64Array.from(t));
            const minus = at.map((t) => Float64Array.from(t));
            plus[p]![i] = plus[p]![i]! + h;
            minus[p]![i] = minus[p]![i]! - h;
            return (omega(plus) - omega(minus)) / (2 * h);
          });
          expect(fd.some((v) => Math.abs(v) > 1e-3), `parameter ${p} has a non-trivial penalty gradient`).toBe(true);
          expectClose(await b.read(grads[p]!), fd, { rtol: 1e-4, atol: 1e-6 }, `∇Ω parameter ${p}`);
        }
        expect(await ewc.penalty()).toBeCloseTo(omega(at), 4);
        // The gradient is added to what was there (here: ones).
        const ones = model.params.map((p) => b.upload(new Float32Array(p.tensor.size).fill(1), p.shape));
        const withOnes = ewc.addGradient(ones);
        expectClose(await b.read(withOnes[0]!), Array.from(await b.read(grads[0]!), (v) => v + 1), { rtol: 1e-6, atol: 1e-6 }, 'added');
        for (const t of [...grads, ...withOnes, X]) b.free(t);
        ewc.dispose();
        model.dispose();
      } finally {
        b.dispose();
      }
    });

    it('a large λ holds the weights near θ* while a second task trains; λ = 0 does not', async () => {
      const b: Backend = await be.create();
      try {
        const X = b.upload(x, [N, D]);
        const shifted = Int32Array.from(labels, (y) => (y + 1) % C); // a conflicting second task
        const dist = async (lambda: number) => {
          const model = Mlp.init(b, mlpDescription(D, [6], C), 4);
          const o = { epochs: 5, batchSize: 8, optimizer: optimizerConfig('sgd', { lr: 0.05, momentum: 0 }), schedule: { name: 'constant' as const, warmupSteps: 0 }, seed: 1 };
          await train(model, { x: X, labels }, o);
          const ewc = new Ewc(model, lambda);
          ewc.consolidate({ x: X, labels }, 8);
          const star = (await model.toHost()).map((t) => t.data);
          await train(model, { x: X, labels: shifted }, { ...o, penalty: ewc });
          const after = (await model.toHost()).map((t) => t.data);
          ewc.dispose();
          model.dispose();
          return Math.sqrt(after.reduce((s, a, p) => s + a.reduce((s2, v, i) => s2 + (v - star[p]![i]!) ** 2, 0), 0));
        };
        const free = await dist(0);
        const held = await dist(20000);
        expect(free).toBeGreaterThan(0.05);
        expect(held).toBeLessThan(free / 2);
        b.free(X);
      } finally {
        b.dispose();
      }
    });
  });
}

describe('EWC arguments', () => {
  it('λ must be a finite number ≥ 0', async () => {
    const { JsBackend } = await import('../../../src/backends/js/index.js');
    const m = Mlp.init(new JsBackend(), mlpDescription(2, [2], 2), 0);
    expect(() => new Ewc(m, -1)).toThrow(/ewc-lambda.*≥ 0/);
    expect(() => new Ewc(m, NaN)).toThrow(/ewc-lambda/);
  });
});
