/**
 * `riverbed train --probe ghosts|rankme|alphareq|cond`: the records and plots land in the run
 * directory, the ghosts' exceeded steps in probes.json and the summary; a run stopped right
 * before a ghosts measurement (where the probe captures θ_{t−1}) and resumed writes the same
 * probes.json as the straight run; other layer options on resume are refused; bad options are one
 * line, nothing written. `riverbed train --saf`: λ = 0 saves the weights of a plain run byte for
 * byte (js), λ > 0 others, the summary's KL; stopped and resumed = straight; misuse is one line.
 */
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliTempDir, expectCleanFailure, riverbed, writeBlobs } from '../helpers/cli-run.js';

let dir: string;
let base: string[];
beforeAll(() => {
  dir = cliTempDir('probes');
  writeBlobs(dir, { n: 230, features: 6, lift: 2, seed: 4 });
  // 207 training rows in batches of 20: 11 steps per epoch, 33 in all; sgd at 2.0 overshoots early.
  base = ['train', '--inputs', join(dir, 'x.npy'), '--labels', join(dir, 'y.npy'), '--hidden', '8', '--epochs', '3', '--batch-size', '20', '--seed', '3', '--lr', '2', '--json', '--backend', 'js'];
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('train --probe ghosts, rankme, alphareq, cond', () => {
  const probe = ['--probe', 'ghosts:every=4,rankme:layer=1:every=8', '--probe', 'alphareq:every=8,cond:every=11', '--probe-size', '64'];

  it('records, plots and the exceeded steps; stopped before a ghosts step and resumed = straight', () => {
    const s = riverbed(...base, ...probe, '--record', join(dir, 'straight'));
    expect(s.code, s.stderr).toBe(0);
    const straight = JSON.parse(readFileSync(join(dir, 'straight', 'probes.json'), 'utf8'));
    const steps = (name: string) => straight.records.filter((r: { probe: string }) => r.probe === name).map((r: { step: number }) => r.step);
    expect(steps('ghosts')).toEqual([4, 8, 12, 16, 20, 24, 28, 32]);
    expect(steps('rankme')).toEqual([0, 8, 16, 24, 32]);
    expect(steps('cond')).toEqual([0, 11, 22, 33]);
    expect(straight.probes).toContainEqual({ name: 'rankme', every: 8, layer: 1 });
    const ghosts = straight.records.filter((r: { probe: string }) => r.probe === 'ghosts');
    const over = ghosts.filter((r: { values: { exceeded: number } }) => r.values.exceeded === 1).map((r: { step: number }) => r.step);
    expect(straight.ghosts.exceededSteps).toEqual(over);
    for (const g of ghosts) expect(g.values.exceeded === 1).toBe(g.values.updateNorm > g.values.rho);
    expect(JSON.parse(s.stdout).probes.ghostsExceeded).toEqual(over);
    const cond = straight.records.find((r: { probe: string }) => r.probe === 'cond').values;
    expect(Object.keys(cond).filter((k) => k.startsWith('cond:')).sort()).toEqual(['cond:0.weight', 'cond:2.weight']);
    for (const p of ['ghosts', 'rankme', 'alphareq', 'cond']) for (const ext of ['png', 'svg']) expect(existsSync(join(dir, 'straight', `probe-${p}.${ext}`)), `${p}.${ext}`).toBe(true);
    // Stop after 11 (the step before 12, a ghosts step: θ_11 is captured in memory only) and after 19; resume twice.
    const run = join(dir, 'run');
    expect(riverbed(...base, ...probe, '--run', run, '--stop-after', '11').code).toBe(0);
    expect(riverbed(...base, ...probe, '--resume', run, '--stop-after', '19').code).toBe(0);
    expectCleanFailure(riverbed(...base, '--probe', 'ghosts:every=4,rankme:layer=2:every=8', '--probe', 'alphareq:every=8,cond:every=11', '--probe-size', '64', '--resume', run), 'E_ARG', 'other probes', 'rankme:layer=1:every=8');
    const r = riverbed(...base, ...probe, '--resume', run);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(run, 'probes.json'), 'utf8')).records).toEqual(straight.records);
  });

  it('bad options: one line, nothing written', () => {
    const never = join(dir, 'never');
    expectCleanFailure(riverbed(...base, '--probe', 'cond:layer=1', '--run', never), 'E_ARG', '--probe', 'cond takes every=N');
    expectCleanFailure(riverbed(...base, '--probe', 'rankme:layer=7', '--run', never), 'E_ARG', '--probe', 'layer=7 is not a module of the model; expected 0..2');
    expectCleanFailure(riverbed(...base, '--probe', 'alphareq:layer=x', '--run', never), 'E_ARG', '--probe', 'non-negative integer');
    expect(existsSync(never)).toBe(false);
  });
});

