/**
 * Every unlearning method on a tiny synthetic problem (three Gaussian blobs, a 5-12-3 tanh MLP,
 * js backend), each against a truth that does not come from the method itself:
 *   - ga raises the forget loss; ga+gd raises it while hurting the retain loss less than ga;
 *   - npo's first step from θ_ref is gradient ascent's (its gradient equals GA's there);
 *   - gu: one projected step changes the retain-batch loss by ½η²·g⊥ᵀ∇²L_r·g⊥ from the exact HVP —
 *     second order — while the unprojected ascent step of the same size changes it to first order;
 *   - retrain never saw the forget set: it equals training from scratch on a dataset that holds only
 *     the retain rows, bit for bit, and garbage in the forget rows' inputs changes nothing;
 *   - ft lowers the retain loss; bad configurations are one-line E_ARG errors naming the flag.
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../../src/backends/backend.js';
import { JsBackend } from '../../../src/backends/js/index.js';
import { RiverbedError } from '../../../src/errors.js';
import { mlpDescription } from '../../../src/model/description.js';
import { hessianVectorProduct } from '../../../src/model/hvp.js';
import { Mlp } from '../../../src/model/mlp.js';
import { optimizerConfig } from '../../../src/train/optimizer.js';
import { train } from '../../../src/train/trainer.js';
import { GuStepper } from '../../../src/unlearn/gu.js';
import { BatchStream, type UnlearnData, unlearn, unlearnConfig } from '../../../src/unlearn/methods.js';
import { Rng } from '../../../src/model/rng.js';

const D = 5;
const N = 240;
const desc = mlpDescription(D, [12], 3, 'tanh');

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}
function gaussian(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

/** Three blobs of 80 points; forget = class 2. */
function problem(): { inputs: Float32Array; labels: Int32Array; forget: Int32Array; retain: Int32Array } {
  const r = lcg(1);
  const means = [0, 1, 2].map(() => Array.from({ length: D }, () => 2 * gaussian(r)));
  const inputs = new Float32Array(N * D);
  const labels = new Int32Array(N);
  for (let i = 0; i < N; i++) {
    labels[i] = i % 3;
    for (let j = 0; j < D; j++) inputs[i * D + j] = means[i % 3]![j]! + 0.8 * gaussian(r);
  }
  const forget = Int32Array.from({ length: N / 3 }, (_, k) => 3 * k + 2);
  const retain = Int32Array.from({ length: N }, (_, i) => i).filter((i) => i % 3 !== 2);
  return { inputs, labels, forget, retain };
}

const P = problem();

async function trained(b: Backend): Promise<{ model: Mlp; data: UnlearnData; weights: Map<string, Float32Array> }> {
  const model = Mlp.init(b, desc, 3);
  const x = b.upload(P.inputs, [N, D]);
  await train(model, { x, labels: P.labels }, { epochs: 30, batchSize: 16, optimizer: optimizerConfig('sgd', { lr: 0.1, momentum: 0.9 }), schedule: { name: 'constant', warmupSteps: 0 }, seed: 3 });
  const weights = new Map((await model.toHost()).map((t) => [t.name, t.data]));
  return { model, data: { x, labels: P.labels, forget: P.forget, retain: P.retain }, weights };
}

async function meanLoss(model: Mlp, data: UnlearnData, rows: Int32Array): Promise<number> {
  const b = model.backend;
  const idx = b.uploadInt(rows, [rows.length]);
  const xb = b.gatherRows(data.x, idx);
  const yb = b.uploadInt(Int32Array.from(rows, (r) => data.labels[r]!), [rows.length]);
  const l = await b.read(model.perSampleLoss(xb, yb));
  return l.reduce((a, v) => a + v, 0) / l.length;
}

async function flat(model: Mlp): Promise<Float64Array> {
  const parts = await model.toHost();
  const out = new Float64Array(parts.reduce((a, p) => a + p.data.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p.data, o);
    o += p.data.length;
  }
  return out;
}

