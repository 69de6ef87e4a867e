/**
 * `riverbed unlearn` end to end (built CLI) on a small synthetic problem: a method writes new
 * weights and never touches the input weights; `unlearn evaluate` writes its table, JSON with the
 * run manifest, and plot; bad input — an unknown class, indices out of range or outside the
 * training split, a forget set that is everything, an empty one, the output being the input
 * weights (by another spelling too), bad GU options — is one stderr line, exit 2, nothing written.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitDataset } from '../../src/data/dataset.js';
import { writeNpy } from '../../src/io/npy.js';
import { encodeSafetensors } from '../../src/io/safetensors.js';
import { requireBuiltCli, runCli } from './cli.js';

const dir = mkdtempSync(join(tmpdir(), 'riverbed-unlearn-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const at = (f: string) => join(dir, f);
const hash = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

const N = 300;
const D = 6;
/** The training split `riverbed train` and `unlearn` take from X.npy (--val-fraction 0.1, --seed 0). */
let trainRows: Int32Array;
let trainLabels: Int32Array;
const COMMON = ['--model', 'm.json', '--weights', 'w.safetensors', '--inputs', 'X.npy', '--labels', 'Y.npy', '--backend', 'js'];

beforeAll(() => {
  requireBuiltCli();
  let s = 12345;
  const r = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const x = new Float32Array(N * D);
  const y = new Int32Array(N);
  for (let i = 0; i < N; i++) {
    y[i] = i % 3;
    for (let j = 0; j < D; j++) x[i * D + j] = (j % 3 === y[i] ? 2 : 0) + r() - 0.5;
  }
  const split = splitDataset({ name: 'X', inputs: x, features: D, labels: y, count: N, indices: Int32Array.from({ length: N }, (_, i) => i) }, 30, 0);
  trainRows = split.train.indices;
  trainLabels = split.train.labels;
  writeNpy(at('X.npy'), x, [N, D]);
  writeNpy(at('Y.npy'), y, [N]);
  writeFileSync(at('m.json'), JSON.stringify({ format: 'riverbed.model', version: 1, layers: [{ type: 'linear', in: D, out: 8 }, { type: 'relu' }, { type: 'linear', in: 8, out: 3 }], loss: 'cross_entropy' }));
  const t = runCli(['train', '--inputs', 'X.npy', '--labels', 'Y.npy', '--model', 'm.json', '--epochs', '5', '--batch-size', '16', '--save', 'w.safetensors', '--backend', 'js'], dir);
  expect(t.status, t.stderr).toBe(0);
});

