/**
 * `riverbed hessian` end to end through the built CLI, on an MLP with a few hundred parameters
 * whose dense Hessian is built here column by column from HVPs and diagonalised by the fixture's
 * own Jacobi solver (independent of the library's eigen-solvers).
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { JsBackend } from '../../src/backends/js/index.js';
import { writeNpy } from '../../src/io/npy.js';
import { loadModelDescription } from '../../src/model/description.js';
import { ggnVectorProduct, hessianVectorProduct } from '../../src/model/hvp.js';
import { Mlp } from '../../src/model/mlp.js';
import { requireBuiltCli, runCli } from './cli.js';
import { type Problem, jacobiEigenvalues, parameterCount, writeProblem } from './curvature-fixture.js';

const SIZES = [5, 12, 10, 4];
const P = parameterCount(SIZES); // 246
let dir: string;
let prob: Problem;
let H: Float64Array; // dense Hessian from HVPs
let eigH: number[]; // descending
let eigG: number[];
let eigBlock: number[];
const BLOCK = [12 * 5 + 12, 12 * 5 + 12 + 10 * 12 + 10]; // parameters of layer "2" (12→10): [72, 202)

async function denseFromProducts(kind: 'hessian' | 'ggn'): Promise<Float64Array> {
  const b = new JsBackend();
  const model = await Mlp.load(b, await loadModelDescription(prob.files.model), prob.files.weights);
  const x = b.upload(Float32Array.from(prob.x), [prob.spec.batch, SIZES[0]!]);
  const y = b.uploadInt(prob.y, [prob.spec.batch]);
  const M = new Float64Array(P * P);
  const e = new Float32Array(P);
  for (let j = 0; j < P; j++) {
    e.fill(0);
    e[j] = 1;
    const col = (kind === 'hessian' ? hessianVectorProduct : ggnVectorProduct)(model, x, y, b.upload(e, [P]));
    const c = await b.read(col);
    for (let i = 0; i < P; i++) M[i * P + j] = c[i]!;
  }
  for (let i = 0; i < P; i++) for (let j = 0; j < i; j++) M[i * P + j] = M[j * P + i] = 0.5 * (M[i * P + j]! + M[j * P + i]!);
  return M;
}

beforeAll(async () => {
  requireBuiltCli();
  dir = mkdtempSync(join(tmpdir(), 'riverbed-e2e-hessian-'));
  prob = await writeProblem(dir, { sizes: SIZES, act: 'tanh', batch: 30, seed: 11 });
  H = await denseFromProducts('hessian');
  eigH = jacobiEigenvalues(H, P);
  eigG = jacobiEigenvalues(await denseFromProducts('ggn'), P);
  const nb = BLOCK[1]! - BLOCK[0]!;
  const sub = new Float64Array(nb * nb);
  for (let i = 0; i < nb; i++) for (let j = 0; j < nb; j++) sub[i * nb + j] = H[(BLOCK[0]! + i) * P + BLOCK[0]! + j]!;
  eigBlock = jacobiEigenvalues(sub, nb);
}, 60_000);

const base = () => ['hessian', '--model', prob.files.model, '--weights', prob.files.weights, '--inputs', prob.files.inputs, '--labels', prob.files.labels];
const trace = () => {
  let t = 0;
  for (let i = 0; i < P; i++) t += H[i * P + i]!;
  return t;
};
const expectRel = (got: number[], want: number[], tol: number) => {
  expect(got).toHaveLength(want.length);
  got.forEach((g, i) => expect(Math.abs(g - want[i]!) / Math.abs(want[i]!), `eigenvalue ${i}: ${g} vs ${want[i]}`).toBeLessThan(tol));
};

function run(args: string[]): any {
  const r = runCli([...base(), ...args, '--json'], dir);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

describe('riverbed hessian', () => {
  it.each(['js', 'native'] as const)('--top-k 5 --bottom-k 3 on %s match the dense eigen-decomposition (1e-4 relative), with the LLA ratio', (backend) => {
    const out = join(dir, `report-${backend}.json`);
    const r = run(['--top-k', '5', '--bottom-k', '3', '--out', out, '--backend', backend]);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(r);
    expect(r).toMatchObject({ format: 'riverbed.hessian', version: 1, size: P, samples: 30, backend: { name: backend } });
    expect(r.parameters).toMatchObject({ kind: 'hessian', topK: 5, bottomK: 3, seed: 0 });
    expectRel(r.eigenvalues.slice(0, 5), eigH.slice(0, 5), 1e-4);
    expectRel(r.eigenvalues.slice(5), eigH.slice(-3), 1e-4);
    for (let i = 1; i < r.eigenvalues.length; i++) expect(r.eigenvalues[i]).toBeLessThanOrEqual(r.eigenvalues[i - 1]);
    expect(r.residuals).toHaveLength(8);
    for (const res of r.residuals) expect(res).toBeLessThan(1e-3 * eigH[0]!);
    expect(r.eigen.converged).toBe(true);
    expect(r.lla.ratio).toBeCloseTo(eigH.at(-1)! / eigH[0]!, 4);
    expect(r.hvps).toBe(r.eigen.matvecs);
    expect(r.hvps).toBeLessThan(P); // cheaper than building the matrix
  });

  it('defaults to the top 5 when nothing is asked; the same seed reproduces the report', () => {
    const a = run(['--backend', 'js']);
    expectRel(a.eigenvalues, eigH.slice(0, 5), 1e-4);
    const b = run(['--backend', 'js']);
    expect(b.eigenvalues).toEqual(a.eigenvalues);
    expect(b.hvps).toBe(a.hvps);
  });

  it('--trace: Hutch++ and Hutchinson intervals contain the exact trace; seeds change the probes', () => {
    const t = trace();
    const pp = run(['--trace', '--backend', 'js']).trace;
    expect(pp).toMatchObject({ method: 'hutch++', matvecs: 99, confidence: 0.95 });
    expect(pp.interval[0]).toBeLessThanOrEqual(t);
    expect(pp.interval[1]).toBeGreaterThanOrEqual(t);
    expect(Math.abs(pp.estimate - t)).toBeLessThan(0.1 * Math.abs(t) + 3 * pp.stderr);
    const hu = run(['--trace', '--trace-method', 'hutchinson', '--trace-matvecs', '60', '--seed', '3', '--confidence', '0.99', '--backend', 'js']).trace;
    expect(hu).toMatchObject({ method: 'hutchinson', matvecs: 60, confidence: 0.99 });
    expect(hu.interval[0]).toBeLessThanOrEqual(t);
    expect(hu.interval[1]).toBeGreaterThanOrEqual(t);
    const other = run(['--trace', '--trace-method', 'hutchinson', '--trace-matvecs', '60', '--seed', '4', '--backend', 'js']).trace;
    expect(other.estimate).not.toBe(hu.estimate);
  });

  it('--density: unit mass, nodes inside the spectrum, weights summing to 1 per probe, values re-derivable from the raw nodes/weights with σ as a standard deviation', () => {
    const r = run(['--density', '--density-probes', '3', '--density-steps', '40', '--grid-points', '400', '--backend', 'js']);
    const d = r.density;
    expect(d).toMatchObject({ probes: 3, steps: 40 });
    expect(d.grid).toHaveLength(400);
    expect(d.values).toHaveLength(400);
    expect(d.mass).toBeCloseTo(1, 3);
    expect(d.nodes).toHaveLength(3);
    const [lo, hi] = [eigH.at(-1)!, eigH[0]!];
    for (let p = 0; p < 3; p++) {
      expect(d.weights[p].reduce((a: number, w: number) => a + w, 0)).toBeCloseTo(1, 6);
      for (const θ of d.nodes[p]) {
        expect(θ).toBeGreaterThanOrEqual(lo - 1e-4 * hi);
        expect(θ).toBeLessThanOrEqual(hi * (1 + 1e-4));
      }
      // 40 Lanczos steps find the extreme eigenvalue to high accuracy.
      expect(Math.max(...d.nodes[p])).toBeCloseTo(hi, 4);
    }
    for (const i of [0, 123, 200, 399]) {
      const t = d.grid[i];
      let s = 0;
      for (let p = 0; p < 3; p++) {
        d.nodes[p].forEach((θ: number, k: number) => (s += (d.weights[p][k] * Math.exp(-((t - θ) ** 2) / (2 * d.sigma ** 2))) / (d.sigma * Math.sqrt(2 * Math.PI))));
      }
      expect(d.values[i]).toBeCloseTo(s / 3, 8);
    }
    // trace / P is the spectrum's mean; the SLQ mean estimates it (3 probes: loosely).
    expect(Math.abs(d.mean * P - trace())).toBeLessThan(0.5 * Math.abs(trace()) + 1);
    expect(r.hvps).toBe(d.matvecs);
  });

  it('--layer gives the eigenvalues of that diagonal block; --ggn those of the Gauss–Newton matrix', () => {
    const blk = run(['--layer', '2', '--top-k', '3', '--bottom-k', '1', '--backend', 'js']);
    expect(blk.size).toBe(BLOCK[1]! - BLOCK[0]!);
    expect(blk.parameters.layer).toEqual([2]);
    expectRel(blk.eigenvalues.slice(0, 3), eigBlock.slice(0, 3), 1e-4);
    expectRel(blk.eigenvalues.slice(3), eigBlock.slice(-1), 1e-3);
    const g = run(['--ggn', '--top-k', '4', '--backend', 'js']);
    expect(g.parameters.kind).toBe('ggn');
    expectRel(g.eigenvalues, eigG.slice(0, 4), 1e-4);
  });

  it('--plot writes the density as PNG and SVG next to the report (and implies --density)', () => {
    const out = join(dir, 'plotted.json');
    const base2 = join(dir, 'spectrum');
    const r = runCli([...base(), '--top-k', '2', '--out', out, '--plot', base2, '--backend', 'js'], dir);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('top 2:');
    expect(r.stdout).toContain('spectrum.png');
    const rep = JSON.parse(readFileSync(out, 'utf8'));
    expect(rep.plot).toEqual({ svg: `${base2}.svg`, png: `${base2}.png` });
    expect(rep.density.values.length).toBe(1000);
    const png = readFileSync(`${base2}.png`);
    expect([...png.subarray(0, 4)]).toEqual([0x89, 0x50, 0x4e, 0x47]);
    const svg = readFileSync(`${base2}.svg`, 'utf8');
    expect(svg).toContain('Hessian spectral density');
    expect(svg).toContain('>eigenvalue<');
  });

  it('--error-bars: rows per size; the full-size row of a deterministic estimate barely moves; the recommendation follows --stable-spread', () => {
    const eig = run(['--top-k', '3', '--error-bars', '10,30', '--repeats', '3', '--stable-spread', '1e9', '--backend', 'js']);
    const eb = eig.errorBars;
    expect(eb).toMatchObject({ components: ['top 1', 'top 2', 'top 3'], repeats: 3, threshold: 1e9, recommendedSize: 10 });
    expect(eb.rows.map((r: any) => r.size)).toEqual([10, 30]);
    const [small, full] = eb.rows;
    // All 30 samples with three Lanczos start vectors: the same operator, the same top 3 (to the tolerance), the dense truth.
    expect(full.relativeSpread).toBeLessThan(1e-4);
    expectRel(full.mean, eigH.slice(0, 3), 1e-4);
    for (let c = 0; c < 3; c++) expect(full.min[c]).toBeLessThanOrEqual(full.max[c]);
    // 10 of 30 samples: different Hessians, a real spread.
    expect(small.relativeSpread).toBeGreaterThan(1e-3);
    for (let c = 0; c < 3; c++) {
      expect(small.min[c]).toBeLessThanOrEqual(small.mean[c]);
      expect(small.max[c]).toBeGreaterThanOrEqual(small.mean[c]);
    }
    expect(eig.hvps).toBe(eig.eigen.matvecs + eb.hvps);

    // A stochastic trace never repeats exactly: no size meets a threshold of 1e-12; the summary says so.
    const out = join(dir, 'bars.json');
    const r = runCli([...base(), '--top-k', '2', '--trace', '--trace-matvecs', '30', '--error-bars', '10,30', '--repeats', '3', '--stable-spread', '1e-12', '--out', out, '--backend', 'js'], dir);
    expect(r.status, r.stderr).toBe(0);
    const tr = JSON.parse(readFileSync(out, 'utf8')).errorBars;
    expect(tr.components).toEqual(['top 1', 'top 2', 'trace']);
    expect(tr.recommendedSize).toBeNull();
    expect(tr.rows[1].std[2]).toBeGreaterThan(0);
    expect(tr.rows[1].std[0] / tr.rows[1].mean[0]).toBeLessThan(1e-4);
    expect(r.stdout).toMatch(/^ {2}n = 10: λmax \S+ ± \S+, trace \S+ ± \S+, relative spread \S+ %$/m);
    expect(r.stdout).toMatch(/^ {2}n = 30: λmax /m);
    expect(r.stdout).toContain('not stable at any size tried (spread ≤ 1e-10 %): use more samples');
  });

  describe('bad input: one line, exit 2, no report and no plot', () => {
    const cases: [string, () => { args: string[]; code: string; text: RegExp }][] = [
      ['labels out of range', () => {
        const p = join(dir, 'y-bad.npy');
        const y = Int32Array.from(prob.y);
        y[2] = 9;
        writeNpy(p, y, [y.length], { dtype: 'i8' });
        const a = base();
        a[a.indexOf('--labels') + 1] = p;
        return { args: a, code: 'E_LABEL', text: /y-bad\.npy: labels\[2\] is 9/ };
      }],
      ['inputs with the wrong width', () => {
        const p = join(dir, 'x-narrow.npy');
        writeNpy(p, new Float32Array(30 * 4), [30, 4]);
        const a = base();
        a[a.indexOf('--inputs') + 1] = p;
        return { args: a, code: 'E_SHAPE', text: /x-narrow\.npy: shape\[1\]: inputs have 4 features/ };
      }],
      ['--top-k larger than the operator', () => ({ args: [...base(), '--top-k', String(P + 1)], code: 'E_ARG', text: /--top-k: --top-k 247 \+ --bottom-k 0 exceeds the 246 parameters/ })],
      ['an unknown trace method', () => ({ args: [...base(), '--trace', '--trace-method', 'exact'], code: 'E_ARG', text: /--trace-method: expected hutch\+\+ or hutchinson/ })],
      ['a non-linear --layer', () => ({ args: [...base(), '--layer', '3'], code: 'E_ARG', text: /"3" is not a linear layer/ })],
      ['--repeats 1', () => ({ args: [...base(), '--error-bars', '--repeats', '1'], code: 'E_ARG', text: /--repeats: expected an integer ≥ 2, got "1"/ })],
      ['a subsample larger than the data', () => ({ args: [...base(), '--top-k', '2', '--error-bars', '10,31'], code: 'E_ARG', text: /--error-bars: .*integers in \[1, 30\].*"10,31"/ })],
      ['--error-bars with only a density (nothing to repeat)', () => ({ args: [...base(), '--error-bars'], code: 'E_ARG', text: /--error-bars: error bars repeat the eigenvalues and the trace/ })],
      ['--stable-spread 0', () => ({ args: [...base(), '--error-bars', '--stable-spread', '0'], code: 'E_ARG', text: /--stable-spread: expected a positive number/ })],
    ];
    it.each(cases)('%s', (_name, make) => {
      const c = make();
      const out = join(dir, 'never.json');
      const plot = join(dir, 'never-plot');
      const before = readdirSync(dir).length;
      const r = runCli([...c.args, '--out', out, '--plot', plot, '--backend', 'js'], dir);
      expect(r.status, r.stderr).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toContain(`[${c.code}]`);
      expect(lines[0]).toMatch(c.text);
      for (const f of [out, `${plot}.png`, `${plot}.svg`]) expect(existsSync(f)).toBe(false);
      expect(readdirSync(dir).length).toBe(before);
    });

    it('no --out and no --json', () => {
      const r = runCli([...base(), '--backend', 'js'], dir);
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain('--out');
    });
  });
});