describe('unlearning methods on three blobs (js backend)', async () => {
  const b = new JsBackend();
  const { model, data, weights } = await trained(b);
  const fresh = () => model.setWeights(weights);
  fresh();
  const before = { forget: await meanLoss(model, data, P.forget), retain: await meanLoss(model, data, P.retain) };

  it('the trained model fits both sets', () => {
    expect(before.forget).toBeLessThan(0.2);
    expect(before.retain).toBeLessThan(0.2);
  });

  it('ga raises the forget loss; ga+gd with α = 0 is ga step for step, with γ = 0 it descends the retain loss', async () => {
    fresh();
    await unlearn(model, data, unlearnConfig('ga', { steps: 30, lr: 0.05, forgetBatchSize: 16, seed: 2 }));
    const gaWeights = await flat(model);
    expect(await meanLoss(model, data, P.forget)).toBeGreaterThan(before.forget + 1);
    fresh();
    await unlearn(model, data, unlearnConfig('ga+gd', { steps: 30, lr: 0.05, forgetBatchSize: 16, seed: 2, retainWeight: 0 }));
    expect(Array.from(await flat(model))).toEqual(Array.from(gaWeights));
    fresh();
    await unlearn(model, data, unlearnConfig('ga+gd', { steps: 30, lr: 0.05, forgetBatchSize: 16, batchSize: 32, forgetWeight: 0 }));
    expect(await meanLoss(model, data, P.retain)).toBeLessThan(before.retain);
    expect(await meanLoss(model, data, P.forget)).toBeGreaterThan(before.forget);
  });

  it("npo's first step from θ_ref is gradient ascent's step", async () => {
    fresh();
    await unlearn(model, data, unlearnConfig('ga', { steps: 1, lr: 0.1, forgetBatchSize: 16, seed: 5 }));
    const ga = await flat(model);
    fresh();
    await unlearn(model, data, unlearnConfig('npo', { steps: 1, lr: 0.1, forgetBatchSize: 16, seed: 5 }));
    const npo = await flat(model);
    const orig = Float64Array.from([...weights.values()].flatMap((a) => Array.from(a)));
    let moved = 0;
    let diff = 0;
    for (let i = 0; i < ga.length; i++) {
      moved = Math.max(moved, Math.abs(ga[i]! - orig[i]!));
      diff = Math.max(diff, Math.abs(ga[i]! - npo[i]!));
    }
    expect(moved).toBeGreaterThan(1e-3);
    expect(diff).toBeLessThan(1e-6);
    // and later npo steps differ from ga (its weights fall as the forget loss rises)
    fresh();
    await unlearn(model, data, unlearnConfig('npo', { steps: 20, lr: 0.1, forgetBatchSize: 16 }));
    expect(await meanLoss(model, data, P.forget)).toBeGreaterThan(before.forget);
  });

  it("npo's second step (uneven weights) is Σ_i w_i·∇ℓ_i summed from per-sample gradients", async () => {
    const lr = 0.1;
    const fb = 16;
    const seed = 5;
    fresh();
    const lossesAt = async (rows: Int32Array) => {
      const idx = b.uploadInt(rows, [rows.length]);
      const xb = b.gatherRows(data.x, idx);
      const yb = b.uploadInt(Int32Array.from(rows, (r) => data.labels[r]!), [rows.length]);
      return Float64Array.from(await b.read(model.perSampleLoss(xb, yb)));
    };
    const refLoss = await lossesAt(P.forget);
    const ref = new Map(Array.from(P.forget, (r, i) => [r, refLoss[i]!]));
    await unlearn(model, data, unlearnConfig('npo', { steps: 1, lr, forgetBatchSize: fb, seed }));
    const theta1 = await flat(model);
    // the forget batch of step 2, as the method draws it
    const stream = new BatchStream(P.forget, fb, Rng.derive(seed, 'unlearn/forget'));
    stream.next();
    const rows = stream.next();
    const l = await lossesAt(rows);
    const w = Array.from(rows, (r, i) => (-2 / rows.length) / (1 + Math.exp(-0.1 * (ref.get(r)! - l[i]!))));
    expect(Math.max(...w) - Math.min(...w)).toBeGreaterThan(1e-4); // the weights are no longer all −1/n
    const want = Float64Array.from(theta1);
    for (let i = 0; i < rows.length; i++) {
      const xi = b.gatherRows(data.x, b.uploadInt(rows.subarray(i, i + 1), [1]));
      const g = model.lossAndGradients(xi, b.uploadInt(Int32Array.of(data.labels[rows[i]!]!), [1])).grads;
      let o = 0;
      for (const t of g) {
        const a = await b.read(t);
        for (let k = 0; k < a.length; k++) want[o + k]! -= lr * w[i]! * a[k]!;
        o += a.length;
      }
    }
    fresh();
    await unlearn(model, data, unlearnConfig('npo', { steps: 2, lr, forgetBatchSize: fb, seed }));
    const got = await flat(model);
    let diff = 0;
    let moved = 0;
    for (let i = 0; i < got.length; i++) {
      diff = Math.max(diff, Math.abs(got[i]! - want[i]!));
      moved = Math.max(moved, Math.abs(want[i]! - theta1[i]!));
    }
    expect(moved).toBeGreaterThan(1e-3);
    expect(diff).toBeLessThan(1e-6);
  });

  it('gu: one projected step moves the retain-batch loss only to second order (½η²·g⊥ᵀHg⊥ from the exact HVP)', async () => {
    const retainRows = P.retain.subarray(0, 48);
    const forgetRows = P.forget.subarray(0, 24);
    const grads = (rows: Int32Array) => {
      const idx = b.uploadInt(rows, [rows.length]);
      const xb = b.gatherRows(data.x, idx);
      const yb = b.uploadInt(Int32Array.from(rows, (r) => data.labels[r]!), [rows.length]);
      return { xb, yb, ...model.lossAndGradients(xb, yb) };
    };
    const eta = 0.05;
    const measureStep = async (project: boolean) => {
      fresh();
      const r = grads(retainRows);
      const f = grads(forgetRows);
      const L0 = await meanLoss(model, data, retainRows);
      const theta0 = await flat(model);
      if (project) {
        const gu = new GuStepper(model, { k: 4, retainWeight: 0 });
        await gu.step(r.grads, f.grads, eta);
        expect(gu.stats.accepted).toBe(model.params.length); // one basis per tensor, each takes g_r
        gu.dispose();
      } else {
        // plain ascent of the same length as the projected step would be: θ += η·g_f
        model.params.forEach((p, i) => b.copyInto(p.tensor, 0, b.axpy(eta, f.grads[i]!, p.tensor)));
        model.markParametersChanged();
      }
      const step = Float64Array.from(await flat(model), (v, i) => v - theta0[i]!);
      const L1 = await meanLoss(model, data, retainRows);
      // first and second order predictions at θ0
      fresh();
      const gr = Float64Array.from(r.grads.flatMap((t) => Array.from((t as unknown as { data: Float32Array }).data)));
      const first = gr.reduce((a, g, i) => a + g * step[i]!, 0);
      const hv = await b.read(hessianVectorProduct(model, r.xb, r.yb, b.upload(Float32Array.from(step), [step.length])));
      const second = 0.5 * hv.reduce((a, h, i) => a + h * step[i]!, 0);
      return { delta: L1 - L0, first, second };
    };
    const gu = await measureStep(true);
    expect(Math.abs(gu.first)).toBeLessThan(1e-3 * Math.abs(gu.second) + 1e-9);
    expect(Math.abs(gu.delta - gu.second)).toBeLessThan(0.15 * Math.abs(gu.second));
    const ga = await measureStep(false);
    expect(Math.abs(ga.first)).toBeGreaterThan(10 * Math.abs(ga.second));
    expect(Math.abs(ga.delta - ga.first)).toBeLessThan(0.2 * Math.abs(ga.first));
  });

  it('gu unlearns the class while the retain loss stays low (layer and global scope), lower than ga+gd at the same rate', async () => {
    fresh();
    await unlearn(model, data, unlearnConfig('ga+gd', { steps: 40, lr: 0.2, forgetBatchSize: 16, batchSize: 32 }));
    const gd = await meanLoss(model, data, P.retain);
    expect(await meanLoss(model, data, P.forget)).toBeGreaterThan(before.forget + 1);
    for (const scope of ['layer', 'global'] as const) {
      fresh();
      const r = await unlearn(model, data, unlearnConfig('gu', { steps: 40, lr: 0.2, forgetBatchSize: 16, batchSize: 32, gu: { k: 4, scope } }));
      expect(await meanLoss(model, data, P.forget), scope).toBeGreaterThan(before.forget + 1);
      expect(await meanLoss(model, data, P.retain), scope).toBeLessThan(scope === 'layer' ? 0.5 * gd : gd);
      expect(r.gu!.accepted + r.gu!.rejected).toBe(scope === 'layer' ? 4 * 40 : 40);
    }
  });

  it('retrain never saw the forget set: it equals training on the retain rows alone, and forget inputs do not matter', async () => {
    const cfg = unlearnConfig('retrain', { epochs: 3, batchSize: 16, seed: 9 });
    fresh();
    await unlearn(model, data, cfg);
    const viaUnlearn = await flat(model);
    // a dataset that physically holds only the retain rows, in the same order
    const xr = new Float32Array(P.retain.length * D);
    P.retain.forEach((r, i) => xr.set(P.inputs.subarray(r * D, r * D + D), i * D));
    const alone = Mlp.init(b, desc, 9);
    await train(alone, { x: b.upload(xr, [P.retain.length, D]), labels: Int32Array.from(P.retain, (r) => P.labels[r]!) }, {
      epochs: 3, batchSize: 16, optimizer: optimizerConfig('sgd', { lr: cfg.lr, momentum: cfg.momentum }), schedule: cfg.schedule, seed: 9,
    });
    expect(Array.from(await flat(alone))).toEqual(Array.from(viaUnlearn));
    // garbage in every forget row's inputs: the same weights
    const poisoned = Float32Array.from(P.inputs);
    for (const r of P.forget) poisoned.fill(1e6, r * D, r * D + D);
    fresh();
    await unlearn(model, { ...data, x: b.upload(poisoned, [N, D]) }, cfg);
    expect(Array.from(await flat(model))).toEqual(Array.from(viaUnlearn));
  });

  it('ft lowers the retain loss', async () => {
    fresh();
    await unlearn(model, data, unlearnConfig('ft', { epochs: 3, batchSize: 16, lr: 0.05 }));
    expect(await meanLoss(model, data, P.retain)).toBeLessThan(before.retain);
  });

  it('bad configurations and data: one-line E_ARG naming the flag', async () => {
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return e instanceof RiverbedError ? `${e.code} ${e.message}` : String(e);
      }
      return 'ok';
    };
    expect(code(() => unlearnConfig('ga', { steps: 0 }))).toMatch(/^E_ARG --steps: /);
    expect(code(() => unlearnConfig('gu', { gu: { k: 33 } }))).toMatch(/^E_ARG --k: /);
    expect(code(() => unlearnConfig('gu', { gu: { scope: 'row' as never } }))).toMatch(/^E_ARG --scope: /);
    expect(code(() => unlearnConfig('npo', { beta: 0 }))).toMatch(/^E_ARG --beta: /);
    expect(code(() => unlearnConfig('ga', { lr: -1 }))).toMatch(/^E_ARG --lr: /);
    await expect(unlearn(model, { ...data, retain: new Int32Array(0) }, unlearnConfig('ga'))).rejects.toThrow(/retain set is empty/);
    await expect(unlearn(model, { ...data, forget: new Int32Array(0) }, unlearnConfig('ga'))).rejects.toThrow(/forget set is empty/);
  });
});