describe('riverbed unlearn <method>', () => {
  it('gu writes new weights, leaves the input weights alone, and reports before/after', () => {
    const before = hash(at('w.safetensors'));
    const r = runCli(['unlearn', 'gu', ...COMMON, '--forget', 'class:2', '--out', 'gu.safetensors', '--steps', '30', '--lr', '0.1', '--forget-batch-size', '16', '--batch-size', '32', '--k', '4', '--json'], dir);
    expect(r.status, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.method).toBe('gu');
    expect(s.forget.samples).toBe(trainLabels.filter((v) => v === 2).length);
    expect(s.forget.retain).toBe(trainRows.length - s.forget.samples);
    expect(s.after.forget.loss).toBeGreaterThan(s.before.forget.loss);
    expect(s.report.gu.accepted).toBeGreaterThan(0);
    expect(hash(at('w.safetensors'))).toBe(before);
    expect(hash(at('gu.safetensors'))).not.toBe(before);
  });

  it('retrain with indices:F.npy (dataset rows of the training split) and the human summary', () => {
    writeNpy(at('F.npy'), trainRows.slice(0, 6));
    const r = runCli(['unlearn', 'retrain', ...COMMON, '--forget', 'indices:F.npy', '--out', 'rt.safetensors', '--epochs', '2'], dir);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/unlearn retrain: .*forget 6 listed samples \(F\.npy\) \(6 samples, 264 retained\)/);
    expect(r.stdout).toMatch(/weights → rt\.safetensors/);
    expect(existsSync(at('rt.safetensors'))).toBe(true);
  });

  it('an index of the validation split is refused by name', () => {
    const val = Int32Array.from({ length: N }, (_, i) => i).filter((i) => !trainRows.includes(i));
    writeNpy(at('V.npy'), Int32Array.of(trainRows[0]!, val[0]!));
    const r = runCli(['unlearn', 'ga', ...COMMON, '--forget', 'indices:V.npy', '--out', 'v.safetensors'], dir);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`index ${val[0]} (entry 1) is not a training sample`);
    expect(existsSync(at('v.safetensors'))).toBe(false);
  });

  const refusals: [string, string[], RegExp][] = [
    ['an unknown class', ['--forget', 'class:7'], /\[E_ARG\] --forget: class 7 does not exist: the labels are 0\.\.2/],
    ['everything', ['--forget', 'class:0,1,2'], /\[E_ARG\] --forget: the forget set is the whole training set/],
    ['an empty random set', ['--forget', 'random:0'], /\[E_ARG\] --forget: "random:0": the forget set would be empty/],
    ['an index out of range', ['--forget', 'indices:bad.npy'], /\[E_ARG\] bad\.npy: --forget: index 999 \(entry 1\) is outside the dataset \[0, 300\)/],
    ['an empty indices file', ['--forget', 'indices:empty.npy'], /\[E_ARG\] empty\.npy: --forget: the forget set is empty/],
    ['a missing indices file', ['--forget', 'indices:nope.npy'], /\[E_FILE\] nope\.npy/],
    ['--out = --weights', ['--forget', 'class:1', '--out', 'w.safetensors'], /\[E_ARG\] w\.safetensors: --out: is the input --weights; riverbed never overwrites an input/],
    ['--out = --weights by another spelling', ['--forget', 'class:1', '--out', join(dir, 'w.safetensors')], /is the input --weights/],
    ['--out = a symlink to --weights', ['--forget', 'class:1', '--out', 'link.safetensors'], /is the input --weights/],
    ['a basis of 33', ['--forget', 'class:1', '--k', '33'], /\[E_ARG\] --k: expected an integer in 1\.\.32, got 33/],
    ['an unknown scope', ['--forget', 'class:1', '--scope', 'row'], /\[E_ARG\] --scope: expected layer or global, got "row"/],
    ['a model of another shape', ['--forget', 'class:1', '--model', 'm4.json'], /\[E_MODEL\] m4\.json: layers\[0\]\.in: the model takes 4 inputs but the data have 6 features/],
    ['weights of another shape', ['--forget', 'class:1', '--weights', 'w5.safetensors'], /\[E_MODEL\] w5\.safetensors: 0\.weight: has shape \[8, 5\]; expected \[8, 6\]/],
  ];
  it.each(refusals)('%s: one line, exit 2, nothing written, the weights intact', (_name, args, want) => {
    writeNpy(at('bad.npy'), Int32Array.of(3, 999));
    writeNpy(at('empty.npy'), new Int32Array(0));
    if (!existsSync(at('link.safetensors'))) symlinkSync(at('w.safetensors'), at('link.safetensors'));
    writeFileSync(at('w5.safetensors'), encodeSafetensors([
      { name: '0.weight', shape: [8, 5], data: new Float32Array(40) }, { name: '0.bias', shape: [8], data: new Float32Array(8) },
      { name: '2.weight', shape: [3, 8], data: new Float32Array(24) }, { name: '2.bias', shape: [3], data: new Float32Array(3) },
    ]));
    writeFileSync(at('m4.json'), JSON.stringify({ format: 'riverbed.model', version: 1, layers: [{ type: 'linear', in: 4, out: 3 }], loss: 'cross_entropy' }));
    const before = hash(at('w.safetensors'));
    const full = [...COMMON, ...args];
    if (!args.includes('--out')) full.push('--out', 'never.safetensors');
    // --model given twice: the last wins (commander), so m4.json replaces m.json
    const r = runCli(['unlearn', 'gu', ...full], dir);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(want);
    expect(existsSync(at('never.safetensors'))).toBe(false);
    expect(hash(at('w.safetensors'))).toBe(before);
  });
});

