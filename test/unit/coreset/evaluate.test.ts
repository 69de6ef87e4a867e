/**
 * The evaluation harness on a tiny synthetic dataset (Gaussian blobs, js backend): determinism,
 * the budget rule, transfer, and an independent sanity truth — a "method" that takes its whole
 * budget from one class must score worse than random (it can only ever predict that class).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JsBackend } from '../../../src/backends/js/index.js';
import type { Backend } from '../../../src/backends/backend.js';
import { type EvalData, type EvalMethod, type EvaluateOptions, evaluateCoresets, repeatRows, retrainSteps, validateEvaluateOptions } from '../../../src/coreset/evaluate.js';
import type { Dataset } from '../../../src/data/dataset.js';
import { RiverbedError } from '../../../src/errors.js';
import { mlpDescription } from '../../../src/model/description.js';
import { Rng } from '../../../src/model/rng.js';

const C = 4;
const D = 8;

function blobs(n: number, seed: number, name: string): Dataset {
  const rng = Rng.derive(seed, 'blobs');
  const centres = Array.from({ length: C }, (_, c) => Array.from({ length: D }, (_, d) => (d % C === c ? 2.5 : 0)));
  const inputs = new Float32Array(n * D);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % C;
    labels[i] = c;
    for (let d = 0; d < D; d++) {
      // Box–Muller
      const g = Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
      inputs[i * D + d] = centres[c]![d]! + g;
    }
  }
  return { name, inputs, features: D, labels, count: n, indices: Int32Array.from({ length: n }, (_, i) => i) };
}

const data: EvalData = { name: 'blobs', train: blobs(400, 1, 'train'), val: blobs(80, 2, 'val'), test: blobs(400, 3, 'test'), numClasses: C };
const model = mlpDescription(D, [16], C, 'relu');

/** Takes the whole budget from class 0 (ignores the per-class budget on purpose). */
const oneClass: EvalMethod = {
  name: 'one-class',
  description: 'everything from class 0',
  select: async (ctx) => {
    const k = ctx.perClass.reduce((a, b) => a + b, 0);
    const rows: number[] = [];
    for (let i = 0; i < ctx.run.samples && rows.length < k; i++) if (ctx.run.trainLabels[i] === 0) rows.push(i);
    return Int32Array.from(rows);
  },
};

let backend: Backend;
beforeAll(() => {
  backend = new JsBackend();
});
afterAll(() => backend.dispose());

function opts(o: Partial<EvaluateOptions> = {}): EvaluateOptions {
  return { methods: ['random', 'cld', 'one-class'], fractions: [0.1, 0.2], seeds: [0, 1], epochs: 4, retrain: { epochs: 10 }, model, batchSize: 16, lr: 0.05, extraMethods: { 'one-class': oneClass }, backend, ...o };
}

describe('coreset evaluation harness', () => {
  it('one class only scores worse than random; same seeds give the same numbers', async () => {
    const a = await evaluateCoresets(data, opts());
    const cell = (m: string, f: number) => a.source.cells.find((c) => c.method === m && c.fraction === f)!;
    for (const f of [0.1, 0.2]) {
      const one = cell('one-class', f);
      const rnd = cell('random', f);
      // a model trained on one class predicts that class: accuracy = its share of the test set
      for (const acc of one.accuracy) expect(acc).toBeCloseTo(1 / C, 2);
      for (const acc of rnd.accuracy) expect(acc).toBeGreaterThan(0.8);
      expect(one.vsRandom!.mean).toBeLessThan(-0.4);
      expect(one.perClass).toEqual([rnd.size, 0, 0, 0]);
      expect(rnd.perClass).toEqual([rnd.size / C, rnd.size / C, rnd.size / C, rnd.size / C]);
    }
    expect(a.source.full.accuracy.every((x) => x > 0.85)).toBe(true);
    const b = await evaluateCoresets(data, opts());
    expect(b.source.cells.map((c) => c.accuracy)).toEqual(a.source.cells.map((c) => c.accuracy));
    expect(b.dataset.sha256).toBe(a.dataset.sha256);
    // mean ± sample std of the per-seed values
    const c = cell('cld', 0.2);
    const [x, y] = c.accuracy as [number, number];
    expect(c.summary.mean).toBeCloseTo((x + y) / 2, 12);
    expect(c.summary.std).toBeCloseTo(Math.abs(x - y) / Math.SQRT2, 12);
  });

  it('budget: the same steps for every method at a fraction (epochs rule), exactly S with --retrain-steps; transfer retrains the target model', async () => {
    const byEpochs = await evaluateCoresets(data, opts({ seeds: [0], methods: ['random', 'cld-bottom'] }));
    for (const f of [0.1, 0.2]) {
      const cells = byEpochs.source.cells.filter((c) => c.fraction === f);
      expect(new Set(cells.map((c) => c.steps)).size).toBe(1);
      expect(cells[0]!.size).toBe(400 * f);
      expect(cells[0]!.steps).toBe(Math.ceil((400 * f) / 16) * 10);
    }
    const target = mlpDescription(D, [8, 8], C, 'relu');
    const bySteps = await evaluateCoresets(data, opts({ seeds: [0], methods: ['random', 'cld'], retrain: { steps: 7 }, transferModel: target }));
    expect(bySteps.source.cells.every((c) => c.steps === 7)).toBe(true);
    expect(bySteps.transfer!.model).toEqual(target);
    expect(bySteps.transfer!.cells.map((c) => c.method)).toEqual(bySteps.source.cells.map((c) => c.method));
    expect(bySteps.transfer!.full.accuracy.length).toBe(1);
    // different architecture ⇒ different numbers (same coresets)
    expect(bySteps.transfer!.cells.map((c) => c.accuracy[0])).not.toEqual(bySteps.source.cells.map((c) => c.accuracy[0]));
  });

  it('repeatRows: every row ⌊L/k⌋ or ⌈L/k⌉ times', () => {
    const rows = Int32Array.from([5, 9, 11]);
    const out = repeatRows(rows, 20, new Rng(1));
    expect(out.length).toBe(20);
    const count = new Map<number, number>();
    for (const r of out) count.set(r, (count.get(r) ?? 0) + 1);
    expect([...count.keys()].sort((a, b) => a - b)).toEqual([5, 9, 11]);
    expect([...count.values()].sort()).toEqual([6, 7, 7]);
    expect(retrainSteps(100, { epochs: 3 }, 16)).toBe(21);
    expect(retrainSteps(100, { steps: 5 }, 16)).toBe(5);
  });

  it('bad options fail before any training', () => {
    const base = opts();
    const bad: Partial<EvaluateOptions>[] = [{ methods: ['cld', 'nope'] }, { methods: [] }, { methods: ['cld', 'cld'] }, { fractions: [0] }, { fractions: [1.5] }, { fractions: [] }, { seeds: [] }, { epochs: 1 }, { retrain: { steps: 0 } }, { retrain: { epochs: 1.5 } }];
    for (const b of bad) expect(() => validateEvaluateOptions({ ...base, ...b }), JSON.stringify(b)).toThrow(RiverbedError);
    expect(() => validateEvaluateOptions({ ...base, methods: ['nope'] })).toThrow(/unknown method "nope"/);
  });
});
