/**
 * `riverbed landscape …` through the built CLI on a small MLP and .npy data:
 *  - slice: the result format ([ny][nx] loss/accuracy, axes, .npy files), --save-dirs read back
 *    with --dirs FILE give the same grid; the origin equals the model's own loss;
 *  - a slice killed mid-run (SIGKILL once a chunk is on disk) and run again equals an
 *    uninterrupted run; --shard i/n parts merged equal the whole grid;
 *  - interpolate between a model and itself: barrier 0; curve: 61 points, bend trained;
 *  - bad input → one stderr line, exit 2, nothing written.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readNpy, writeNpy } from '../../src/io/npy.js';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { JsBackend } from '../../src/backends/js/index.js';
import { mlpDescription } from '../../src/model/description.js';
import { Mlp } from '../../src/model/mlp.js';
import { CLI, requireBuiltCli, runCli, type CliResult } from './cli.js';

let dir: string;
const N = 60;
const desc = mlpDescription(6, [10], 3, 'tanh');

beforeAll(async () => {
  requireBuiltCli();
  dir = mkdtempSync(join(tmpdir(), 'riverbed-e2e-landscape-'));
  const x = Float32Array.from({ length: N * 6 }, (_, i) => Math.sin(i * 0.37) + 0.1 * Math.cos(i));
  const y = BigInt64Array.from({ length: N }, (_, i) => BigInt(i % 3));
  writeNpy(join(dir, 'x.npy'), x, [N, 6]);
  writeNpy(join(dir, 'y.npy'), y, [N]);
  const be = new JsBackend();
  await Mlp.init(be, desc, 1).save(join(dir, 'a.safetensors'));
  await Mlp.init(be, desc, 2).save(join(dir, 'b.safetensors'));
  await Mlp.init(be, mlpDescription(6, [11], 3, 'tanh'), 3).save(join(dir, 'wide.safetensors'));
  const nan = await Mlp.init(be, desc, 4).toHost();
  nan[1]!.data[2] = NaN;
  await writeSafetensors(join(dir, 'nan.safetensors'), nan);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (...args: string[]): CliResult => runCli(args, dir);
const data = ['--inputs', 'x.npy', '--labels', 'y.npy', '--backend', 'js'];
const json = (f: string) => JSON.parse(readFileSync(join(dir, f), 'utf8'));
const ok = (r: CliResult) => expect(r.status, r.stderr + r.stdout).toBe(0);

describe('riverbed landscape slice', () => {
  it('writes riverbed.landscape JSON with [ny][nx] arrays and .npy; saved directions reproduce the grid', async () => {
    ok(run('landscape', 'slice', '--weights', 'a.safetensors', ...data, '--grid', '5x4', '--range', '-1:1,-0.5:1', '--save-dirs', 'dx.safetensors,dy.safetensors', '--out', 's.json', '--plot', 's'));
    const r = json('s.json');
    expect(r.format).toBe('riverbed.landscape');
    expect(r.dims).toBe(2);
    expect(r.axes.x.values).toEqual([-1, -0.5, 0, 0.5, 1]);
    expect(r.axes.y.values).toEqual([-0.5, 0, 0.5, 1]);
    expect(r.loss).toHaveLength(4);
    expect(r.loss[0]).toHaveLength(5);
    expect(r.accuracy[3]).toHaveLength(5);
    expect(r.id).toMatch(/^[0-9a-f]{64}$/);
    const npy = await readNpy(join(dir, 's.loss.npy'));
    expect(npy.shape).toEqual([4, 5]);
    expect(Array.from(npy.data as Float64Array)).toEqual(r.loss.flat());
    expect(statSync(join(dir, 's.png')).size).toBeGreaterThan(10_000);
    expect(readFileSync(join(dir, 's.svg'), 'utf8')).toContain('<svg');
    // The origin is the model's own mean loss.
    const be = new JsBackend();
    const m = await Mlp.load(be, desc, join(dir, 'a.safetensors'));
    const x = await readNpy(join(dir, 'x.npy'));
    const own = await be.read(m.perSampleLoss(be.upload(x.data as Float32Array, [N, 6]), be.uploadInt(Int32Array.from({ length: N }, (_, i) => i % 3), [N])));
    expect(r.center.loss).toBeCloseTo(own.reduce((a, b) => a + b, 0) / N, 6);
    expect(Math.abs(r.directions.cosine)).toBeLessThan(1);
    // --dirs FILE,FILE with the saved (already normalised, orthogonal) directions: the same grid.
    ok(run('landscape', 'slice', '--weights', 'a.safetensors', ...data, '--grid', '5x4', '--range', '-1:1,-0.5:1', '--dirs', 'dx.safetensors,dy.safetensors', '--out', 's2.json'));
    const r2 = json('s2.json');
    r2.loss.flat().forEach((v: number, i: number) => expect(v).toBeCloseTo(r.loss.flat()[i], 6));
    // A direction file at α = 1 is the loss of the model w + d (the file's values as they are).
    ok(run('landscape', 'slice', '--weights', 'a.safetensors', ...data, '--grid', '3', '--dirs', 'dx.safetensors', '--out', 'file1d.json'));
    const { readSafetensors } = await import('../../src/io/safetensors.js');
    const w = (await readSafetensors(join(dir, 'a.safetensors'))).tensors;
    const d = (await readSafetensors(join(dir, 'dx.safetensors'))).tensors;
    const moved = new Map([...w].map(([k, t]) => [k, t.data.map((v, i) => v + d.get(k)!.data[i]!)]));
    const m1 = Mlp.fromHost(be, desc, moved);
    const l1 = await be.read(m1.perSampleLoss(be.upload(x.data as Float32Array, [N, 6]), be.uploadInt(Int32Array.from({ length: N }, (_, i) => i % 3), [N])));
    expect(json('file1d.json').loss[0][2]).toBeCloseTo(l1.reduce((a, b) => a + b, 0) / N, 6);
  });

  it('a 1-D slice: ny = 1, a curve picture', () => {
    ok(run('landscape', 'slice', '--weights', 'a.safetensors', ...data, '--grid', '9', '--out', 'one.json', '--plot', 'one'));
    const r = json('one.json');
    expect(r.dims).toBe(1);
    expect(r.loss).toHaveLength(1);
    expect(r.loss[0]).toHaveLength(9);
    expect(statSync(join(dir, 'one.png')).size).toBeGreaterThan(10_000);
  });

  it('killed mid-run and run again, the grid equals an uninterrupted run; shards merged equal it too', async () => {
    const args = ['landscape', 'slice', '--weights', 'a.safetensors', ...data, '--grid', '48x48', '--per-dispatch', '8', '--seed', '5'];
    ok(run(...args, '--out', 'whole.json'));
    const whole = json('whole.json');
    // Killed once a chunk is on disk.
    const child = spawn(process.execPath, [CLI, ...args, '--out', 'resumed.json'], { cwd: dir, stdio: 'ignore' });
    const state = join(dir, 'resumed.json.partial');
    const t0 = Date.now();
    for (;;) {
      const sub = existsSync(state) ? readdirSync(state) : [];
      if (sub.length > 0 && readdirSync(join(state, sub[0]!)).some((f) => f.endsWith('.f64'))) break;
      if (child.exitCode !== null || Date.now() - t0 > 60_000) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(existsSync(join(dir, 'resumed.json')), 'the run finished before it could be killed').toBe(false);
    const r = run(...args, '--out', 'resumed.json', '--json');
    ok(r);
    const resumed = json('resumed.json');
    expect(resumed.evaluation.resumedPoints).toBeGreaterThan(0);
    expect(resumed.loss).toEqual(whole.loss);
    expect(resumed.accuracy).toEqual(whole.accuracy);
    expect(existsSync(state)).toBe(false);
    // Three shards, merged in another order.
    for (const i of [2, 0, 1]) ok(run(...args, '--shard', `${i}/3`, '--out', `part${i}.json`));
    ok(run('landscape', 'merge', 'part1.json', 'part0.json', 'part2.json', '--out', 'merged.json', '--plot', 'merged'));
    const merged = json('merged.json');
    expect(merged.loss).toEqual(whole.loss);
    expect(merged.accuracy).toEqual(whole.accuracy);
    expect(merged.id).toBe(whole.id);
    const missing = run('landscape', 'merge', 'part1.json', 'part0.json', '--out', 'bad.json');
    expect(missing.stderr).toMatch(/1 of 3 shards are missing \(2\)/);
    expect(existsSync(join(dir, 'bad.json'))).toBe(false);
  }, 180_000);
});

describe('riverbed landscape interpolate | curve', () => {
  it('the line from a model to itself has barrier 0; two models a positive one; the curve has 61 points', () => {
    ok(run('landscape', 'interpolate', 'a.safetensors', 'a.safetensors', ...data, '--out', 'self.json'));
    const self = json('self.json');
    expect(self.axes.x.values).toHaveLength(31);
    expect(self.axes.x.values[0]).toBe(0);
    expect(self.axes.x.values[30]).toBe(1);
    expect(self.barrier.loss).toBe(0);
    ok(run('landscape', 'interpolate', 'a.safetensors', 'b.safetensors', ...data, '--out', 'ab.json', '--plot', 'ab'));
    const ab = json('ab.json');
    const l = ab.loss[0] as number[];
    expect(ab.barrier.loss).toBeCloseTo(Math.max(...l) - 0.5 * (l[0]! + l[30]!), 12);
    ok(run('landscape', 'curve', 'a.safetensors', 'b.safetensors', ...data, '--epochs', '2', '--curve-batch', '16', '--out', 'curve.json', '--save-bend', 'bend.safetensors'));
    const c = json('curve.json');
    expect(c.axes.x.values).toHaveLength(61);
    expect(c.line.loss).toHaveLength(61);
    expect(c.training.steps).toBe(8);
    expect(c.loss[0][0]).toBeCloseTo(c.line.loss[0], 9); // both start at A…
    expect(c.loss[0][60]).toBeCloseTo(c.line.loss[60], 9); // …and end at B
    expect(statSync(join(dir, 'bend.safetensors')).size).toBeGreaterThan(100);
  });
});

describe('bad input: one line, exit 2, nothing written', () => {
  const bad: [string, string[], RegExp][] = [
    ['a grid of 10^8 points', ['landscape', 'slice', '--weights', 'a.safetensors', ...data, '--grid', '10000x10000', '--out', 'o.json'], /E_ARG\] --grid: the grid has 100,000,000 points, more than --max-points 1,000,000: .* multiply-adds/],
    ['a grid of 0 points', ['landscape', 'slice', '--weights', 'a.safetensors', ...data, '--grid', '0x5', '--out', 'o.json'], /E_ARG\] --grid: expected points per axis/],
    ['a range with min ≥ max', ['landscape', 'slice', '--weights', 'a.safetensors', ...data, '--range', '1:-1', '--out', 'o.json'], /E_ARG\] --range: the range 1:-1 is empty/],
    ['a direction file of another model', ['landscape', 'slice', '--weights', 'a.safetensors', ...data, '--grid', '5', '--dirs', 'wide.safetensors', '--out', 'o.json'], /E_MODEL\] .*wide.safetensors.*"0.weight" has shape \[11, 6\]; the model's is \[10, 6\]/],
    ['NaN weights', ['landscape', 'slice', '--weights', 'nan.safetensors', '--model', 'm.json', ...data, '--out', 'o.json'], /E_VALUE\] .*nan.safetensors.*0.bias.*NaN/],
    ['interpolate between models of different shapes', ['landscape', 'interpolate', 'a.safetensors', 'wide.safetensors', ...data, '--out', 'o.json'], /E_MODEL\] .*wide.safetensors/],
    ['a part that is not a landscape part', ['landscape', 'merge', 'x.npy', '--out', 'o.json'], /E_FORMAT\] x.npy: json: does not parse/],
  ];
  it.each(bad)('%s', (_what, args, re) => {
    const before = readdirSync(dir).sort();
    if (args.includes('m.json')) writeModel();
    const r = run(...args);
    expect(r.status, r.stdout).not.toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(re);
    expect(readdirSync(dir).sort()).toEqual(args.includes('m.json') ? [...new Set([...before, 'm.json'])].sort() : before);
  });
});

function writeModel(): void {
  const f = join(dir, 'm.json');
  if (!existsSync(f)) writeFileSync(f, JSON.stringify(desc));
}

describe('riverbed train --checkpoints, then landscape trajectory', () => {
  it('saves epoch 0, every N-th and the last into DIR/checkpoints; the last equals --save; the trajectory projects them', async () => {
    ok(run('train', '--inputs', 'x.npy', '--labels', 'y.npy', '--hidden', '5', '--epochs', '5', '--batch-size', '8', '--backend', 'js', '--record', 'run', '--checkpoints', '2', '--save', 'final.safetensors'));
    const m = json('run/trajectory.json');
    expect(m.weightCheckpoints.files.map((f: { epoch: number }) => f.epoch)).toEqual([0, 2, 4, 5]);
    expect(readdirSync(join(dir, 'run', 'checkpoints')).sort()).toEqual(['epoch-0000.safetensors', 'epoch-0002.safetensors', 'epoch-0004.safetensors', 'epoch-0005.safetensors']);
    const { readSafetensors } = await import('../../src/io/safetensors.js');
    const last = await readSafetensors(join(dir, 'run', 'checkpoints', 'epoch-0005.safetensors'));
    const saved = await readSafetensors(join(dir, 'final.safetensors'));
    for (const [k, t] of saved.tensors) expect([...last.tensors.get(k)!.data]).toEqual([...t.data]);
    const first = await readSafetensors(join(dir, 'run', 'checkpoints', 'epoch-0000.safetensors'));
    expect([...first.tensors.get('0.weight')!.data]).not.toEqual([...last.tensors.get('0.weight')!.data]);
    ok(run('landscape', 'trajectory', 'run', ...data, '--grid', '7x6', '--out', 'traj.json', '--plot', 'traj'));
    const t = json('traj.json');
    expect(t.kind).toBe('trajectory');
    expect(t.path.epochs).toEqual([0, 2, 4, 5]);
    expect(t.path.x.at(-1)).toBe(0);
    expect(t.loss).toHaveLength(6);
    expect(t.directions.explained[0]).toBeGreaterThan(t.directions.explained[1]);
    ok(run('landscape', 'trajectory', 'run', ...data, '--grid', '5x5', '--valley', '--out', 'valley.json'));
    expect(json('valley.json').directions.eigenvalue).toBeGreaterThan(0);
  });
});
