/**
 * SAF (src/train/saf.ts): the per-sample term's logits gradient against central differences in
 * float64 (both KL directions, τ = 1 and 2.5); through a model on every backend, the regulariser's
 * parameter gradient (grads at λ minus grads at 0, over λ) against central differences of the
 * float64 host forward (test/helpers/host-cnn.ts); the outputs it compares with are those of E
 * epochs earlier; λ = 0 trains bit for bit as plain training (composed path) on every backend;
 * parsing and misuse.
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../../src/backends/backend.js';
import { type ModelDescription, mlpDescription, parseModelDescription } from '../../../src/model/description.js';
import { Mlp } from '../../../src/model/mlp.js';
import { optimizerConfig } from '../../../src/train/optimizer.js';
import { SafState, parseSaf, safLossAndGradients, safTerm, type SafDirection } from '../../../src/train/saf.js';
import { train } from '../../../src/train/trainer.js';
import { backendsUnderTest, randomArray } from '../../helpers/backends.js';
import { hostLogits } from '../../helpers/host-cnn.js';

const backends = await backendsUnderTest();

/** τ²·KL of one sample, directly from the definitions (float64). */
function hostTerm(z: ArrayLike<number>, logP: ArrayLike<number>, tau: number, dir: SafDirection): number {
  const s = Array.from(z, (v) => v / tau);
  const m = Math.max(...s);
  const lse = m + Math.log(s.reduce((a, v) => a + Math.exp(v - m), 0));
  const logq = s.map((v) => v - lse);
  let kl = 0;
  for (let c = 0; c < s.length; c++) {
    kl += dir === 'current-recorded' ? Math.exp(logq[c]!) * (logq[c]! - logP[c]!) : Math.exp(logP[c]!) * (logP[c]! - logq[c]!);
  }
  return tau * tau * kl;
}

describe('safTerm', () => {
  it('KL by hand: logits (0, ln 3) against a uniform recorded output', () => {
    // q = (1/4, 3/4), p = (1/2, 1/2): KL(q‖p) = ¼ln½ + ¾ln(3/2); KL(p‖q) = ½ln2 + ½ln(2/3).
    const logP = [Math.log(0.5), Math.log(0.5)];
    expect(safTerm([0, Math.log(3)], logP, 1, 'current-recorded').kl).toBeCloseTo(0.25 * Math.log(0.5) + 0.75 * Math.log(1.5), 14);
    expect(safTerm([0, Math.log(3)], logP, 1, 'recorded-current').kl).toBeCloseTo(0.5 * Math.log(2) + 0.5 * Math.log(2 / 3), 14);
    expect(Array.from(safTerm([0, Math.log(3)], logP, 1, 'current-recorded').logq)).toEqual([Math.log(0.25), Math.log(0.75)].map((v) => expect.closeTo(v, 14)));
  });

  for (const dir of ['current-recorded', 'recorded-current'] as const) {
    for (const tau of [1, 2.5]) {
      it(`∂(τ²·KL)/∂z = central differences (${dir}, τ = ${tau})`, () => {
        const z = Array.from(randomArray(5, 3, -3, 3));
        const pz = Array.from(randomArray(5, 4, -3, 3));
        const m = Math.max(...pz);
        const lse = m + Math.log(pz.reduce((a, v) => a + Math.exp(v - m), 0));
        const logP = pz.map((v) => v - lse);
        const t = safTerm(z, logP, tau, dir);
        expect(tau * tau * t.kl).toBeCloseTo(hostTerm(z, logP, tau, dir), 13);
        const h = 1e-6;
        for (let c = 0; c < 5; c++) {
          const zp = z.slice();
          const zm = z.slice();
          zp[c] = zp[c]! + h;
          zm[c] = zm[c]! - h;
          expect(t.grad[c]!).toBeCloseTo((hostTerm(zp, logP, tau, dir) - hostTerm(zm, logP, tau, dir)) / (2 * h), 8);
        }
      });
    }
  }

  it('parseSaf: keys, defaults and errors', () => {
    expect(parseSaf('lambda=0.3,epochs=3')).toEqual({ lambda: 0.3, epochs: 3, temperature: 1, direction: 'current-recorded' });
    expect(parseSaf('epochs=1, lambda=1e-2, tau=2, direction=recorded-current')).toEqual({ lambda: 0.01, epochs: 1, temperature: 2, direction: 'recorded-current' });
    expect(() => parseSaf('lambda=0.3')).toThrow(/--saf.*lambda and epochs are required/);
    expect(() => parseSaf('lambda=-1,epochs=2')).toThrow(/lambda must be a finite number ≥ 0, got -1/);
    expect(() => parseSaf('lambda=1,epochs=0')).toThrow(/epochs must be a positive integer/);
    expect(() => parseSaf('lambda=1,epochs=1.5')).toThrow(/epochs must be a positive integer/);
    expect(() => parseSaf('lambda=1,epochs=2,tau=0')).toThrow(/tau must be a positive number/);
    expect(() => parseSaf('lambda=0x1,epochs=2')).toThrow(/lambda must be a decimal number/);
    expect(() => parseSaf('lambda=1,epochs=2,direction=up')).toThrow(/direction must be current-recorded or recorded-current/);
    expect(() => parseSaf('lambda=1,epochs=2,gamma=3')).toThrow(/unknown key "gamma"/);
    expect(() => parseSaf('lambda=1,lambda=2,epochs=2')).toThrow(/lambda is given twice/);
  });
});

