/**
 * Grids: a resumed grid equals an uninterrupted one bit for bit (stopped after its first chunk,
 * then run again with the same state directory); shards merged equal the whole grid; the slice of
 * a one-layer model (logits affine in the coordinates) equals the closed form in float64; a 1-D
 * slice along the top Hessian eigenvector near a trained minimum follows ½λα²; the line between a
 * model and itself has barrier 0.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { JsBackend } from '../../../src/backends/js/index.js';
import { mlpDescription } from '../../../src/model/description.js';
import { Mlp } from '../../../src/model/mlp.js';
import { barrier, lineCoefs, linspace } from '../../../src/landscape/connect.js';
import { gaussianDirection, normalizeDirection, type Weights } from '../../../src/landscape/directions.js';
import { evaluatePoints, uploadData } from '../../../src/landscape/evaluate.js';
import { gridCoefs, shardPoints } from '../../../src/landscape/grid.js';
import { decodePart, encodePart, makePart, mergeParts, type LandscapeHeader } from '../../../src/landscape/result.js';
import { pointsId, runPoints } from '../../../src/landscape/run.js';
import { hessianEigenvectors } from '../../../src/landscape/sources.js';
import { unflatten } from '../../../src/landscape/directions.js';
import { randomArray, randomInts } from '../../helpers/backends.js';

const tmp = mkdtempSync(join(tmpdir(), 'rb-grid-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const be = new JsBackend();
const desc = mlpDescription(5, [8], 3, 'tanh');
const N = 40;
const X = randomArray(N * 5, 1);
const Y = randomInts(N, 2, 3);

async function setup() {
  const model = Mlp.init(be, desc, 4);
  const base: Weights = new Map((await model.toHost()).map((t) => [t.name, t.data]));
  const dirs = [0, 1].map((k) => normalizeDirection(desc, gaussianDirection(desc, 7, k), base, 'filter', 'zero'));
  const data = uploadData(be, X, Y, N, 5, 16);
  const grid = { x: { min: -1, max: 1, points: 7 }, y: { min: -0.5, max: 0.5, points: 5 } };
  const coefs = gridCoefs(grid, 0, 35);
  const id = pointsId({ description: desc, base, dirs, inputs: X, labels: Y, points: grid });
  return { model, base, dirs, data, grid, coefs, id };
}

describe('resumable grids', () => {
  it('stopped after its first chunk and run again, a grid equals the uninterrupted one bit for bit', async () => {
    const s = await setup();
    const whole = await runPoints({ model: s.model, family: { base: s.base, dirs: s.dirs }, data: s.data, coefs: s.coefs, id: s.id, evaluate: { points: 4 } });
    expect(whole.complete).toBe(true);
    const state = join(tmp, 'state');
    const ac = new AbortController();
    const first = await runPoints({
      model: s.model, family: { base: s.base, dirs: s.dirs }, data: s.data, coefs: s.coefs, id: s.id, stateDir: state, evaluate: { points: 4 },
      signal: ac.signal, onProgress: (done) => { if (done >= 4) ac.abort(); },
    });
    expect(first.complete).toBe(false);
    const [sub] = readdirSync(state);
    expect(readdirSync(join(state, sub!))).toEqual(['points-0-4.f64']);
    let evaluated = 0;
    const second = await runPoints({ model: s.model, family: { base: s.base, dirs: s.dirs }, data: s.data, coefs: s.coefs, id: s.id, stateDir: state, evaluate: { points: 4 }, onProgress: (d) => (evaluated = d) });
    expect(second.complete).toBe(true);
    expect(second.resumed).toBe(4);
    expect(evaluated).toBe(35);
    expect([...second.loss]).toEqual([...whole.loss]);
    expect([...second.accuracy]).toEqual([...whole.accuracy]);
    expect(existsSync(state)).toBe(false); // a finished grid leaves no state behind
    // Another grid id never picks up these chunks: a different seed's direction gives another id.
    const other = pointsId({ description: desc, base: s.base, dirs: [s.dirs[1]!, s.dirs[0]!], inputs: X, labels: Y, points: s.grid });
    expect(other).not.toBe(s.id);
  });

  it('shards merged give the whole grid; parts of another grid, missing or edited parts are refused', async () => {
    const s = await setup();
    const whole = await runPoints({ model: s.model, family: { base: s.base, dirs: s.dirs }, data: s.data, coefs: s.coefs, id: s.id, evaluate: { points: 3 } });
    const header = { format: 'riverbed.landscape', version: 1, riverbed: 't', kind: 'slice', id: s.id, dims: 2, axes: { x: { label: 'a', values: [] } }, samples: N, backend: 'js' } as LandscapeHeader;
    const n = 4;
    const parts: Parameters<typeof mergeParts>[0][number][] = [];
    for (let i = n - 1; i >= 0; i--) {
      const range = shardPoints(35, i, n);
      const r = await runPoints({ model: s.model, family: { base: s.base, dirs: s.dirs }, data: s.data, coefs: s.coefs, id: s.id, range, evaluate: { points: 3 } });
      const part = makePart(header, { index: i, count: n }, 35, 'js kernel', r.loss, r.accuracy);
      parts.push({ part: decodePart(encodePart(part), `p${i}`), file: `p${i}` });
    }
    const m = mergeParts(parts);
    expect([...m.loss]).toEqual([...whole.loss]);
    expect([...m.accuracy]).toEqual([...whole.accuracy]);
    expect(() => mergeParts(parts.slice(1))).toThrow(/1 of 4 shards are missing \(3\)/);
    expect(() => mergeParts([...parts, parts[0]!])).toThrow(/given twice/);
    const foreign = { ...parts[0]!, part: { ...parts[0]!.part, id: 'f'.repeat(64), header: { ...header, id: 'f'.repeat(64) } } };
    expect(() => mergeParts([...parts.slice(1), foreign])).toThrow(/belongs to another grid/);
    const edited = JSON.parse(encodePart(parts[0]!.part));
    edited.loss[0] += 1e-9;
    expect(() => decodePart(JSON.stringify(edited), 'edited.json')).toThrow(/does not match its digest/);
  });
});

describe('closed forms', () => {
  it('a model without hidden layers: the 2-D slice equals the float64 closed form', async () => {
    const d = mlpDescription(5, [], 3);
    const model = Mlp.init(be, d, 5);
    const base: Weights = new Map((await model.toHost()).map((t) => [t.name, t.data]));
    const dirs = [0, 1].map((k) => normalizeDirection(d, gaussianDirection(d, 3, k), base, 'filter', 'copy'));
    const data = uploadData(be, X, Y, N, 5, 16);
    const grid = { x: { min: -2, max: 2, points: 5 }, y: { min: -1, max: 3, points: 4 } };
    const coefs = gridCoefs(grid, 0, 20);
    const r = await evaluatePoints(model, { base, dirs }, coefs, data, { points: 6 });
    // L(α, β) = mean_i logsumexp(z_i) − z_{i,y}, z_i = (W + αD₁ + βD₂) x_i + (b + αd₁ + βd₂), all in float64.
    for (let p = 0; p < 20; p++) {
      const [a, b] = [coefs[2 * p]!, coefs[2 * p + 1]!];
      let L = 0;
      let correct = 0;
      for (let i = 0; i < N; i++) {
        const z = [0, 1, 2].map((c) => {
          let s = base.get('0.bias')![c]! + a * dirs[0]!.get('0.bias')![c]! + b * dirs[1]!.get('0.bias')![c]!;
          for (let f = 0; f < 5; f++) s += (base.get('0.weight')![c * 5 + f]! + a * dirs[0]!.get('0.weight')![c * 5 + f]! + b * dirs[1]!.get('0.weight')![c * 5 + f]!) * X[i * 5 + f]!;
          return s;
        });
        const m = Math.max(...z);
        L += Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0)) + m - z[Y[i]!]!;
        if (z.indexOf(m) === Y[i]) correct++;
      }
      expect(r.loss[p]).toBeCloseTo(L / N, 5);
      expect(r.accuracy[p]).toBe(correct / N);
    }
    // The origin of the grid is the model's own loss (its forward, its softmax cross-entropy).
    const origin = await evaluatePoints(model, { base, dirs }, Float64Array.of(0, 0), data);
    const own = await be.read(model.perSampleLoss(be.upload(X, [N, 5]), be.uploadInt(Y, [N])));
    expect(origin.loss[0]).toBeCloseTo(own.reduce((s, v) => s + v, 0) / N, 6);
  });

  it('along the top Hessian eigenvector the 1-D slice near the point follows L₀ + gα + ½λα² (a quadratic to third order)', async () => {
    const model = Mlp.init(be, desc, 8);
    const base: Weights = new Map((await model.toHost()).map((t) => [t.name, t.data]));
    const eig = await hessianEigenvectors(model, { inputs: X, labels: Y, count: N, features: 5 }, 1, 0, 1e-6);
    const v = unflatten(desc, eig.vectors[0]!);
    const lam = eig.values[0]!;
    const data = uploadData(be, X, Y, N, 5, 64);
    const h = 1e-2;
    const alpha = [-2 * h, -h, 0, h, 2 * h];
    const r = await evaluatePoints(model, { base, dirs: [v] }, Float64Array.from(alpha), data);
    // The second difference of the slice is the curvature along v: vᵀHv = λ (unit v).
    const second = (r.loss[1]! - 2 * r.loss[2]! + r.loss[3]!) / (h * h);
    const second2 = (r.loss[0]! - 2 * r.loss[2]! + r.loss[4]!) / (4 * h * h);
    expect(second).toBeCloseTo(lam, 1);
    expect(Math.abs(second - lam) / lam).toBeLessThan(0.05);
    expect(Math.abs(second2 - lam) / lam).toBeLessThan(0.05);
  });
});

describe('interpolation', () => {
  it('the straight line between a model and itself has barrier 0 (every point the same loss)', async () => {
    const model = Mlp.init(be, desc, 9);
    const w: Weights = new Map((await model.toHost()).map((t) => [t.name, t.data]));
    const zero: Weights = new Map([...w].map(([k, v]) => [k, new Float32Array(v.length)]));
    const data = uploadData(be, X, Y, N, 5);
    const alpha = linspace(0, 1, 31);
    expect(alpha).toHaveLength(31);
    expect(alpha[0]).toBe(0);
    expect(alpha[30]).toBe(1);
    const r = await evaluatePoints(model, { base: w, dirs: [zero] }, lineCoefs(alpha), data);
    expect(new Set(r.loss).size).toBe(1);
    expect(barrier(alpha, r.loss)!.value).toBe(0);
    expect(barrier([0, 0.5, 1], [1, 3, 2])).toEqual({ value: 1.5, at: 0.5, endpoints: [1, 2] });
  });
});
