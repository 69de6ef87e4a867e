/**
 * Training probes: the gradient norm against a float64 hand computation (softmax regression), the
 * sharpness against the top eigenvalue of the dense Hessian built column by column, the loss probe
 * against evaluateSamples; through train() on every backend (fused and composed): a probe at step
 * t sees exactly the weights after step t (= a run stopped there).
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../../src/backends/backend.js';
import { parseProbe, TrainProbes } from '../../../src/curvature/train-probes.js';
import { symmetricEigen } from '../../../src/curvature/symeig.js';
import type { ModelDescription } from '../../../src/model/description.js';
import { mlpDescription } from '../../../src/model/description.js';
import { hessianVectorProduct } from '../../../src/model/hvp.js';
import { Mlp } from '../../../src/model/mlp.js';
import { optimizerConfig } from '../../../src/train/optimizer.js';
import { train } from '../../../src/train/trainer.js';
import { backendsUnderTest, randomArray } from '../../helpers/backends.js';

const backends = await backendsUnderTest();
const D = 5;
const C = 3;
const N = 40;
const x = randomArray(N * D, 9);
const labels = Int32Array.from({ length: N }, (_, i) => (i * 7) % C);
const softmaxRegression = { format: 'riverbed.model', version: 1, layers: [{ type: 'linear', in: D, out: C }], loss: 'cross_entropy' } as ModelDescription;

describe('parseProbe', () => {
  it('NAME or NAME:every=N', () => {
    expect(parseProbe('sharpness')).toEqual({ name: 'sharpness', every: 50 });
    expect(parseProbe('gradnorm:every=7')).toEqual({ name: 'gradnorm', every: 7 });
    expect(() => parseProbe('bogus')).toThrow(/--probe.*loss, gradnorm, sharpness, ghosts, rankme, alphareq, cond/);
    expect(() => parseProbe('loss:every=0')).toThrow(/positive integer/);
    expect(() => parseProbe('loss:each=3')).toThrow(/NAME:every=N/);
  });
});

for (const be of backends) {
  describe.skipIf(!!be.skip)(`training probes on ${be.name}`, () => {
    it('gradnorm = ‖(1/B)·Σ (p − onehot)·[x, 1]‖ by hand; sharpness = top eigenvalue of the dense Hessian; loss = evaluateSamples', async () => {
      const b: Backend = await be.create();
      try {
        const model = Mlp.init(b, softmaxRegression, 2);
        const batch = { x: b.upload(x, [N, D]), labels: b.uploadInt(labels, [N]) };
        const probes = new TrainProbes(model, batch, labels, [parseProbe('loss:every=1'), parseProbe('gradnorm:every=1'), parseProbe('sharpness:every=1')]);
        const rec = await probes.measure(0);
        expect(rec.map((r) => r.probe)).toEqual(['loss', 'gradnorm', 'sharpness']);
        const [W, bias] = (await model.toHost()).map((t) => t.data);
        let sq = 0;
        const g = new Float64Array(C * D + C);
        let loss = 0;
        let correct = 0;
        for (let r = 0; r < N; r++) {
          const z = Array.from({ length: C }, (_, c) => bias![c]! + Array.from({ length: D }, (_, d) => W![c * D + d]! * x[r * D + d]!).reduce((a, v) => a + v, 0));
          const m = Math.max(...z);
          const e = z.map((v) => Math.exp(v - m));
          const s = e.reduce((a, v) => a + v, 0);
          loss += Math.log(s) + m - z[labels[r]!]!;
          if (z.indexOf(m) === labels[r]) correct++;
          for (let c = 0; c < C; c++) {
            const d = e[c]! / s - (labels[r] === c ? 1 : 0);
            for (let k = 0; k < D; k++) g[c * D + k] = g[c * D + k]! + (d * x[r * D + k]!) / N;
            g[C * D + c] = g[C * D + c]! + d / N;
          }
        }
        for (const v of g) sq += v * v;
        expect(rec[1]!.values.gradNorm).toBeCloseTo(Math.sqrt(sq), 5);
        expect(rec[0]!.values.loss).toBeCloseTo(loss / N, 5);
        expect(rec[0]!.values.accuracy).toBe(correct / N);
        // The dense Hessian from P unit-vector products, its top eigenvalue.
        const P = C * D + C;
        const H = new Float64Array(P * P);
        for (let j = 0; j < P; j++) {
          const e = new Float32Array(P);
          e[j] = 1;
          const v = b.upload(e, [P]);
          const col = await b.read(hessianVectorProduct(model, batch.x, batch.labels, v));
          for (let i = 0; i < P; i++) H[i * P + j] = col[i]!;
        }
        for (let i = 0; i < P; i++) for (let j = 0; j < i; j++) H[i * P + j] = H[j * P + i] = (H[i * P + j]! + H[j * P + i]!) / 2;
        const top = Math.max(...symmetricEigen(H, P).values);
        expect(rec[2]!.values.lambdaMax).toBeCloseTo(top, 3);
        expect(rec[2]!.values.converged).toBe(1);
        // Step 3 with every=1 for all; a probe every 2 is skipped at step 3.
        const p2 = new TrainProbes(model, batch, labels, [parseProbe('gradnorm:every=2')]);
        expect(await p2.measure(3)).toEqual([]);
        expect((await p2.measure(4)).map((r) => r.step)).toEqual([4]);
        probes.dispose();
        b.free(batch.x);
        b.free(batch.labels);
      } finally {
        b.dispose();
      }
    });

    for (const fused of be.name === 'js' ? [false] : [true, false]) {
      it(`through train()${fused ? ' (fused where the backend has it)' : ' (composed)'}: the probe at step t sees the weights after step t`, async () => {
        const b: Backend = await be.create();
        try {
          const X = b.upload(x, [N, D]);
          const desc = mlpDescription(D, [6], C);
          const o = { epochs: 3, batchSize: 8, optimizer: optimizerConfig('adam', { lr: 0.01 }), schedule: { name: 'cosine' as const, warmupSteps: 0 }, seed: 4, fused };
          const model = Mlp.init(b, desc, 1);
          const seen = new Map<number, number[][]>();
          const calls: [number, number][] = [];
          await train(model, { x: X, labels }, { ...o, probeEvery: [4, 6], onProbe: async (t, e) => {
            calls.push([t, e]);
            seen.set(t, (await model.toHost()).map((w) => Array.from(w.data)));
          } });
          // 5 steps per epoch, 15 in all: multiples of 4 or 6.
          expect(calls).toEqual([[4, 1], [6, 2], [8, 2], [12, 3]]);
          for (const t of [6, 12]) {
            const m2 = Mlp.init(b, desc, 1);
            await train(m2, { x: X, labels }, { ...o, stopAfter: t });
            expect((await m2.toHost()).map((w) => Array.from(w.data)), `step ${t}`).toEqual(seen.get(t));
            m2.dispose();
          }
          model.dispose();
          b.free(X);
        } finally {
          b.dispose();
        }
      });
    }
  });
}
