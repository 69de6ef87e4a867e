/**
 * `riverbed coreset random|forgetting|el2n|aum|dynunc|ccs|stability` and `train --online-cld`
 * end to end through the built CLI, on a small recorded run (tiny blobs, js backend).
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readNpy, writeNpy } from '../../src/io/npy.js';
import { Rng } from '../../src/model/rng.js';
import { requireBuiltCli, runCli } from './cli.js';

let dir: string;
beforeAll(() => {
  requireBuiltCli();
  dir = mkdtempSync(join(tmpdir(), 'riverbed-e2e-baselines-'));
  const n = 240;
  const r = new Rng(2);
  const x = new Float32Array(n * 4);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 3;
    for (let j = 0; j < 4; j++) x[i * 4 + j] = (j === y[i] ? 1.5 : 0) + r.uniform(-1, 1);
  }
  writeNpy(join(dir, 'x.npy'), x, [n, 4]);
  writeNpy(join(dir, 'y.npy'), y, [n], { dtype: 'i8' });
  const t = runCli(['train', '--inputs', join(dir, 'x.npy'), '--labels', join(dir, 'y.npy'), '--epochs', '5', '--hidden', '8', '--batch-size', '32', '--backend', 'js', '--record', join(dir, 'run'), '--record-init', '--online-cld', join(dir, 'online.npy'), '--json'], dir);
  if (t.status !== 0) throw new Error(t.stderr);
});

describe('coreset baselines CLI', () => {
  for (const m of ['random', 'forgetting', 'el2n', 'aum', 'dynunc', 'ccs']) {
    it(`${m}: selection JSON with method, manifest and per-class budget`, () => {
      const out = join(dir, `${m}.json`);
      const r = runCli(['coreset', m, '--run', join(dir, 'run'), '--fraction', '0.25', '--budget', 'equal', '--out', out, '--scores', join(dir, `${m}.npy`), '--json'], dir);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const sel = JSON.parse(readFileSync(out, 'utf8'));
      expect(sel.format).toBe('riverbed.selection');
      expect(sel.method).toBe(m);
      expect(sel.selected).toBe(54); // 0.25 of the 216 train samples
      expect(sel.perClass).toEqual([18, 18, 18]);
      expect(new Set(sel.indices).size).toBe(54);
      expect(sel.manifest.riverbed).toMatch(/^\d+\.\d+\.\d+/);
      expect(sel.manifest.inputs.length).toBeGreaterThan(3);
      expect(JSON.parse(r.stdout).selected).toBe(54);
    });
  }
  it('--exclude keeps excluded samples out; bad input leaves no output', async () => {
    const ex = join(dir, 'ex.txt');
    writeFileSync(ex, '# bad labels\n0\n1\n2\n');
    const out = join(dir, 'ex.json');
    const r = runCli(['coreset', 'aum', '--run', join(dir, 'run'), '--per-class', '72', '--exclude', ex, '--out', out], dir);
    expect(r.status).toBe(0);
    const sel = JSON.parse(readFileSync(out, 'utf8'));
    // --exclude names dataset rows, as `indices` do; rows of the validation split are not in the run
    const trainRows = new Set(Array.from((await readNpy(join(dir, 'run', 'train_indices.npy'))).data as BigInt64Array, Number));
    const inRun = [0, 1, 2].filter((i) => trainRows.has(i));
    for (const i of [0, 1, 2]) expect(sel.indices).not.toContain(i);
    expect(sel.selected).toBe(216 - inRun.length);
    expect(sel.parameters.excludedOutsideRun ?? 0).toBe(3 - inRun.length);
    const before = readdirSync(dir).length;
    const bad = runCli(['coreset', 'el2n', '--run', join(dir, 'run'), '--fraction', '0.1', '--epochs', '99', '--out', join(dir, 'never.json')], dir);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/--epochs/);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(join(dir, 'never.json'))).toBe(false);
    expect(readdirSync(dir).length).toBe(before);
  });
  it('with --run, indices are dataset rows (train_indices.npy), positions the run columns; --exclude speaks rows', async () => {
    const run = join(dir, 'run');
    const rows = Array.from((await readNpy(join(run, 'train_indices.npy'))).data as BigInt64Array, Number);
    const valRows = new Set(Array.from((await readNpy(join(run, 'val_indices.npy'))).data as BigInt64Array, Number));
    const labels = Array.from((await readNpy(join(run, 'train_labels.npy'))).data as BigInt64Array, Number);
    expect(rows.some((r, j) => r !== j), 'the split shuffles: positions are not rows').toBe(true);
    const out = join(dir, 'rows.json');
    const r = runCli(['coreset', 'aum', '--run', run, '--per-class', '5', '--out', out, '--scores', join(dir, 'rows-scores.npy'), '--indices-npy', join(dir, 'rows.npy')], dir);
    expect(r.status, r.stderr).toBe(0);
    const sel = JSON.parse(readFileSync(out, 'utf8'));
    expect(sel.positions).toHaveLength(15);
    expect(sel.indices).toEqual(sel.positions.map((p: number) => rows[p]));
    for (const i of sel.indices) expect(valRows.has(i), `row ${i} is a validation row`).toBe(false);
    expect(Array.from((await readNpy(join(dir, 'rows.npy'))).data as BigInt64Array, Number)).toEqual(sel.indices);
    // positions index the run's columns: AUM keeps each class's 5 lowest column scores
    const scores = Array.from((await readNpy(join(dir, 'rows-scores.npy'))).data as Float32Array);
    for (let c = 0; c < 3; c++) {
      const lowest = scores.map((s, j) => [s, j] as const).filter(([, j]) => labels[j] === c).sort((a, b) => a[0] - b[0] || a[1] - b[1]).slice(0, 5).map(([, j]) => j);
      expect(sel.positions.slice(5 * c, 5 * c + 5)).toEqual(lowest);
    }
    // excluding the best row of class 0 by its dataset row, and a validation row (a note, not an error)
    const v = [...valRows][0]!;
    writeFileSync(join(dir, 'ex-rows.txt'), `${sel.indices[0]}\n${v}\n`);
    const e = runCli(['coreset', 'aum', '--run', run, '--per-class', '5', '--exclude', join(dir, 'ex-rows.txt'), '--out', join(dir, 'rows-ex.json')], dir);
    expect(e.status, e.stderr).toBe(0);
    expect(e.stderr).toMatch(/1 of the --exclude rows are not in the run's training split/);
    const ex = JSON.parse(readFileSync(join(dir, 'rows-ex.json'), 'utf8'));
    expect(ex.indices).not.toContain(sel.indices[0]);
    expect(ex.indices.slice(0, 4)).toEqual(sel.indices.slice(1, 5));
    expect(ex.parameters.excludedOutsideRun).toBe(1);
  });
  it('stability matches runs by dataset rows of any size (train indices above 1 048 575)', async () => {
    const run = join(dir, 'run');
    const big = join(dir, 'run-big');
    const copy = join(dir, 'run-big2');
    for (const d of [big, copy]) {
      cpSync(run, d, { recursive: true });
      const rows = (await readNpy(join(d, 'train_indices.npy'))).data as BigInt64Array;
      writeNpy(join(d, 'train_indices.npy'), BigInt64Array.from(rows, (r) => r + 2_000_000_000n), [rows.length]);
    }
    const r = runCli(['coreset', 'stability', '--method', 'aum', '--run', big, copy, '--json'], dir);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).pairs[0].spearman).toBe(1);
  });
  it('train --online-cld equals coreset cld on the recorded trajectory', async () => {
    const run = join(dir, 'run');
    const r = runCli(['coreset', 'cld', '--train-loss', join(run, 'train_loss.npy'), '--train-labels', join(run, 'train_labels.npy'), '--val-loss', join(run, 'val_loss.npy'), '--val-labels', join(run, 'val_labels.npy'), '--fraction', '0.1', '--out', join(dir, 'cld.json'), '--scores', join(dir, 'cld.npy'), '--backend', 'js'], dir);
    expect(r.status).toBe(0);
    const off = (await readNpy(join(dir, 'cld.npy'))).data as Float32Array;
    const on = (await readNpy(join(dir, 'online.npy'))).data as Float32Array;
    expect(on.length).toBe(off.length);
    for (let i = 0; i < on.length; i++) expect(Math.abs(on[i]! - off[i]!)).toBeLessThan(1e-6);
  });
  it('stability across checkpoint subsets', () => {
    const r = runCli(['coreset', 'stability', '--method', 'aum', '--run', join(dir, 'run'), '--compare', 'checkpoints', '--upto', '2', '--json'], dir);
    expect(r.status).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.pairs).toHaveLength(1);
    expect(rep.pairs[0].spearman).toBeGreaterThan(-1);
    expect(rep.pairs[0].spearman).toBeLessThanOrEqual(1);
    const two = runCli(['coreset', 'stability', '--method', 'aum', '--run', join(dir, 'run')], dir);
    expect(two.status).not.toBe(0);
    expect(two.stderr).toMatch(/at least two/);
  });
});
