/**
 * Directions: Li et al.'s filter normalisation checked row by row against a hand computation
 * (2-D linear weights: per output row; 4-D conv weights: per output channel), layer and weight
 * normalisation, biases zeroed / copied, Gram–Schmidt orthogonalisation (cosine reported, norm
 * kept), direction files with wrong keys / shapes / NaN refused in one line.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { JsBackend } from '../../../src/backends/js/index.js';
import { RiverbedError } from '../../../src/errors.js';
import { writeSafetensors } from '../../../src/io/safetensors.js';
import type { ModelDescription } from '../../../src/model/description.js';
import { mlpDescription } from '../../../src/model/description.js';
import { Mlp } from '../../../src/model/mlp.js';
import { dotWeights, FILTER_EPS, gaussianDirection, normWeights, normalizeDirection, orthogonalize, type Weights } from '../../../src/landscape/directions.js';
import { makeDirections, parseDirs } from '../../../src/landscape/sources.js';

const dir = mkdtempSync(join(tmpdir(), 'rb-dirs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const clone = (w: Weights): Weights => new Map([...w].map(([k, v]) => [k, Float32Array.from(v)]));

describe('filter normalisation (Li et al.)', () => {
  it('every output row of a linear weight gets the norm of the weight row; biases zeroed or copied', () => {
    const d = mlpDescription(3, [2], 2);
    const weights: Weights = new Map([
      ['0.weight', Float32Array.of(3, 4, 0, 0, 0, 2)], // row norms 5 and 2
      ['0.bias', Float32Array.of(7, -7)],
      ['2.weight', Float32Array.of(1, 0, 0, 1)],
      ['2.bias', Float32Array.of(0.5, 0.25)],
    ]);
    const raw: Weights = new Map([
      ['0.weight', Float32Array.of(1, 2, 2, 0, 0, -4)], // row norms 3 and 4
      ['0.bias', Float32Array.of(9, 9)],
      ['2.weight', Float32Array.of(0, 2, 1, 1)],
      ['2.bias', Float32Array.of(9, 9)],
    ]);
    const z = normalizeDirection(d, clone(raw), weights, 'filter', 'zero');
    // By hand: row r ← row r · ‖w_r‖ / (‖d_r‖ + 1e-10)
    const f0 = 5 / (3 + FILTER_EPS);
    const f1 = 2 / (4 + FILTER_EPS);
    expect([...z.get('0.weight')!]).toEqual([1 * f0, 2 * f0, 2 * f0, 0, 0, -4 * f1].map(Math.fround));
    const g0 = 1 / (2 + FILTER_EPS);
    const g1 = 1 / (Math.SQRT2 + FILTER_EPS);
    expect([...z.get('2.weight')!]).toEqual([0, 2 * g0, 1 * g1, 1 * g1].map(Math.fround));
    expect([...z.get('0.bias')!]).toEqual([0, 0]);
    expect([...z.get('2.bias')!]).toEqual([0, 0]);
    const c = normalizeDirection(d, clone(raw), weights, 'filter', 'copy');
    expect([...c.get('0.bias')!]).toEqual([7, -7]);
    expect([...c.get('2.bias')!]).toEqual([0.5, 0.25]);
  });

  it('a conv weight [out, in, kh, kw] is normalised per output channel (dim 0)', () => {
    const d: ModelDescription = {
      format: 'riverbed.model', version: 1, input: [2, 3, 3], loss: 'cross_entropy',
      layers: [{ type: 'conv2d', in: 2, out: 3, kernel: [2, 2], stride: [1, 1], padding: [0, 0] }, { type: 'flatten' }, { type: 'linear', in: 12, out: 2 }],
    };
    const model = Mlp.init(new JsBackend(), d, 1);
    const w = new Map(model.params.map((p) => [p.name, Float32Array.from({ length: p.tensor.size }, (_, i) => Math.sin(i + 1))]));
    const g = normalizeDirection(d, gaussianDirection(d, 4, 0), w, 'filter', 'zero');
    const cw = w.get('0.weight')!;
    const cg = g.get('0.weight')!;
    const len = 2 * 2 * 2;
    for (let o = 0; o < 3; o++) {
      const nw = Math.hypot(...cw.subarray(o * len, (o + 1) * len));
      const ng = Math.hypot(...cg.subarray(o * len, (o + 1) * len));
      expect(ng).toBeCloseTo(nw, 5);
    }
    // Not per row of the flattened [out, in·kh·kw] view's sub-blocks: channel 0's two input planes together.
    const plane = Math.hypot(...cg.subarray(0, 4));
    expect(Math.abs(plane - Math.hypot(...cw.subarray(0, 4)))).toBeGreaterThan(1e-3);
    expect([...g.get('0.bias')!]).toEqual([0, 0, 0]);
  });

  it('layer and weight normalisation, and none', () => {
    const d = mlpDescription(2, [], 2);
    const w: Weights = new Map([['0.weight', Float32Array.of(1, 2, 3, 4)], ['0.bias', Float32Array.of(1, 1)]]);
    const r: Weights = new Map([['0.weight', Float32Array.of(1, 1, 1, 1)], ['0.bias', Float32Array.of(5, 5)]]);
    const l = normalizeDirection(d, clone(r), w, 'layer', 'zero').get('0.weight')!;
    const f = Math.sqrt(30) / 2;
    expect([...l]).toEqual([f, f, f, f].map(Math.fround));
    expect([...normalizeDirection(d, clone(r), w, 'weight', 'zero').get('0.weight')!]).toEqual([1, 2, 3, 4]);
    expect([...normalizeDirection(d, clone(r), w, 'none', 'keep').get('0.bias')!]).toEqual([5, 5]);
  });
});

describe('orthogonalisation', () => {
  it('makes the second direction orthogonal to the first, keeps its norm, reports the cosine before', () => {
    const a: Weights = new Map([['x', Float32Array.of(1, 0, 0)], ['y', Float32Array.of(0)]]);
    const b: Weights = new Map([['x', Float32Array.of(1, 1, 0)], ['y', Float32Array.of(0)]]);
    const { cosine } = orthogonalize(a, b);
    expect(cosine).toBeCloseTo(Math.SQRT1_2, 12);
    expect(dotWeights(a, b)).toBeCloseTo(0, 7);
    expect(normWeights(b)).toBeCloseTo(Math.SQRT2, 6);
    expect([...b.get('x')!].map((v) => +v.toFixed(6))).toEqual([0, 1.414214, 0]);
  });
  it('parallel or zero directions are refused', () => {
    const a: Weights = new Map([['x', Float32Array.of(1, 2)]]);
    expect(() => orthogonalize(a, new Map([['x', Float32Array.of(2, 4)]]))).toThrow(/parallel/);
    expect(() => orthogonalize(a, new Map([['x', Float32Array.of(0, 0)]]))).toThrow(/second direction is zero/);
  });
  it('two random filter-normalised directions of a model: orthogonal afterwards, cosine small before', async () => {
    const d = mlpDescription(20, [30], 5);
    const model = Mlp.init(new JsBackend(), d, 2);
    const base = new Map((await model.toHost()).map((t) => [t.name, t.data]));
    const { dirs, info } = await makeDirections({ model, base, sources: parseDirs('random', 2), seed: 3 });
    expect(Math.abs(info.cosine!)).toBeLessThan(0.2);
    expect(dotWeights(dirs[0]!, dirs[1]!) / (normWeights(dirs[0]!) * normWeights(dirs[1]!))).toBeLessThan(1e-6);
    expect(info.normalization).toEqual(['filter', 'filter']);
    expect(info.bias).toEqual(['zero', 'zero']);
  });
});

describe('direction sources', () => {
  const d = mlpDescription(4, [3], 2);
  const model = Mlp.init(new JsBackend(), d, 1);
  const baseP = model.toHost().then((t) => new Map(t.map((x) => [x.name, x.data])));
  const code = async (f: () => Promise<unknown>): Promise<string> => {
    try {
      await f();
      return 'ok';
    } catch (e) {
      expect(e).toBeInstanceOf(RiverbedError);
      expect((e as Error).message).not.toContain('\n');
      return `${(e as RiverbedError).code}: ${(e as Error).message}`;
    }
  };
  it('parses --dirs', () => {
    expect(parseDirs('random', 2)).toEqual([{ kind: 'random' }, { kind: 'random' }]);
    expect(parseDirs('hessian', 2)).toEqual([{ kind: 'hessian', rank: 0 }, { kind: 'hessian', rank: 1 }]);
    expect(parseDirs('model:b.safetensors,random', 2)).toEqual([{ kind: 'model', path: 'b.safetensors' }, { kind: 'random' }]);
    expect(() => parseDirs('model:b.safetensors', 2)).toThrow(/needs 2 directions/);
    expect(() => parseDirs('random,random', 1)).toThrow(/needs 1 direction/);
    expect(() => parseDirs('x.npy', 1)).toThrow(/not random, hessian/);
  });
  it('a direction file with other keys, other shapes or NaN is refused naming the tensor', async () => {
    const base = await baseP;
    const ok = [...base].map(([name, v]) => ({ name, shape: model.params.find((p) => p.name === name)!.shape, data: v }));
    const f1 = join(dir, 'extra.safetensors');
    await writeSafetensors(f1, [...ok, { name: '9.weight', shape: [1], data: Float32Array.of(1) }]);
    expect(await code(() => makeDirections({ model, base, sources: parseDirs(f1, 1), seed: 0 }))).toMatch(/E_MODEL: .*"9.weight" that the model does not/);
    const f2 = join(dir, 'shape.safetensors');
    await writeSafetensors(f2, ok.map((t) => (t.name === '0.weight' ? { ...t, shape: [4, 3], data: t.data } : t)));
    expect(await code(() => makeDirections({ model, base, sources: parseDirs(f2, 1), seed: 0 }))).toMatch(/E_MODEL: .*"0.weight" has shape \[4, 3\]; the model's is \[3, 4\]/);
    const f3 = join(dir, 'nan.safetensors');
    await writeSafetensors(f3, ok.map((t) => (t.name === '2.bias' ? { ...t, data: Float32Array.of(0, NaN) } : t)));
    expect(await code(() => makeDirections({ model, base, sources: parseDirs(f3, 1), seed: 0 }))).toMatch(/E_VALUE: .*"2.bias" element 1 is NaN/);
    const f4 = join(dir, 'missing.safetensors');
    await writeSafetensors(f4, ok.filter((t) => t.name !== '2.bias'));
    expect(await code(() => makeDirections({ model, base, sources: parseDirs(f4, 1), seed: 0 }))).toMatch(/E_MODEL: .*lacks tensor "2.bias"/);
  });
  it('model:W2 is W2 − W (no normalisation, biases kept); an identical model is a zero direction', async () => {
    const base = await baseP;
    const other = Mlp.init(new JsBackend(), d, 9);
    const f = join(dir, 'w2.safetensors');
    await other.save(f);
    const { dirs } = await makeDirections({ model, base, sources: parseDirs(`model:${f}`, 1), seed: 0 });
    const w2 = new Map((await other.toHost()).map((t) => [t.name, t.data]));
    for (const [name, v] of dirs[0]!) for (let i = 0; i < v.length; i++) expect(v[i]).toBe(Math.fround(w2.get(name)![i]! - base.get(name)![i]!));
    const same = join(dir, 'same.safetensors');
    await model.save(same);
    expect(await code(() => makeDirections({ model, base, sources: parseDirs(`model:${same}`, 1), seed: 0 }))).toMatch(/E_VALUE: --dirs: direction 1 .* is zero: the two models are identical/);
  });
});