describe('riverbed unlearn evaluate', () => {
  it('writes the table, unlearning.json with the manifest, and the plot', () => {
    const r = runCli(['unlearn', 'evaluate', '--inputs', 'X.npy', '--labels', 'Y.npy', '--forget', 'class:2', '--methods', 'ga,gu,retrain', '--seeds', '2', '--epochs', '3', '--batch-size', '16', '--steps', '10', '--backend', 'js', '--out', 'ev'], dir);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/riverbed unlearn evaluate: X\.npy/);
    for (const m of ['original', 'ga', 'gu', 'retrain']) expect(r.stdout).toMatch(new RegExp(`^  ${m} `, 'm'));
    const j = JSON.parse(readFileSync(at('ev/unlearning.json'), 'utf8'));
    expect([j.format, j.version]).toEqual(['riverbed.unlearn-evaluation', 1]); // what riverbed report recognises
    expect(j.seeds).toEqual([0, 1]);
    expect(j.manifest.parameters.forget).toBe('class:2');
    expect(j.manifest.inputs.map((i: { path: string }) => i.path)).toEqual(['X.npy', 'Y.npy']);
    const retrain = j.rows.find((x: { method: string }) => x.method === 'retrain');
    expect(retrain.summary.klForget.mean).toBe(0);
    expect(retrain.summary.ua.mean).toBeGreaterThan(90); // class 2 never seen
    expect(readFileSync(at('ev/unlearning.svg'), 'utf8')).toMatch(/<svg/);
    expect(readFileSync(at('ev/unlearning.png')).subarray(1, 4).toString()).toBe('PNG');
  });

  it('an unknown method is one line and no directory', () => {
    const r = runCli(['unlearn', 'evaluate', '--inputs', 'X.npy', '--labels', 'Y.npy', '--forget', 'class:2', '--methods', 'ga,sgd', '--out', 'ev2'], dir);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/\[E_ARG\] --methods: unknown method "sgd"/);
    expect(existsSync(at('ev2'))).toBe(false);
  });
});

describe('riverbed audit', () => {
  it('reports the three states, the AUCs and per-sample scores, and writes the JSON with its manifest', () => {
    const r = runCli(['audit', '--model', 'm.json', '--weights', 'w.safetensors', '--inputs', 'X.npy', '--labels', 'Y.npy', '--forget', 'class:2', '--k', '8', '--eps', '0.5,1', '--per-state', '20', '--backend', 'js', '--out', 'audit.json'], dir);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^  forgotten\s+20 /m);
    expect(r.stdout).toMatch(/three states, one-vs-rest macro AUC \(5-fold CV\): single-point loss 0\.\d{3}, neighbourhood 0\.\d{3}/);
    const j = JSON.parse(readFileSync(at('audit.json'), 'utf8'));
    expect(j.groups.unseen.n).toBeGreaterThanOrEqual(5);
    expect(j.forgottenScores).toHaveLength(20);
    expect(j.manifest.parameters.eps).toEqual([0.5, 1]);
    expect(r.stdout).toMatch(/FGSM increase at each ε/);
    expect(r.stdout).toMatch(/two groups, 5-fold CV logistic AUC \(point \/ neighbourhood\): retained vs never seen 0\.\d{3} \/ 0\.\d{3}, forgotten vs never seen 0\.\d{3} \/ 0\.\d{3}/);
    for (const k of ['retainedVsUnseen', 'forgottenVsUnseen']) for (const w of ['point', 'neighbourhood']) expect(j.pairs[k][w]).toBeGreaterThanOrEqual(0);
    for (const s of ['retained', 'forgotten', 'unseen']) expect(j.groups[s].fgsmIncrease).toHaveLength(2);
    for (const k of ['retainedVsUnseen', 'forgottenVsUnseen']) expect(j.direct[k].loss).toBeGreaterThanOrEqual(0);
  });

  const bad: [string, string[], RegExp][] = [
    ['radii that do not increase', ['--eps', '1,0.5'], /\[E_ARG\] --eps: radii must increase, got 1,0\.5/],
    ['a negative radius', ['--eps', '-1'], /\[E_ARG\] --eps: expected positive radii, got "-1"/],
    ['too few per state', ['--per-state', '3'], /\[E_ARG\] --per-state: /],
    ['a reference outside the held-out set', ['--reference-samples', 'ref.npy'], /\[E_ARG\] ref\.npy: --reference-samples: position 500 \(entry 5\) is outside the validation set \[0, 30\)/],
    ['--out = --weights', ['--out', 'w.safetensors'], /is the input --weights/],
  ];
  it.each(bad)('%s: one line, exit 2, nothing written', (_n, args, want) => {
    writeNpy(at('ref.npy'), Int32Array.of(0, 1, 2, 3, 4, 500));
    const before = hash(at('w.safetensors'));
    const full = ['audit', '--model', 'm.json', '--weights', 'w.safetensors', '--inputs', 'X.npy', '--labels', 'Y.npy', '--forget', 'class:2', '--backend', 'js', ...args];
    if (!args.includes('--out')) full.push('--out', 'never.json');
    const r = runCli(full, dir);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(want);
    expect(existsSync(at('never.json'))).toBe(false);
    expect(hash(at('w.safetensors'))).toBe(before);
  });
});
