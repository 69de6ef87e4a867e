/**
 * `riverbed train --schedule wsd --branch-at … --run DIR`: every branch's weights and final numbers
 * equal a plain `riverbed train --schedule wsd --epochs E_b` run's (the independent truth) on js
 * and native; the main branch's checkpoints at the branch points resume (`--resume`, as the
 * constant-rate run they belong to) to the main branch's final weights; the run directory holds
 * what docs/schedules.md lists; the river-valley files with --valley-every; with --saf a branch equals
 * the plain run with the same --saf.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors } from '../../src/io/safetensors.js';
import { backendsUnderTest } from '../helpers/backends.js';
import { cliTempDir, riverbedIn as riverbed, writeBlobs } from '../helpers/cli-run.js';

const backends = (await backendsUnderTest(['js', 'native'])).filter((b) => !b.skip);

async function weights(file: string): Promise<Record<string, number[]>> {
  const c = await readSafetensors(file);
  return Object.fromEntries([...c.tensors].map(([k, t]) => [k, Array.from(t.data)]));
}

let dir: string;
beforeAll(() => {
  dir = cliTempDir('branches');
  writeBlobs(dir, { n: 230, features: 6, lift: 1, seed: 4 });
});

// 207 training rows in batches of 20: 11 steps per epoch; --epochs 6 → budgets 2, 3, 6 epochs = 22, 33, 66 steps.
const COMMON = ['--inputs', 'x.npy', '--labels', 'y.npy', '--hidden', '8', '--batch-size', '20', '--lr', '0.3', '--seed', '5', '--warmup', '3', '--decay-fraction', '0.3', '--decay-shape', 'cosine'];

for (const be of backends) {
  describe(`train --branch-at on ${be.name}`, () => {
    it('each branch = the plain wsd run of its budget; the main branch resumes from its checkpoints; the run directory', async () => {
      const run = `run-${be.name}`;
      const r = riverbed(dir, 'train', ...COMMON, '--backend', be.name, '--epochs', '6', '--schedule', 'wsd', '--branch-at', '0.33,0.5,1', '--run', run, '--eval-every', '4', '--valley-every', '5', '--json');
      expect(r.code, r.stderr).toBe(0);
      const s = JSON.parse(r.stdout);
      expect(s.format).toBe('riverbed.wsd-branches');
      expect(s.stepsPerEpoch).toBe(11);
      // D_b = round(0.3·T_b): 7, 10, 20 steps.
      expect(s.branches.map((b: { epochs: number; steps: number; decaySteps: number; start: number }) => [b.epochs, b.steps, b.decaySteps, b.start])).toEqual([[2, 22, 7, 15], [3, 33, 10, 23], [6, 66, 20, 46]]);
      expect(s.main).toMatchObject({ epochs: 6, steps: 66 });
      for (const b of s.branches) {
        const w = `plain-${be.name}-${b.epochs}.safetensors`;
        const p = riverbed(dir, 'train', ...COMMON, '--backend', be.name, '--epochs', String(b.epochs), '--schedule', 'wsd', '--save', w, '--json');
        expect(p.code, p.stderr).toBe(0);
        const plain = JSON.parse(p.stdout);
        expect(await weights(join(dir, run, `branch-${b.fraction}`, 'weights.safetensors')), `branch ${b.fraction}`).toEqual(await weights(join(dir, w)));
        expect(b.val).toEqual(plain.val);
        const curve = JSON.parse(readFileSync(join(dir, run, `branch-${b.fraction}`, 'curve.json'), 'utf8'));
        expect(curve.epochLoss).toEqual(plain.epochLoss);
        expect(curve.firstStep).toBe(b.start);
        expect(curve.trainLoss).toHaveLength(b.decaySteps);
      }
      // The checkpoint at the first branch point (step 15, mid-epoch 2) resumed as the constant-rate run it belongs to.
      const resumed = riverbed(dir, 'train', ...COMMON.filter((a, i, all) => !['--decay-fraction', '--decay-shape'].includes(a) && !['--decay-fraction', '--decay-shape'].includes(all[i - 1]!)), '--backend', be.name, '--epochs', '6', '--schedule', 'constant', '--resume', join(run, 'main', 'checkpoints', 'step-00000015'), '--run', `resumed-${be.name}`, '--save', `main-${be.name}.safetensors`, '--json');
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(await weights(join(dir, `main-${be.name}.safetensors`))).toEqual(await weights(join(dir, run, 'main', 'weights.safetensors')));
      // What the run directory holds.
      expect(readdirSync(join(dir, run)).sort()).toEqual(['branch-0.33', 'branch-0.5', 'branch-1', 'branches.json', 'losses.png', 'losses.svg', 'main', 'valley-along.png', 'valley-along.svg', 'valley-lambda.png', 'valley-lambda.svg', 'valley-ratio.png', 'valley-ratio.svg', 'valley.json']);
      expect(readdirSync(join(dir, run, 'main', 'checkpoints')).sort()).toEqual(['step-00000015', 'step-00000023', 'step-00000046']);
      const summary = JSON.parse(readFileSync(join(dir, run, 'branches.json'), 'utf8'));
      expect(summary.branches.map((b: { dir: string }) => b.dir)).toEqual(['branch-0.33', 'branch-0.5', 'branch-1']);
      const main = JSON.parse(readFileSync(join(dir, run, 'main', 'curve.json'), 'utf8'));
      expect(main.trainLoss).toHaveLength(66);
      // Evaluated every 4 steps and at each branch point and budget.
      expect(main.eval.map((e: { step: number }) => e.step)).toEqual([0, 4, 8, 12, 15, 16, 20, 22, 23, 24, 28, 32, 33, 36, 40, 44, 46, 48, 52, 56, 60, 64, 66]);
      const valley = JSON.parse(readFileSync(join(dir, run, 'valley.json'), 'utf8'));
      expect(valley.runs.map((v: { branch: string }) => v.branch)).toEqual(['main', '0.33', '0.5', '1']);
      expect(valley.runs[0].records.map((q: { step: number }) => q.step)).toEqual([5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65]);
      expect(valley.runs[1].records.map((q: { step: number }) => q.step)).toEqual([20]); // decay 15–21: 20 (and 15 is the start, captured by the main branch's run)
      for (const q of valley.runs.flatMap((v: { records: { along: number; updateNorm: number; lr: number }[] }) => v.records)) {
        expect(q.along).toBeLessThanOrEqual(q.updateNorm * (1 + 1e-6));
        expect(q.lr).toBeGreaterThan(0);
      }
      // Again into the same directory: refused without --force, nothing changed.
      const again = riverbed(dir, 'train', ...COMMON, '--backend', be.name, '--epochs', '6', '--schedule', 'wsd', '--branch-at', '0.33,0.5,1', '--run', run);
      expect(again.code).toBe(2);
      expect(again.stderr.trim().split('\n')).toHaveLength(1);
      expect(again.stderr).toContain('--force');
    });
  });
}

describe('train --branch-at with --saf (js)', () => {
  it('a branch = the plain wsd run with the same --saf; the branch-point checkpoints carry saf.safetensors; E not below the smallest budget is one line', async () => {
    const saf = ['--saf', 'lambda=0.5,epochs=1,tau=2'];
    const r = riverbed(dir, 'train', ...COMMON, ...saf, '--backend', 'js', '--epochs', '4', '--schedule', 'wsd', '--branch-at', '0.5,1', '--run', 'run-saf', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).saf).toEqual({ lambda: 0.5, epochs: 1, temperature: 2, direction: 'current-recorded' });
    const p = riverbed(dir, 'train', ...COMMON, ...saf, '--backend', 'js', '--epochs', '2', '--schedule', 'wsd', '--save', 'plain-saf-2.safetensors', '--json');
    expect(p.code, p.stderr).toBe(0);
    expect(await weights(join(dir, 'run-saf', 'branch-0.5', 'weights.safetensors'))).toEqual(await weights(join(dir, 'plain-saf-2.safetensors')));
    const cps = readdirSync(join(dir, 'run-saf', 'main', 'checkpoints'));
    for (const c of cps) expect(readdirSync(join(dir, 'run-saf', 'main', 'checkpoints', c))).toContain('saf.safetensors');
    const bad = riverbed(dir, 'train', ...COMMON, '--saf', 'lambda=0.5,epochs=2', '--backend', 'js', '--epochs', '4', '--schedule', 'wsd', '--branch-at', '0.5,1', '--run', 'run-saf-bad');
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toContain("--saf: epochs=2: the term compares with outputs recorded E epochs earlier, so E must be below the smallest budget's 2 epochs");
  });
});
