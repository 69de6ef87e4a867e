/**
 * Exact resume through train(): snapshots taken every few steps (mid-epoch and at an epoch's last
 * step), a run resumed from one of them — weights, optimizer state, schedule step, shuffle stream,
 * data order and the epoch's partial loss sum restored — ends bit for bit where the uninterrupted
 * run ends; `stopAfter` stops at a snapshot. Every backend; native and webgpu fused and composed.
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../../src/backends/backend.js';
import { mlpDescription } from '../../../src/model/description.js';
import { Mlp } from '../../../src/model/mlp.js';
import { Rng } from '../../../src/model/rng.js';
import { type OptimizerName, optimizerConfig } from '../../../src/train/optimizer.js';
import { type TrainOptions, type TrainResume, type TrainSnapshot, train } from '../../../src/train/trainer.js';
import { backendsUnderTest, randomArray } from '../../helpers/backends.js';

const backends = await backendsUnderTest();
const N = 150;
const D = 12;
const labels = Int32Array.from({ length: N }, (_, i) => (i * 7) % 4);
const inputs = randomArray(N * D, 5);
for (let i = 0; i < N; i++) inputs[i * D + labels[i]!] = inputs[i * D + labels[i]!]! + 1.5; // learnable
const desc = mlpDescription(D, [10], 4);

interface Saved {
  resume: TrainResume;
  weights: Map<string, Float32Array>;
}

async function snapshot(model: Mlp, s: TrainSnapshot): Promise<Saved> {
  const state = await s.optimizer.stateToHost(model.params.map((p) => p.name));
  const weights = new Map((await model.toHost()).map((t) => [t.name, t.data]));
  const { optimizer: _o, ...pos } = s;
  return { resume: { ...pos, order: Int32Array.from(pos.order), optimizerState: new Map(state.map((t) => [t.name, t])) }, weights };
}

async function runOnce(b: Backend, name: OptimizerName, fused: boolean, extra: Partial<TrainOptions> = {}, from?: Saved) {
  const model = Mlp.init(b, desc, 3);
  if (from) model.setWeights(from.weights);
  const x = b.upload(inputs, [N, D]);
  const saves: Saved[] = [];
  const o: TrainOptions = {
    epochs: 3,
    batchSize: 32, // 5 steps per epoch, the last one of 22 rows
    optimizer: optimizerConfig(name, name === 'classp' ? { threshold: 1e-4 } : {}),
    schedule: { name: 'cosine', warmupSteps: 2 },
    seed: 11,
    fused,
    saveEvery: 3,
    onSave: async (s) => void saves.push(await snapshot(model, s)),
    ...(from ? { resume: from.resume } : {}),
    ...extra,
  };
  const r = await train(model, { x, labels }, o);
  const weights = (await model.toHost()).map((t) => Array.from(t.data));
  b.free(x);
  model.dispose();
  return { r, weights, saves };
}

for (const be of backends) {
  describe.skipIf(!!be.skip)(`resume on ${be.name}`, () => {
    for (const fused of be.name === 'js' ? [false] : [true, false]) {
      for (const name of ['sgd', 'adam', 'classp'] as OptimizerName[]) {
        it(`${name}${fused ? ' (fused when the backend has it)' : ' (composed)'}: resumed from steps 6, 12 (mid-epoch) and 15 (end of the last epoch) = straight, bit for bit`, async () => {
          const b = await be.create();
          try {
            const straight = await runOnce(b, name, fused);
            expect(straight.r.steps).toBe(15);
            expect(straight.saves.map((s) => s.resume.step)).toEqual([3, 6, 9, 12, 15]);
            // Epoch 1 = steps 1..5: step 6 is epoch 2's first step, step 15 the last step (only the end of epoch 3 left).
            expect(straight.saves.map((s) => [s.resume.epoch, s.resume.position])).toEqual([[1, 3], [2, 1], [2, 4], [3, 2], [3, 5]]);
            for (const k of [1, 3, 4]) {
              const from = straight.saves[k]!;
              const resumed = await runOnce(b, name, fused, {}, from);
              expect(resumed.r.steps).toBe(15);
              expect(resumed.weights, `weights after resuming at step ${from.resume.step}`).toEqual(straight.weights);
              expect(resumed.r.epochLoss, `epoch losses after resuming at step ${from.resume.step}`).toEqual(straight.r.epochLoss);
              expect(resumed.r.updateFraction).toEqual(straight.r.updateFraction);
              // The resumed run's own snapshots are the straight run's later ones.
              expect(resumed.saves.map((s) => s.resume.step)).toEqual(straight.saves.slice(k + 1).map((s) => s.resume.step));
              if (k < 4) expect([...resumed.saves.at(-1)!.weights.values()].map((w) => Array.from(w))).toEqual(straight.weights);
            }
            if (name === 'classp') expect(straight.r.updateFraction).toHaveLength(15);
          } finally {
            b.dispose();
          }
        });
      }
      it(`stopAfter 7${fused ? ' (fused)' : ''}: a snapshot at the stop (even off the saveEvery grid), then resume = straight`, async () => {
        const b = await be.create();
        try {
          const straight = await runOnce(b, 'sgd', fused, { saveEvery: undefined, onSave: undefined });
          const stopped = await runOnce(b, 'sgd', fused, { stopAfter: 7 });
          expect(stopped.r.stoppedAt).toBe(7);
          expect(stopped.r.steps).toBe(7);
          expect(stopped.r.epochLoss).toHaveLength(1); // epoch 2 was not finished
          expect(stopped.saves.map((s) => s.resume.step)).toEqual([3, 6, 7]);
          const resumed = await runOnce(b, 'sgd', fused, { saveEvery: undefined, onSave: undefined }, stopped.saves.at(-1)!);
          expect(resumed.weights).toEqual(straight.weights);
          // Snapshots do not change the run: the straight run above had none.
          const withSaves = await runOnce(b, 'sgd', fused);
          expect(withSaves.weights).toEqual(straight.weights);
          expect(resumed.r.epochLoss.slice(0, 1)).toEqual(stopped.r.epochLoss);
        } finally {
          b.dispose();
        }
      });
    }

    it('with SAF (E = 1): resumed from steps 6, 9, 12 and 15 = straight, weights, losses and KL means bit for bit; a snapshot with or without SAF only resumes a run alike', async () => {
      const b = await be.create();
      try {
        const saf = { saf: { lambda: 1, epochs: 1, temperature: 2 } };
        const straight = await runOnce(b, 'adam', false, saf);
        const plain = await runOnce(b, 'adam', false);
        expect(straight.weights).not.toEqual(plain.weights);
        expect(straight.r.saf!.meanKl).toHaveLength(2);
        for (const k of [1, 2, 3, 4]) {
          const from = straight.saves[k]!;
          expect(from.resume.saf!.outputs).toHaveLength(N * 4);
          const resumed = await runOnce(b, 'adam', false, saf, from);
          expect(resumed.weights, `weights after resuming at step ${from.resume.step}`).toEqual(straight.weights);
          expect(resumed.r.epochLoss).toEqual(straight.r.epochLoss);
          expect(resumed.r.saf, `KL means after resuming at step ${from.resume.step}`).toEqual(straight.r.saf);
        }
        await expect(runOnce(b, 'adam', false, {}, straight.saves[2]!)).rejects.toThrow(/taken with SAF, this run is without it/);
        await expect(runOnce(b, 'adam', false, saf, plain.saves[2]!)).rejects.toThrow(/taken without SAF, this run is with it/);
        const stale = structuredClone(straight.saves[1]!);
        stale.resume.saf!.stamp[0] = 9; // an epoch the run has not reached
        await expect(runOnce(b, 'adam', false, saf, stale)).rejects.toThrow(/cannot resume SAF: stamp 9/);
      } finally {
        b.dispose();
      }
    });

    it('a resume state that is not this run is refused before any step', async () => {
      const b = await be.create();
      try {
        const straight = await runOnce(b, 'sgd', false);
        const good = straight.saves[1]!;
        const other = { ...good, resume: { ...good.resume, order: Int32Array.from({ length: N }, (_, i) => (i + 1) % (N + 1)) } };
        await expect(runOnce(b, 'sgd', false, {}, other)).rejects.toThrow(/not a permutation of this run's 150 training rows/);
        await expect(runOnce(b, 'sgd', false, { epochs: 1 }, good)).rejects.toThrow(/step 6 is outside \[1, 5\]/);
        await expect(runOnce(b, 'sgd', false, { batchSize: 50 }, good)).rejects.toThrow(/does not match step 6 with 3 steps per epoch/);
        await expect(runOnce(b, 'adam', false, {}, good)).rejects.toThrow(/missing adam state tensor/);
      } finally {
        b.dispose();
      }
    });
  });
}

describe('Rng state', () => {
  it('fromState(state()) continues the stream exactly; bad states are refused', () => {
    const a = Rng.derive(42, 'shuffle');
    for (let i = 0; i < 37; i++) a.nextU32();
    const b = Rng.fromState(a.state());
    for (let i = 0; i < 1000; i++) expect(b.nextU32()).toBe(a.nextU32());
    expect(a.state().every((w) => w >= 0 && w < 2 ** 32)).toBe(true);
    expect(() => Rng.fromState([0, 0, 0, 0])).toThrow(/not all zero/);
    expect(() => Rng.fromState([1, 2, 3])).toThrow(/four integers/);
    expect(() => Rng.fromState([1, 2, 3, 2 ** 32])).toThrow(/four integers/);
  });
});

describe('a carried optimizer (optimizerInstance)', () => {
  it('two train() calls with one AdaGrad = the same batches stepped by hand with one optimizer (state and step count carried), bit for bit', async () => {
    const { JsBackend } = await import('../../../src/backends/js/index.js');
    const { Optimizer } = await import('../../../src/train/optimizer.js');
    const b = new JsBackend();
    const cfg = optimizerConfig('adagrad', { lrDecay: 0.1 });
    const x = b.upload(inputs, [N, D]);
    const shifted = Int32Array.from(labels, (y) => (y + 1) % 4);
    const sched = { name: 'constant' as const, warmupSteps: 0 };
    // Through train().
    const m1 = Mlp.init(b, desc, 3);
    const opt1 = new Optimizer(b, m1, cfg);
    for (const [y, seed] of [[labels, 1], [shifted, 2]] as const) {
      const r = await train(m1, { x, labels: y }, { epochs: 1, batchSize: 40, optimizer: cfg, schedule: sched, seed, optimizerInstance: opt1 });
      expect(r.steps).toBe(4); // this call's steps
    }
    expect(opt1.steps).toBe(8);
    // By hand.
    const m2 = Mlp.init(b, desc, 3);
    const opt2 = new Optimizer(b, m2, cfg);
    for (const [y, seed] of [[labels, 1], [shifted, 2]] as const) {
      const order = Rng.derive(seed, 'shuffle').shuffle(Int32Array.from({ length: N }, (_, i) => i));
      for (let s = 0; s < N; s += 40) {
        const idx = order.subarray(s, Math.min(N, s + 40));
        const xb = b.gatherRows(x, b.uploadInt(idx, [idx.length]));
        const { loss, grads } = m2.lossAndGradients(xb, b.uploadInt(Int32Array.from(idx, (r) => y[r]!), [idx.length]));
        b.free(loss);
        opt2.step(grads, cfg.lr);
      }
    }
    expect((await m1.toHost()).map((t) => Array.from(t.data))).toEqual((await m2.toHost()).map((t) => Array.from(t.data)));
    const s1 = await opt1.stateToHost(m1.params.map((p) => p.name));
    const s2 = await opt2.stateToHost(m2.params.map((p) => p.name));
    expect(s1.map((t) => Array.from(t.data))).toEqual(s2.map((t) => Array.from(t.data)));
    // Misuse: another model's optimizer, other settings, with snapshots.
    await expect(train(Mlp.init(b, desc, 3), { x, labels }, { epochs: 1, batchSize: 40, optimizer: cfg, schedule: sched, seed: 1, optimizerInstance: opt1 })).rejects.toThrow(/another model/);
    await expect(train(m1, { x, labels }, { epochs: 1, batchSize: 40, optimizer: optimizerConfig('adagrad'), schedule: sched, seed: 1, optimizerInstance: opt1 })).rejects.toThrow(/other settings/);
    await expect(train(m1, { x, labels }, { epochs: 1, batchSize: 40, optimizer: cfg, schedule: sched, seed: 1, optimizerInstance: opt1, saveEvery: 1, onSave: async () => {} })).rejects.toThrow(/cannot be combined/);
  });
});
