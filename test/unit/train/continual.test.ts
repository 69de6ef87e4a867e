/**
 * Continual learning: the summary measures against hand computations, task parsing, pixel
 * permutations, and a small run whose accuracy matrix is checked against an independent evaluation.
 */
import { describe, expect, it } from 'vitest';
import { JsBackend } from '../../../src/backends/js/index.js';
import type { Dataset } from '../../../src/data/dataset.js';
import { type ContinualTask, methodOptimizer, parseMethods, parseTasks, permutePixels, runContinual, summarizeAccuracy } from '../../../src/train/continual.js';
import { randomArray } from '../../helpers/backends.js';

describe('continual learning measures', () => {
  it('average final accuracy and forgetting (best earlier minus final) by hand', () => {
    const acc = [
      [0.9, 0.1, 0.2],
      [0.6, 0.8, 0.1],
      [0.7, 0.5, 0.9],
    ];
    const s = summarizeAccuracy(acc);
    expect(s.averageFinal).toBeCloseTo((0.7 + 0.5 + 0.9) / 3, 12);
    // task 1: best of 0.9, 0.6 minus 0.7 = 0.2; task 2: best of 0.8 minus 0.5 = 0.3 (its 0.1 before training does not count).
    expect(s.forgettingPerTask.map((v) => +v.toFixed(12))).toEqual([0.2, 0.3]);
    expect(s.forgetting).toBeCloseTo(0.25, 12);
    // A task that improves later has negative forgetting (backward transfer), reported as such.
    expect(summarizeAccuracy([[0.5, 0], [0.6, 0.9]]).forgettingPerTask[0]).toBeCloseTo(-0.1, 12);
    expect(() => summarizeAccuracy([[1, 2], [3]])).toThrow(/T×T/);
  });

  it('task and method lists', () => {
    expect(parseTasks('mnist,fashion-mnist')).toEqual({ kind: 'list', names: ['mnist', 'fashion-mnist'] });
    expect(parseTasks('permuted-mnist:5')).toEqual({ kind: 'permuted', count: 5 });
    expect(() => parseTasks('mnist')).toThrow(/at least 2 tasks/);
    expect(() => parseTasks('mnist,cifar10')).toThrow(/unknown task "cifar10"/);
    expect(() => parseTasks('permuted-mnist:1')).toThrow(/2\.\.100/);
    expect(parseMethods('classp,ewc')).toEqual(['classp', 'ewc']);
    expect(() => parseMethods('classp,lion')).toThrow(/unknown method "lion"/);
    expect(() => parseMethods('sgd,sgd')).toThrow(/twice/);
    expect(methodOptimizer('ewc', { hidden: [4], epochs: 1, batchSize: 4 })).toMatchObject({ name: 'sgd', momentum: 0, lr: 0.05 });
    expect(methodOptimizer('classp', { hidden: [4], epochs: 1, batchSize: 4, lr: { classp: 0.03 }, classp: { threshold: 0 } })).toMatchObject({ name: 'classp', lr: 0.03, threshold: 0, power: 1 });
  });

  it('permutePixels moves pixel perm[i] to position i in every row', () => {
    const ds: Dataset = { name: 'd', inputs: Float32Array.of(1, 2, 3, 10, 20, 30), features: 3, labels: Int32Array.of(0, 1), count: 2, indices: Int32Array.of(0, 1), shape: [1, 1, 3] };
    const p = permutePixels(ds, Int32Array.of(2, 0, 1), 'p');
    expect(Array.from(p.inputs)).toEqual([3, 1, 2, 30, 10, 20]);
    expect(p.shape).toBeUndefined();
    expect(Array.from(ds.inputs)).toEqual([1, 2, 3, 10, 20, 30]); // the source is untouched
  });
});

describe('runContinual', () => {
  it('the accuracy matrix is each task’s test accuracy after each task; plain SGD forgets a conflicting task; CLASSP reports its moved fraction', async () => {
    const b = new JsBackend();
    const D = 8;
    const make = (n: number, seed: number, flip: boolean): Dataset => {
      const inputs = randomArray(n * D, seed);
      const labels = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        labels[i] = i % 10;
        // class c lights up feature c mod D, with sign flipped in the second task: the tasks conflict
        inputs[i * D + (i % 10) % D] = inputs[i * D + (i % 10) % D]! + (flip ? -3 : 3);
        if (i % 10 >= D) inputs[i * D + 1] = inputs[i * D + 1]! + 2;
      }
      return { name: 'synthetic', inputs, features: D, labels, count: n, indices: Int32Array.from({ length: n }, (_, i) => i) };
    };
    const tasks: ContinualTask[] = [
      { name: 'a', train: make(400, 1, false), test: make(200, 2, false) },
      { name: 'b', train: make(400, 3, true), test: make(200, 4, true) },
    ];
    const seen: number[][] = [];
    const sgd = await runContinual(b, tasks, 'sgd', 0, { hidden: [16], epochs: 3, batchSize: 20, lr: { sgd: 0.1 }, onTask: (_i, row) => seen.push(row) });
    expect(sgd.accuracy).toEqual(seen);
    expect(sgd.accuracy[0]![0]).toBeGreaterThan(0.45); // learned task a (chance: 0.1)
    expect(sgd.accuracy[1]![1]).toBeGreaterThan(0.45); // then task b
    expect(sgd.forgetting).toBeGreaterThan(0.2); // and forgot a
    expect(sgd.averageFinal).toBeCloseTo((sgd.accuracy[1]![0]! + sgd.accuracy[1]![1]!) / 2, 12);
    expect(sgd.movedFraction).toBeUndefined();
    const classp = await runContinual(b, tasks, 'classp', 0, { hidden: [16], epochs: 1, batchSize: 20 });
    expect(classp.movedFraction).toHaveLength(2);
    for (const f of classp.movedFraction!) expect(f > 0 && f <= 1).toBe(true);
    const ewc = await runContinual(b, tasks, 'ewc', 0, { hidden: [16], epochs: 3, batchSize: 20, lr: { ewc: 0.1 }, ewcLambda: 0 });
    // λ = 0: EWC is plain SGD, the same run bit for bit
    expect(ewc.accuracy).toEqual(sgd.accuracy);
  });
});
