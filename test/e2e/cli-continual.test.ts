/**
 * `riverbed continual` end to end on a small slice: the JSON result (accuracy matrices, the
 * summary recomputed from the runs, a run manifest), the plots, the table; bad input is one line,
 * exit 2, nothing written.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cliTempDir, expectCleanFailure, riverbedAsync as riverbed } from '../helpers/cli-run.js';

let dir: string;
beforeAll(() => {
  dir = cliTempDir('continual');
});

describe('riverbed continual', () => {
  it('permuted-mnist:3, every method, 2 seeds: matrices, summary, plots, manifest', async () => {
    const out = join(dir, 'pm');
    const r = await riverbed('continual', '--tasks', 'permuted-mnist:3', '--seeds', '2', '--train-size', '300', '--hidden', '16', '--backend', 'js', '--out', out, '--json');
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(res).toMatchObject({ format: 'riverbed.continual', version: 1, tasks: ['permuted-mnist/1', 'permuted-mnist/2', 'permuted-mnist/3'], methods: ['sgd', 'adagrad', 'classp', 'ewc'], seeds: [0, 1], backend: 'js' });
    expect(res.samples).toEqual({ trainPerTask: 300, test: [10000, 10000, 10000] });
    expect(res.runs).toHaveLength(8);
    for (const run of res.runs) {
      expect(run.accuracy).toHaveLength(3);
      for (const row of run.accuracy) for (const a of row) expect(a >= 0 && a <= 1).toBe(true);
      // learned the first task (chance 0.1); CLASSP's default α = 0.2 takes sign-sized first steps and may not on 300 samples
      if (run.method !== 'classp') expect(run.accuracy[0][0], run.method).toBeGreaterThan(0.2);
      expect(run.averageFinal).toBeCloseTo((run.accuracy[2][0] + run.accuracy[2][1] + run.accuracy[2][2]) / 3, 12);
      const f0 = Math.max(run.accuracy[0][0], run.accuracy[1][0]) - run.accuracy[2][0];
      const f1 = run.accuracy[1][1] - run.accuracy[2][1];
      expect(run.forgetting).toBeCloseTo((f0 + f1) / 2, 12);
    }
    const sgd = res.runs.filter((x: { method: string }) => x.method === 'sgd');
    expect(res.summary.sgd.averageFinal.mean).toBeCloseTo((sgd[0].averageFinal + sgd[1].averageFinal) / 2, 12);
    expect(res.summary.sgd.averageFinal.std).toBeCloseTo(Math.abs(sgd[0].averageFinal - sgd[1].averageFinal) / Math.SQRT2, 12);
    expect(res.summary.classp.movedFraction).toHaveLength(3);
    expect(res.runs.find((x: { method: string }) => x.method === 'ewc').ewcLambda).toBe(5000);
    expect(res.manifest).toMatchObject({ backend: 'js', seeds: [0, 1], parameters: { tasks: 'permuted-mnist:3', trainSize: 300, lr: { sgd: 0.05, adagrad: 0.01, classp: 0.2, ewc: 0.05 } } });
    expect(readdirSync(out).sort()).toEqual(['accuracy.png', 'accuracy.svg', 'continual.json', 'first-task.png', 'first-task.svg']);
    expect(readFileSync(join(out, 'accuracy.png')).subarray(1, 4).toString()).toBe('PNG');
    expect(JSON.parse(readFileSync(join(out, 'continual.json'), 'utf8')).runs).toEqual(res.runs);
    // Without --json: the table.
    const t = await riverbed('continual', '--tasks', 'mnist,fashion-mnist', '--methods', 'classp', '--seeds', '1', '--train-size', '200', '--hidden', '8', '--classp-threshold', '0', '--lr', 'classp=0.05', '--backend', 'js', '--out', join(dir, 'mf'));
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/\| classp \(moved \d+ %\/step\) \| \d+\.\d ± 0\.0 \|/);
    expect(JSON.parse(readFileSync(join(dir, 'mf', 'continual.json'), 'utf8')).runs[0].optimizer).toMatchObject({ name: 'classp', lr: 0.05, threshold: 0 });
  });

  it('bad input: one line, exit 2, nothing written', async () => {
    const out = join(dir, 'never');
    const base = ['continual', '--seeds', '1', '--train-size', '100', '--backend', 'js', '--out', out];
    expectCleanFailure(await riverbed(...base, '--tasks', 'mnist'), 'E_ARG', '--tasks', 'at least 2 tasks');
    expectCleanFailure(await riverbed(...base, '--tasks', 'mnist,svhn'), 'E_ARG', 'unknown task "svhn"');
    expectCleanFailure(await riverbed(...base, '--tasks', 'permuted-mnist:0'), 'E_ARG', '--tasks');
    expectCleanFailure(await riverbed(...base, '--tasks', 'permuted-mnist:2', '--methods', 'sgd,lion'), 'E_ARG', '--methods', 'lion');
    expectCleanFailure(await riverbed(...base, '--tasks', 'permuted-mnist:2', '--methods', 'sgd', '--lr', 'classp=0.1'), 'E_ARG', '--lr', 'not among --methods');
    expectCleanFailure(await riverbed(...base, '--tasks', 'permuted-mnist:2', '--lr', 'sgd=-1'), 'E_ARG', '--lr');
    expectCleanFailure(await riverbed(...base, '--tasks', 'permuted-mnist:2', '--lr', 'sgd=NaN'), 'E_ARG', '--lr');
    expectCleanFailure(await riverbed(...base, '--tasks', 'permuted-mnist:2', '--methods', 'sgd', '--classp-threshold', '0.1'), 'E_ARG', '--classp-threshold');
    expectCleanFailure(await riverbed(...base, '--tasks', 'permuted-mnist:2', '--ewc-lambda', '-5'), 'E_ARG', '--ewc-lambda');
    expectCleanFailure(await riverbed(...base, '--tasks', 'permuted-mnist:2', '--seeds', '0'), 'E_ARG', '--seeds');
    expect(existsSync(out)).toBe(false);
    // An earlier result is kept unless --force.
    expectCleanFailure(await riverbed('continual', '--tasks', 'permuted-mnist:2', '--seeds', '1', '--train-size', '100', '--backend', 'js', '--out', join(dir, 'pm')), 'E_FILE', 'continual-learning result', '--force');
  });
});