describe('train --saf', () => {
  it('λ = 0 = plain training byte for byte; λ > 0 differs and reports the KL per epoch; misuse is one line', () => {
    const w = (k: string) => join(dir, `saf-${k}.safetensors`);
    expect(riverbed(...base, '--save', w('plain')).code).toBe(0);
    const zero = riverbed(...base, '--saf', 'lambda=0,epochs=1', '--save', w('zero'));
    expect(zero.code, zero.stderr).toBe(0);
    expect(readFileSync(w('zero')).equals(readFileSync(w('plain')))).toBe(true);
    const on = riverbed(...base, '--saf', 'lambda=0.5,epochs=2,tau=2,direction=recorded-current', '--save', w('on'));
    expect(on.code, on.stderr).toBe(0);
    expect(readFileSync(w('on')).equals(readFileSync(w('plain')))).toBe(false);
    const s = JSON.parse(on.stdout).saf;
    expect(s).toMatchObject({ lambda: 0.5, epochs: 2, temperature: 2, direction: 'recorded-current', firstEpoch: 3 });
    expect(s.meanKl).toHaveLength(1);
    expect(s.meanKl[0]).toBeGreaterThan(0);
    expectCleanFailure(riverbed(...base, '--saf', 'lambda=1,epochs=3'), 'E_ARG', '--saf', 'E must be below --epochs 3');
    expectCleanFailure(riverbed(...base, '--saf', 'lambda=1'), 'E_ARG', '--saf', 'lambda and epochs are required');
  });

  it('stopped mid-epoch (step 15 of 33) and resumed: the weights of the straight run byte for byte, the same KL; another --saf on resume is refused', () => {
    const w = (k: string) => join(dir, `saf-${k}.safetensors`);
    const saf = ['--saf', 'lambda=0.5,epochs=1,tau=2'];
    const straight = riverbed(...base, ...saf, '--save', w('straight'));
    expect(straight.code, straight.stderr).toBe(0);
    const run = join(dir, 'saf-run');
    const stop = riverbed(...base, ...saf, '--run', run, '--stop-after', '15');
    expect(stop.code, stop.stderr).toBe(0);
    expect(existsSync(join(run, 'checkpoints', 'step-00000015', 'saf.safetensors'))).toBe(true);
    expectCleanFailure(riverbed(...base, '--saf', 'lambda=0.25,epochs=1,tau=2', '--resume', run, '--save', w('other')), 'E_ARG', 'another SAF', 'lambda=0.5');
    expectCleanFailure(riverbed(...base, '--resume', run, '--save', w('other')), 'E_ARG', 'another SAF', 'no --saf');
    const damaged = join(dir, 'saf-damaged');
    cpSync(run, damaged, { recursive: true });
    writeFileSync(join(damaged, 'checkpoints', 'step-00000015', 'saf.safetensors'), 'not a safetensors file');
    expectCleanFailure(riverbed(...base, ...saf, '--resume', damaged, '--save', w('other')), 'E_FORMAT', join(damaged, 'checkpoints', 'step-00000015', 'saf.safetensors'));
    expect(existsSync(w('other'))).toBe(false);
    const resumed = riverbed(...base, ...saf, '--resume', run, '--save', w('resumed'));
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(readFileSync(w('resumed')).equals(readFileSync(w('straight')))).toBe(true);
    expect(JSON.parse(resumed.stdout).saf).toEqual(JSON.parse(straight.stdout).saf);
  });
});