const mlp = { ...mlpDescription(5, [6], 3), layers: [{ type: 'linear', in: 5, out: 6 }, { type: 'tanh' }, { type: 'linear', in: 6, out: 3 }] } as ModelDescription;
const cnn = parseModelDescription({
  format: 'riverbed.model',
  version: 1,
  input: [1, 4, 4],
  layers: [{ type: 'conv2d', in: 1, out: 2, kernel: 3, padding: 1 }, { type: 'tanh' }, { type: 'avgpool2d', kernel: 2 }, { type: 'flatten' }, { type: 'linear', in: 8, out: 3 }],
  loss: 'cross_entropy',
});

async function flat(ts: { data: Float32Array }[]): Promise<Float64Array> {
  return Float64Array.from(ts.flatMap((t) => Array.from(t.data)));
}

for (const be of backends) {
  describe.skipIf(!!be.skip)(`SAF on ${be.name}`, () => {
    for (const [name, desc, D] of [['MLP', mlp, 5], ['CNN', cnn, 16]] as const) {
      for (const dir of ['current-recorded', 'recorded-current'] as const) {
        it(`${name}, ${dir}: the regulariser's parameter gradient = central differences of λ·(1/B)Σ τ²·KL_i (a row without a record adds nothing)`, async () => {
          const b: Backend = await be.create();
          try {
            const B = 4;
            const x = randomArray(B * D, 7, -1.5, 1.5);
            const y = Int32Array.of(0, 2, 1, 2);
            const X = b.upload(x, [B, D]);
            const Y = b.uploadInt(y, [B]);
            const model = Mlp.init(b, desc, 6);
            const tau = 1.7;
            const lambda = 0.8;
            const recZ = randomArray(B * 3, 9, -2, 2);
            const rec = (i: number) => {
              if (i === 2) return undefined; // no record for row 2
              const z = Array.from(recZ.subarray(i * 3, i * 3 + 3), (v) => v / tau);
              const m = Math.max(...z);
              const lse = m + Math.log(z.reduce((a, v) => a + Math.exp(v - m), 0));
              return Float64Array.from(z, (v) => v - lse);
            };
            const cfg = { lambda, epochs: 1, temperature: tau, direction: dir };
            const withTerm = await safLossAndGradients(model, X, Y, rec, cfg);
            const without = await safLossAndGradients(model, X, Y, rec, { ...cfg, lambda: 0 });
            const g1 = await flat(await Promise.all(withTerm.grads.map(async (g) => ({ data: await b.read(g) }))));
            const g0 = await flat(await Promise.all(without.grads.map(async (g) => ({ data: await b.read(g) }))));
            const theta = await flat(await model.toHost());
            const f = (th: Float64Array) => {
              const z = hostLogits(desc, th, Float64Array.from(x), B);
              let s = 0;
              for (let i = 0; i < B; i++) {
                const p = rec(i);
                if (p) s += hostTerm(z.subarray(i * 3, i * 3 + 3), p, tau, dir);
              }
              return (lambda * s) / B;
            };
            const h = 1e-5;
            let scale = 0;
            const fd = Array.from(theta, (_, k) => {
              const tp = theta.slice();
              const tm = theta.slice();
              tp[k] = tp[k]! + h;
              tm[k] = tm[k]! - h;
              const v = (f(tp) - f(tm)) / (2 * h);
              scale = Math.max(scale, Math.abs(v));
              return v;
            });
            expect(scale).toBeGreaterThan(1e-3);
            fd.forEach((want, k) => expect(Math.abs(g1[k]! - g0[k]! - want), `parameter ${k}`).toBeLessThan(1e-4 * scale + 1e-6));
            // The λ = 0 gradients are the plain cross-entropy's, bit for bit; so are the per-sample losses.
            const plain = model.lossAndGradients(X, Y);
            for (const [k, g] of plain.grads.entries()) expect(await b.read(without.grads[k]!)).toEqual(await b.read(g));
            expect(await b.read(without.loss)).toEqual(await b.read(plain.loss));
            expect(withTerm.kl).toBeGreaterThan(0);
            for (const r of [withTerm, without, plain]) {
              b.free(r.loss);
              for (const g of r.grads) b.free(g);
            }
            model.dispose();
            b.free(X);
            b.free(Y);
          } finally {
            b.dispose();
          }
        });
      }
    }

    it('the term compares with the outputs of E epochs earlier (SafState)', async () => {
      const b: Backend = await be.create();
      try {
        const x = randomArray(6 * 5, 2);
        const X = b.upload(x, [6, 5]);
        const Y = b.uploadInt(Int32Array.of(0, 1, 2, 0, 1, 2), [6]);
        const rows = Int32Array.of(0, 1, 2, 3, 4, 5);
        const model = Mlp.init(b, mlp, 1);
        const A = await model.toHost();
        const Bw = new Map(A.map((t) => [t.name, t.data.map((v) => v * 1.5)]));
        const klAt = async (s: SafState, epoch: number) => {
          const before = s.meanKl.length;
          const r = await s.lossAndGradients(model, X, Y, rows, epoch);
          b.free(r.loss);
          for (const g of r.grads) b.free(g);
          s.endEpoch(epoch);
          return s.meanKl.length > before ? s.meanKl.at(-1)! : undefined;
        };
        // Weights A in epoch 1, B in epochs 2 and 3.
        for (const [E, want3] of [[1, 'zero'], [2, 'positive']] as const) {
          model.setWeights(new Map(A.map((t) => [t.name, t.data])));
          const s = new SafState(6, 3, { lambda: 1, epochs: E });
          expect(await klAt(s, 1)).toBeUndefined();
          model.setWeights(Bw);
          const k2 = await klAt(s, 2);
          const k3 = await klAt(s, 3);
          if (E === 1) expect(k2).toBeGreaterThan(0); // B against A
          else expect(k2).toBeUndefined(); // nothing from epoch 0
          if (want3 === 'zero') expect(k3).toBeCloseTo(0, 6); // B against B
          else expect(k3).toBeGreaterThan(0); // B against A (epoch 1)
          expect(s.firstEpoch).toBe(E + 1);
        }
        model.dispose();
        b.free(X);
        b.free(Y);
      } finally {
        b.dispose();
      }
    });

    it('λ = 0 trains bit for bit as plain training (composed path); λ > 0 moves the weights and reports the KL', async () => {
      const b: Backend = await be.create();
      try {
        const N = 40;
        const x = randomArray(N * 5, 21, -2, 2);
        const labels = Int32Array.from({ length: N }, (_, i) => (i * 5) % 3);
        const X = b.upload(x, [N, 5]);
        const o = { epochs: 4, batchSize: 8, optimizer: optimizerConfig('adam', { lr: 0.02 }), schedule: { name: 'cosine' as const, warmupSteps: 0 }, seed: 3, fused: false };
        const run = async (saf?: { lambda: number; epochs: number }) => {
          const m = Mlp.init(b, mlp, 2);
          const r = await train(m, { x: X, labels }, { ...o, ...(saf ? { saf } : {}) });
          const w = await m.toHost();
          m.dispose();
          return { r, w: w.map((t) => Array.from(t.data)) };
        };
        const plain = await run();
        const zero = await run({ lambda: 0, epochs: 1 });
        expect(zero.w).toEqual(plain.w);
        expect(zero.r.epochLoss).toEqual(plain.r.epochLoss);
        expect(zero.r.saf!.firstEpoch).toBe(2);
        expect(zero.r.saf!.meanKl).toHaveLength(3);
        const on = await run({ lambda: 1, epochs: 2 });
        expect(on.w).not.toEqual(plain.w);
        expect(on.r.saf!.meanKl).toHaveLength(2);
        for (const k of on.r.saf!.meanKl) expect(k).toBeGreaterThan(0);
        // Misuse: E not below the epochs. (Snapshots and resume with SAF: resume.test.ts.)
        const m = Mlp.init(b, mlp, 2);
        await expect(train(m, { x: X, labels }, { ...o, saf: { lambda: 1, epochs: 4 } })).rejects.toThrow(/E must be below the run's 4 epochs/);
        m.dispose();
        b.free(X);
      } finally {
        b.dispose();
      }
    });
  });
}
