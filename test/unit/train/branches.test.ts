/**
 * Branching WSD: the plan (budgets in whole epochs, decays of round(F·T_b), branch points), its
 * bad inputs, and the truth that makes a branch worth anything: every decay branch ends bit for
 * bit where a plain wsd run of its budget ends (weights, epoch losses, per-step batch losses), on
 * every backend, fused and composed, for SGD with momentum and Adam.
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../../src/backends/backend.js';
import { mlpDescription } from '../../../src/model/description.js';
import { Mlp } from '../../../src/model/mlp.js';
import { checkBranchFractions, mainBranchSchedule, planBranches, runWsdBranches, trainWithCurve } from '../../../src/train/branches.js';
import { type OptimizerName, optimizerConfig } from '../../../src/train/optimizer.js';
import { type ScheduleConfig, compileSchedule } from '../../../src/train/schedule.js';
import { backendsUnderTest, randomArray } from '../../helpers/backends.js';

const backends = await backendsUnderTest();
const N = 150;
const D = 12;
const labels = Int32Array.from({ length: N }, (_, i) => (i * 7) % 4);
const inputs = randomArray(N * D, 5);
for (let i = 0; i < N; i++) inputs[i * D + labels[i]!] = inputs[i * D + labels[i]!]! + 1.5;
const desc = mlpDescription(D, [10], 4);
const wsd: ScheduleConfig = { name: 'wsd', warmupSteps: 3, decayFraction: 0.3, decayShape: '1-sqrt' };

describe('planBranches', () => {
  it('budgets round(f·E) epochs, decays round(F·T_b) steps, branch points T_b − D_b', () => {
    // 5 steps per epoch, E = 8: budgets 2, 4, 6, 8 epochs = 10, 20, 30, 40 steps; F = 0.3: decays 3, 6, 9, 12.
    const p = planBranches([0.25, 0.5, 0.75, 1], 8, 5, 0.1, wsd);
    expect(p).toEqual([
      { fraction: 0.25, epochs: 2, steps: 10, decaySteps: 3, start: 7 },
      { fraction: 0.5, epochs: 4, steps: 20, decaySteps: 6, start: 14 },
      { fraction: 0.75, epochs: 6, steps: 30, decaySteps: 9, start: 21 },
      { fraction: 1, epochs: 8, steps: 40, decaySteps: 12, start: 28 },
    ]);
    // The default F = 0.1; halves round up (0.1·25 = 2.5 → 3); 0.3 of 10 epochs → 3.
    expect(planBranches([0.3, 1], 10, 5, 0.1, { name: 'wsd', warmupSteps: 0 })[0]).toMatchObject({ epochs: 3, steps: 15, decaySteps: 2, start: 13 });
    expect(planBranches([1], 1, 5, 0.1, { name: 'wsd', warmupSteps: 0, decayFraction: 0 })).toEqual([{ fraction: 1, epochs: 1, steps: 5, decaySteps: 0, start: 5 }]);
    // Every branch's rate before its decay is the main branch's.
    for (const b of p) {
      const branch = compileSchedule(0.1, b.steps, wsd);
      const main = compileSchedule(0.1, 40, mainBranchSchedule(wsd));
      for (let t = 0; t < b.start; t++) expect(branch.rate(t)).toBe(main.rate(t));
      expect(branch.rate(b.start)).toBe(0.1); // the decay's first step is at the peak (p = 0)
      expect(branch.rate(b.start + 1)).toBeLessThan(0.1);
    }
  });

  it('bad input is one E_ARG naming the field', () => {
    const names = { branchAt: '--branch-at', decayFraction: '--decay-fraction', warmupSteps: '--warmup' };
    const bad = (f: number[], s: ScheduleConfig = wsd, epochs = 8) => () => planBranches(f, epochs, 5, 0.1, s, names);
    expect(bad([0.5, 0.25])).toThrow(/--branch-at: expected increasing fractions; entry 2 \(0.25\) comes after 0.5/);
    expect(bad([0.5, 0.5])).toThrow(/--branch-at: fraction 0.5 is given twice/);
    expect(bad([0, 1])).toThrow(/--branch-at: expected fractions of the run in \(0, 1\]; entry 1 is 0/);
    expect(bad([0.5, 1.5])).toThrow(/entry 2 is 1.5/);
    expect(bad([NaN])).toThrow(/entry 1 is NaN/);
    expect(bad([])).toThrow(/at least one fraction/);
    expect(bad([0.5], { name: 'cosine', warmupSteps: 0 })).toThrow(/--branch-at: branching needs the wsd schedule.*cosine/);
    expect(bad([0.05, 1])).toThrow(/fraction 0.05 of 8 epochs rounds to 0 epochs/);
    expect(bad([0.5, 0.55])).toThrow(/0.5 and 0.55 of 8 epochs both round to 4 epochs/);
    expect(bad([1], { ...wsd, decayFraction: 1, warmupSteps: 0 })).toThrow(/--decay-fraction: the branch at 1 decays over all its 40 steps/);
    // A warm-up that runs into the first branch's decay (T_b = 5, D_b = 2, decay from step 3; warm-up 4).
    expect(bad([0.125, 1], { ...wsd, warmupSteps: 4 })).toThrow(/--warmup/);
    expect(() => checkBranchFractions([1], { name: 'wsd-s', warmupSteps: 0, decayPoints: [1] }, names)).toThrow(/wsd schedule/);
  });
});

describe('a branch without decay (F = 0)', () => {
  it('resumes at its last step (only the epoch end left) and is the main branch at its budget', async () => {
    const b = await backends[0]!.create(); // js
    try {
      const x = b.upload(inputs, [N, D]);
      const optimizer = optimizerConfig('sgd', { lr: 0.1 });
      const schedule: ScheduleConfig = { name: 'wsd', warmupSteps: 0, decayFraction: 0 };
      const model = Mlp.init(b, desc, 3);
      const r = await runWsdBranches(model, { x, labels }, {}, { epochs: 4, batchSize: 32, optimizer, schedule, seed: 2, branchAt: [0.5, 1] });
      expect(r.branches.map((q) => [q.start, q.steps, q.curve.trainLoss.length])).toEqual([[10, 10, 0], [20, 20, 0]]);
      const plain = Mlp.init(b, desc, 3);
      const p = await trainWithCurve(plain, { x, labels }, { epochs: 2, batchSize: 32, optimizer, schedule, seed: 2 });
      expect(r.branches[0]!.weights.map((t) => Array.from(t.data))).toEqual((await plain.toHost()).map((t) => Array.from(t.data)));
      expect(r.branches[0]!.epochLoss).toEqual(p.result.epochLoss);
      expect(r.branches[1]!.weights).toEqual(r.main.weights);
      plain.dispose();
      model.dispose();
      b.free(x);
    } finally {
      b.dispose();
    }
  });
});

for (const be of backends) {
  describe.skipIf(!!be.skip)(`branching WSD on ${be.name}`, () => {
    it('with SAF (E = 1): every branch = a plain wsd run with SAF of its budget, weights and epoch losses bit for bit', async () => {
      const b: Backend = await be.create();
      try {
        const x = b.upload(inputs, [N, D]);
        const optimizer = optimizerConfig('adam', { lr: 0.01 });
        const saf = { lambda: 1, epochs: 1, temperature: 2 };
        const model = Mlp.init(b, desc, 3);
        const r = await runWsdBranches(model, { x, labels }, {}, { epochs: 8, batchSize: 32, optimizer, schedule: wsd, seed: 11, branchAt: [0.25, 0.5, 1], saf });
        for (const br of r.branches) {
          const plain = Mlp.init(b, desc, 3);
          const p = await trainWithCurve(plain, { x, labels }, { epochs: br.epochs, batchSize: 32, optimizer, schedule: wsd, seed: 11, saf });
          expect(br.weights.map((t) => Array.from(t.data)), `branch ${br.fraction}: weights`).toEqual((await plain.toHost()).map((t) => Array.from(t.data)));
          expect(br.epochLoss, `branch ${br.fraction}: epoch losses`).toEqual(p.result.epochLoss);
          plain.dispose();
        }
        // Without SAF the branches end elsewhere (the term is not a no-op here).
        const off = Mlp.init(b, desc, 3);
        const q = await runWsdBranches(off, { x, labels }, {}, { epochs: 8, batchSize: 32, optimizer, schedule: wsd, seed: 11, branchAt: [0.25, 0.5, 1] });
        expect(q.branches[1]!.weights.map((t) => Array.from(t.data))).not.toEqual(r.branches[1]!.weights.map((t) => Array.from(t.data)));
        await expect(runWsdBranches(off, { x, labels }, {}, { epochs: 8, batchSize: 32, optimizer, schedule: wsd, seed: 11, branchAt: [0.25, 1], saf: { ...saf, epochs: 2 } })).rejects.toThrow(/below the smallest budget's 2 epochs/);
        off.dispose();
        model.dispose();
        b.free(x);
      } finally {
        b.dispose();
      }
    });

    for (const fused of be.name === 'js' ? [false] : [true, false]) {
      for (const name of ['sgd', 'adam'] as OptimizerName[]) {
        it(`${name}${fused ? ' (fused)' : ' (composed)'}: every branch = a plain wsd run of its budget, bit for bit`, async () => {
          const b: Backend = await be.create();
          try {
            const x = b.upload(inputs, [N, D]);
            const evalSet = { x, labels };
            const optimizer = optimizerConfig(name, name === 'sgd' ? { lr: 0.1 } : { lr: 0.01 });
            const model = Mlp.init(b, desc, 3);
            const watched: string[] = [];
            const r = await runWsdBranches(
              model,
              { x, labels },
              { eval: evalSet, val: evalSet },
              { epochs: 8, batchSize: 32, optimizer, schedule: wsd, seed: 11, branchAt: [0.25, 0.5, 1], fused, evalEvery: 4 },
              {
                // A watcher asking for odd steps cuts the fused calls elsewhere: no change allowed.
                watch: (p) => ({ steps: (from, to) => [from + 1, to].filter((t) => t > from && t <= to), at: async (t) => void watched.push(`${p ? p.fraction : 'main'}@${t}`) }),
              },
            );
            expect(r.main.steps).toBe(40);
            expect(watched).toEqual(['main@1', 'main@40', '0.25@8', '0.25@10', '0.5@15', '0.5@20', '1@29', '1@40']);
            expect(r.branches.map((q) => [q.start, q.steps])).toEqual([[7, 10], [14, 20], [28, 40]]);
            for (const br of r.branches) {
              const plain = Mlp.init(b, desc, 3);
              const p = await trainWithCurve(plain, { x, labels }, { epochs: br.epochs, batchSize: 32, optimizer, schedule: wsd, seed: 11, fused }, { evalSet, evalEvery: 4 });
              const w = (await plain.toHost()).map((t) => Array.from(t.data));
              expect(br.weights.map((t) => Array.from(t.data)), `branch ${br.fraction}: weights`).toEqual(w);
              expect(br.epochLoss, `branch ${br.fraction}: epoch losses`).toEqual(p.result.epochLoss);
              // Per-step batch losses of the decay = the plain run's at the same steps; before it, the main branch's.
              expect(br.curve.firstStep).toBe(br.start);
              expect(br.curve.trainLoss).toEqual(p.curve.trainLoss.slice(br.start));
              expect(r.main.curve.trainLoss.slice(0, br.start)).toEqual(p.curve.trainLoss.slice(0, br.start));
              expect(br.curve.trainLoss.every(Number.isFinite)).toBe(true);
              // The branch's evaluations from its start on are the plain run's.
              const later = p.curve.eval.filter((e) => e.step >= br.start);
              expect(br.curve.eval.map((e) => e.step)).toEqual([br.start, ...later.map((e) => e.step).filter((s) => s > br.start)]);
              expect(br.curve.eval.at(-1)).toEqual(p.curve.eval.at(-1));
              expect(br.val!.loss).toBe(p.curve.eval.at(-1)!.loss);
              plain.dispose();
            }
            // The main branch is evaluated every 4 steps and at every branch point and budget; a branch starts where it left it.
            expect(r.main.curve.eval.map((e) => e.step)).toEqual([0, 4, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 36, 40]);
            for (const br of r.branches) expect(br.curve.eval[0]).toEqual(r.main.curve.eval.find((e) => e.step === br.start));
            // The main branch = a plain constant-rate run with the same warm-up.
            const constant = Mlp.init(b, desc, 3);
            const c = await trainWithCurve(constant, { x, labels }, { epochs: 8, batchSize: 32, optimizer, schedule: mainBranchSchedule(wsd), seed: 11, fused });
            expect(r.main.weights.map((t) => Array.from(t.data))).toEqual((await constant.toHost()).map((t) => Array.from(t.data)));
            expect(r.main.curve.trainLoss).toEqual(c.curve.trainLoss);
            constant.dispose();
            model.dispose();
            b.free(x);
          } finally {
            b.dispose();
          }
        });
      }
    }
  });
}
