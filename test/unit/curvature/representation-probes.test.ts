/**
 * The rankme, alphareq and cond training probes (curvature/train-probes.ts) on every backend:
 * RankMe and α-ReQ of the probe batch's hidden representation against the same measures of that
 * representation computed on the host in float64 from the weights; the layer option (default the
 * penultimate representation, the logits of a one-layer model, out of range refused); the
 * condition numbers of a linear and a conv weight set to matrices with known singular values.
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../../src/backends/backend.js';
import { alphaReq, rankMeOf } from '../../../src/curvature/spectral.js';
import { parseProbe, representationLayer, TrainProbes } from '../../../src/curvature/train-probes.js';
import { type ModelDescription, mlpDescription, parseModelDescription } from '../../../src/model/description.js';
import { Mlp } from '../../../src/model/mlp.js';
import { backendsUnderTest, randomArray } from '../../helpers/backends.js';

const backends = await backendsUnderTest();
const D = 6;
const H = 9;
const C = 4;
const N = 30;
const x = randomArray(N * D, 3, -2, 2);
const labels = Int32Array.from({ length: N }, (_, i) => i % C);

describe('parseProbe with options', () => {
  it('rankme/alphareq take layer=L; the others do not', () => {
    expect(parseProbe('rankme:layer=1:every=5')).toEqual({ name: 'rankme', every: 5, layer: 1 });
    expect(parseProbe('alphareq:every=3')).toEqual({ name: 'alphareq', every: 3 });
    expect(parseProbe('ghosts')).toEqual({ name: 'ghosts', every: 50 });
    expect(() => parseProbe('cond:layer=1')).toThrow(/cond takes every=N, not "layer"/);
    expect(() => parseProbe('rankme:layer=-1')).toThrow(/layer must be a non-negative integer, got "-1"/);
    expect(() => parseProbe('rankme:layer=1:layer=2')).toThrow(/layer is given twice/);
  });
});

for (const be of backends) {
  describe.skipIf(!!be.skip)(`representation and weight probes on ${be.name}`, () => {
    it('rankme and alphareq of the hidden layer = the float64 measures of relu(W₁x + b₁) from the weights', async () => {
      const b: Backend = await be.create();
      try {
        const desc = mlpDescription(D, [H], C);
        const model = Mlp.init(b, desc, 5);
        const batch = { x: b.upload(x, [N, D]), labels: b.uploadInt(labels, [N]) };
        const probes = new TrainProbes(model, batch, labels, [parseProbe('rankme:every=1'), parseProbe('alphareq:every=1')]);
        const [rm, aq] = await probes.measure(0);
        const [W, bias] = (await model.toHost()).map((t) => t.data);
        const z = new Float64Array(N * H);
        for (let n = 0; n < N; n++) for (let h = 0; h < H; h++) {
          let s = bias![h]!;
          for (let d = 0; d < D; d++) s += W![h * D + d]! * x[n * D + d]!;
          z[n * H + h] = Math.max(0, s);
        }
        expect(rm!.values.layer).toBe(1); // the default: the input of the last linear layer
        expect(rm!.values.dims).toBe(H);
        expect(rm!.values.rankme).toBeCloseTo(rankMeOf(z, N, H), 4);
        const fit = alphaReq(z, N, H)!;
        expect(aq!.values.alpha).toBeCloseTo(fit.alpha, 4);
        expect(aq!.values.points).toBe(fit.points);
        expect(aq!.values.r2).toBeCloseTo(fit.r2, 4);
        // layer=2: the logits.
        const p2 = new TrainProbes(model, batch, labels, [parseProbe('rankme:layer=2:every=1')]);
        const logits = await b.read(model.forward(batch.x));
        expect((await p2.measure(0))[0]!.values.rankme).toBeCloseTo(rankMeOf(logits, N, C), 4);
        expect(() => new TrainProbes(model, batch, labels, [parseProbe('rankme:layer=3')])).toThrow(/layer=3 is not a module of the model; expected 0\.\.2/);
        const one = Mlp.init(b, { format: 'riverbed.model', version: 1, layers: [{ type: 'linear', in: D, out: C }], loss: 'cross_entropy' } as ModelDescription, 1);
        expect(representationLayer(one, parseProbe('rankme'))).toBe(0);
        one.dispose();
        model.dispose();
        b.free(batch.x);
        b.free(batch.labels);
      } finally {
        b.dispose();
      }
    });

    it('cond: σ_max/σ_min of a linear weight and of a conv weight as [out, in·kh·kw], set to known singular values', async () => {
      const b: Backend = await be.create();
      try {
        const desc = parseModelDescription({
          format: 'riverbed.model',
          version: 1,
          input: [1, 3, 3],
          layers: [{ type: 'conv2d', in: 1, out: 2, kernel: 2 }, { type: 'relu' }, { type: 'flatten' }, { type: 'linear', in: 8, out: 3 }],
          loss: 'cross_entropy',
        });
        const model = Mlp.init(b, desc, 2);
        // conv [2, 1, 2, 2] as [2, 4]: rows (1, 0, 0, 0) and (0, 0, 0, 3) → σ = 3, 1.
        // linear [3, 8]: 2·e₀, 0.5·e₅, 0.25·(e₁ + e₂) → σ = 2, 0.5, 0.25·√2.
        const conv = Float32Array.of(1, 0, 0, 0, 0, 0, 0, 3);
        const lin = new Float32Array(24);
        lin[0] = 2;
        lin[8 + 5] = 0.5;
        lin[16 + 1] = 0.25;
        lin[16 + 2] = 0.25;
        const host = new Map((await model.toHost()).map((t) => [t.name, t.data]));
        host.set('0.weight', conv);
        host.set('3.weight', lin);
        model.setWeights(host);
        const xs = randomArray(4 * 9, 1);
        const batch = { x: b.upload(xs, [4, 9]), labels: b.uploadInt(Int32Array.of(0, 1, 2, 0), [4]) };
        const probes = new TrainProbes(model, batch, Int32Array.of(0, 1, 2, 0), [parseProbe('cond:every=1')]);
        const v = (await probes.measure(0))[0]!.values;
        expect(Object.keys(v).sort()).toEqual(['cond:0.weight', 'cond:3.weight', 'sigmaMax:0.weight', 'sigmaMax:3.weight', 'sigmaMin:0.weight', 'sigmaMin:3.weight']);
        expect(v['cond:0.weight']).toBeCloseTo(3, 10);
        expect(v['sigmaMax:3.weight']).toBeCloseTo(2, 10);
        expect(v['sigmaMin:3.weight']).toBeCloseTo(0.25 * Math.SQRT2, 10);
        expect(v['cond:3.weight']).toBeCloseTo(2 / (0.25 * Math.SQRT2), 9);
        // A rank-deficient weight: σ_min unresolved, no cond key.
        host.set('0.weight', Float32Array.of(1, 0, 0, 0, 2, 0, 0, 0));
        model.setWeights(host);
        const w = (await probes.measure(1))[0]!.values;
        expect(w['cond:0.weight']).toBeUndefined();
        expect(w['sigmaMax:0.weight']).toBeCloseTo(Math.sqrt(5), 10);
        model.dispose();
        b.free(batch.x);
        b.free(batch.labels);
      } finally {
        b.dispose();
      }
    });
  });
}
