/**
 * `riverbed schedule values|plot` and `riverbed train --schedule …` through the built CLI:
 * values against closed forms written here, the drawn curve against the values, bad input as
 * one-line errors with nothing written.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeNpy } from '../../src/io/npy.js';
import { Rng } from '../../src/model/rng.js';
import { type CliResult, requireBuiltCli, runCli } from './cli.js';

let dir: string;
beforeAll(() => {
  requireBuiltCli();
  dir = mkdtempSync(join(tmpdir(), 'riverbed-e2e-schedule-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (...args: string[]) => runCli(args, dir);
const lrOf = (r: CliResult): number[] => {
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout).lr;
};

function expectClose(got: number[], want: number[]): void {
  expect(got).toHaveLength(want.length);
  got.forEach((g, t) => expect(Math.abs(g - want[t]!), `step ${t}: ${g} vs ${want[t]}`).toBeLessThan(1e-12 * Math.max(1, Math.abs(want[t]!))));
}

function expectCleanFailure(r: CliResult, flag: string, ...parts: (string | RegExp)[]): void {
  expect(r.status, r.stderr + r.stdout).toBe(2);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^riverbed: error \[E_ARG\] /);
  expect(lines[0]).toContain(`${flag}:`);
  for (const p of parts) expect(lines[0]).toMatch(p);
  expect(r.stdout).toBe('');
}

const T = (n: number) => Array.from({ length: n }, (_, t) => t);

describe('riverbed schedule values', () => {
  it('--json prints {"lr": [T numbers]} equal to the closed forms', () => {
    // wsd: warm-up 4, decay over the last round(0.3·40) = 12 steps, 1-sqrt to 0.1·lr.
    expectClose(
      lrOf(run('schedule', 'values', 'wsd', '--steps', '40', '--lr', '0.2', '--warmup', '4', '--decay-fraction', '0.3', '--decay-shape', '1-sqrt', '--min-lr-ratio', '0.1', '--json')),
      T(40).map((t) => (t < 4 ? (0.2 * (t + 1)) / 4 : t < 28 ? 0.2 : 0.2 * (0.1 + 0.9 * (1 - Math.sqrt((t - 28) / 12))))),
    );
    // wsd-s: decays of round(0.1·50) = 5 steps ending at 25 and 50, exponential to 0.01.
    expectClose(
      lrOf(run('schedule', 'values', 'wsd-s', '--steps', '50', '--decay-points', '0.5,1', '--decay-shape', 'exp', '--min-lr-ratio', '0.01', '--json')),
      T(50).map((t) => (t >= 20 && t < 25 ? 0.01 ** ((t - 20) / 5) : t >= 45 ? 0.01 ** ((t - 45) / 5) : 1)),
    );
    expectClose(lrOf(run('schedule', 'values', 'rex', '--steps', '10', '--beta', '0.5', '--json')), T(10).map((t) => (1 - t / 10) / (1 - (0.5 * t) / 10 / 2)));
    expectClose(
      lrOf(run('schedule', 'values', 'infinite', '--steps', '60', '--warmup', '3', '--cooldown-fraction', '0.2', '--constant-ratio', '0.3', '--decay-fraction', '0.25', '--min-lr-ratio', '0.03', '--json')),
      T(60).map((t) => (t < 3 ? (t + 1) / 3 : t < 15 ? 0.3 + 0.35 * (1 + Math.cos((Math.PI * (t - 3)) / 12)) : t < 45 ? 0.3 : 0.3 * 0.1 ** ((t - 45) / 15))),
    );
    expectClose(lrOf(run('schedule', 'values', 'cyclic', '--steps', '9', '--half-cycle', '2', '--min-lr-ratio', '0', '--json')), [0, 0.5, 1, 0.5, 0, 0.5, 1, 0.5, 0]);
    expectClose(lrOf(run('schedule', 'values', 'inverse-sqrt', '--steps', '12', '--warmup', '3', '--json')), T(12).map((t) => (t < 3 ? (t + 1) / 3 : Math.sqrt(3 / t))));
    expectClose(lrOf(run('schedule', 'values', 'cosine', '--steps', '1', '--json')), [1]);
  });

  it('without --json: the parameters with their defaults, the phases, a table and the range', () => {
    const r = run('schedule', 'values', 'wsd', '--steps', '100', '--lr', '0.1', '--warmup', '10');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('wsd schedule: T = 100 steps (t = 0 … 99), lr 0.1, --warmup 10 --min-lr-ratio 0 --decay-fraction 0.1 --decay-shape linear');
    expect(r.stdout).toContain('phases      warmup 0–9, stable 10–89, decay 90–99');
    // Step 94 is 4 steps into the 10-step decay: 0.1·(1 − 4/10); the last step is 0.1·(1 − 9/10).
    expect(r.stdout).toMatch(/\n\s+94\s+0\.06\n/);
    expect(r.stdout).toContain('min 0.01 at step 99, max 0.1 at step 9, mean 0.091');
  });
});

describe('riverbed schedule plot', () => {
  it('writes a PNG and an SVG whose line is the schedule', () => {
    const png = join(dir, 'wsd.png');
    const r = run('schedule', 'plot', 'wsd', '--steps', '200', '--warmup', '20', '--decay-fraction', '0.2', '--decay-shape', 'cosine', '--out', png);
    expect(r.status, r.stderr).toBe(0);
    const bytes = readFileSync(png);
    expect(bytes.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(bytes.length).toBeGreaterThan(20_000); // axes, labels and a curve at 2×; an empty chart is far smaller

    const svgPath = join(dir, 'wsd-s.svg');
    const args = ['wsd-s', '--steps', '120', '--decay-points', '0.4,0.8', '--decay-fraction', '0.15', '--min-lr-ratio', '0.2'];
    expect(run('schedule', 'plot', ...args, '--out', svgPath).status).toBe(0);
    const lr = lrOf(run('schedule', 'values', ...args, '--json'));
    const svg = readFileSync(svgPath, 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    // The one line with a vertex per step: its pixel y must be an exact affine image of the rate.
    const line = [...svg.matchAll(/<path[^>]* d="(M[^"]*)"/g)].map((m) => m[1]!).find((d) => (d.match(/L/g) ?? []).length === 119);
    expect(line, 'a path with 120 vertices').toBeDefined();
    const ys = line!.slice(1).split('L').map((p) => Number(p.split(',')[1]));
    const n = ys.length;
    const mx = lr.reduce((a, b) => a + b) / n;
    const my = ys.reduce((a, b) => a + b) / n;
    const b = lr.reduce((s, x, i) => s + (x - mx) * (ys[i]! - my), 0) / lr.reduce((s, x) => s + (x - mx) ** 2, 0);
    expect(b).toBeLessThan(0); // higher rate, higher on the page
    for (let i = 0; i < n; i++) expect(Math.abs(ys[i]! - (my + b * (lr[i]! - mx)))).toBeLessThan(0.01);
  });
});

describe('bad input: one line naming the option, exit 2, nothing written', () => {
  const cases: [string[], string, RegExp?][] = [
    [['wsd', '--steps', '10', '--lr', '-0.1'], '--lr'],
    [['wsd', '--steps', '10', '--lr', 'NaN'], '--lr'],
    [['wsd', '--steps', '0'], '--steps'],
    [['wsd'], '--steps', /required/],
    [['wsd', '--steps', '10', '--decay-fraction', '1.5'], '--decay-fraction', /\[0, 1\]/],
    [['wsd', '--steps', '10', '--decay-fraction', '-0.1'], '--decay-fraction'],
    [['wsd-s', '--steps', '10', '--decay-points', '0.6,0.3'], '--decay-points', /strictly increasing/],
    [['wsd-s', '--steps', '10', '--decay-points', '0.5,1.2'], '--decay-points', /\(0, 1\]/],
    [['wsd-s', '--steps', '10', '--decay-points', '0,1'], '--decay-points'],
    [['wsd-s', '--steps', '100'], '--decay-points', /needs/],
    [['wsd', '--steps', '10', '--decay-shape', 'exp'], '--min-lr-ratio', /exp decay shape/],
    [['wsd', '--steps', '10', '--decay-shape', 'exp', '--min-lr-ratio', '0'], '--min-lr-ratio'],
    [['wsd', '--steps', '10', '--decay-shape', 'sqrt'], '--decay-shape', /linear, cosine/],
    [['warmup-cosine', '--steps', '10'], 'NAME', /expected one of constant/],
    [['cosine', '--steps', '10', '--decay-fraction', '0.2'], '--decay-fraction', /does not apply/],
    [['wsd', '--steps', '10', '--warmup', '5', '--decay-fraction', '0.6'], '--warmup', /warm-up/],
    [['rex', '--steps', '10', '--beta', '3'], '--beta'],
  ];
  it('schedule values', () => {
    for (const [args, flag, re] of cases) expectCleanFailure(run('schedule', 'values', ...args, '--json'), flag, ...(re ? [re] : []));
  });
  it('schedule plot', () => {
    const out = join(dir, 'bad');
    mkdirSync(out);
    for (const [args, flag, re] of cases) expectCleanFailure(run('schedule', 'plot', ...args, '--out', join(out, 's.png')), flag, ...(re ? [re] : []));
    expectCleanFailure(run('schedule', 'plot', 'wsd', '--steps', '10', '--out', join(out, 's.jpg')), '--out', /\.png or \.svg/);
    expectCleanFailure(run('schedule', 'plot', 'wsd', '--steps', '10'), '--out', /required/);
    expect(readdirSync(out)).toEqual([]);
  });
});

describe('riverbed train --schedule', () => {
  let x: string;
  let y: string;
  beforeAll(() => {
    const r = new Rng(5);
    const n = 120;
    const xs = new Float32Array(n * 3);
    const ys = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      ys[i] = i % 3;
      for (let j = 0; j < 3; j++) xs[i * 3 + j] = (j === ys[i] ? 2 : 0) + r.uniform(-1, 1);
    }
    x = join(dir, 'x.npy');
    y = join(dir, 'y.npy');
    writeNpy(x, xs, [n, 3]);
    writeNpy(y, ys, [n], { dtype: 'i8' });
  });
  const train = (...extra: string[]) => run('train', '--inputs', x, '--labels', y, '--hidden', '6', '--epochs', '3', '--batch-size', '16', '--lr', '0.2', '--backend', 'js', '--json', ...extra);
  const loss = (r: CliResult) => {
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout).epochLoss as number[];
  };

  it('trains with each schedule; wsd with F = 1 is linear and F = 0 is constant, step for step', () => {
    const linear = loss(train('--schedule', 'linear'));
    expect(loss(train('--schedule', 'wsd', '--decay-fraction', '1'))).toEqual(linear);
    expect(loss(train('--schedule', 'wsd', '--decay-fraction', '0'))).toEqual(loss(train('--schedule', 'constant')));
    const wsd = train('--schedule', 'wsd', '--warmup', '3', '--decay-fraction', '0.4', '--decay-shape', 'cosine');
    expect(loss(wsd)).not.toEqual(linear);
    expect(JSON.parse(wsd.stdout).schedule).toEqual({ name: 'wsd', warmupSteps: 3, decayFraction: 0.4, decayShape: 'cosine', totalSteps: 3 * Math.ceil(108 / 16) });
    for (const s of [['wsd-s', '--decay-points', '0.5,1'], ['rex'], ['infinite'], ['cyclic'], ['inverse-sqrt', '--warmup', '2']]) {
      const l = loss(train('--schedule', ...s));
      expect(l).toHaveLength(3);
      expect(l.every(Number.isFinite)).toBe(true);
    }
  });

  it('bad schedule input fails before training and writes nothing', () => {
    const save = join(dir, 'never.safetensors');
    expectCleanFailure(train('--schedule', 'wsd', '--decay-fraction', '2', '--save', save), '--decay-fraction');
    expectCleanFailure(train('--schedule', 'wsd-s', '--decay-points', '1,0.5', '--save', save), '--decay-points');
    expectCleanFailure(train('--schedule', 'wsd', '--decay-shape', 'exp', '--save', save), '--min-lr-ratio');
    expectCleanFailure(train('--schedule', 'cosinus', '--save', save), '--schedule');
    expectCleanFailure(train('--lr', 'NaN', '--save', save), '--lr');
    // Needs T (3 epochs × 7 steps = 21): a 20-step warm-up into a decay of round(0.2·21) = 4 steps.
    expectCleanFailure(train('--schedule', 'wsd', '--warmup', '20', '--decay-fraction', '0.2', '--save', save), '--warmup', /of T = 21 steps/);
    expect(readdirSync(dir).filter((f) => f.startsWith('never'))).toEqual([]);
  });
});
