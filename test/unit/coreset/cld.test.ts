/**
 * CLD scores and selections against an independent float64 implementation of the official
 * formula (test/helpers/cld_official.ts), on every backend; and the budget rules.
 */
import { describe, expect, it } from 'vitest';
import type { BackendName } from '../../../src/backends/backend.js';
import { type Budget, type CldInputs, cldCoreset, cldScores } from '../../../src/coreset/cld.js';
import { budgetPerClass, decimalFraction, selectPerClass } from '../../../src/coreset/select.js';
import { RiverbedError } from '../../../src/errors.js';
import { backendsUnderTest, rng } from '../../helpers/backends.js';
import { largestRemainder, officialCld } from '../../helpers/cld_official.js';

const NAMES = (process.env.RIVERBED_CLD_BACKENDS?.split(',') ?? ['js', 'native', 'webgpu']) as BackendName[];
const backends = await backendsUnderTest(NAMES);

interface CaseOptions {
  n: number;
  m: number;
  epochs: number;
  classes: number;
  f64?: boolean;
  seed: number;
}

/**
 * A random case with the awkward parts built in: zero-variance samples (constant loss, and
 * exactly linear loss), tied samples (copied trajectories), a class absent from validation, a
 * class whose validation loss is constant, a class present only in validation.
 */
function makeCase(o: CaseOptions): CldInputs & { absent: number; constantClass: number } {
  const r = rng(o.seed);
  const { n, m, epochs: E, classes: C } = o;
  const trainLabels = new Int32Array(n);
  for (let i = 0; i < n; i++) trainLabels[i] = i < C - 1 ? i : Math.floor(r() * (C - 1)); // class C−1: validation only
  const absent = 1;
  const constantClass = 2;
  const valLabels = new Int32Array(m);
  for (let j = 0; j < m; j++) {
    let y = j < C ? j : Math.floor(r() * C);
    if (y === absent) y = 0;
    valLabels[j] = y;
  }
  const Arr = o.f64 ? Float64Array : Float32Array;
  const train = new Arr(E * n);
  for (let i = 0; i < n; i++) {
    const base = 0.5 + 2 * r();
    const rate = 0.05 + 0.3 * r();
    const noise = 0.3 * r();
    for (let e = 0; e < E; e++) train[e * n + i] = base * Math.exp(-rate * e) + noise * (r() - 0.5);
  }
  // zero variance: constant loss; exactly linear loss (representable steps); ties: copies
  const setCol = (i: number, f: (e: number) => number) => {
    for (let e = 0; e < E; e++) train[e * n + i] = f(e);
  };
  setCol(C, () => 1.25);
  setCol(C + 1, (e) => 3 - 0.25 * e);
  trainLabels[C] = 0;
  trainLabels[C + 1] = 3;
  for (const [dst, src] of [
    [C + 2, C + 7],
    [C + 3, C + 7],
    [C + 9, C + 4],
  ]) {
    trainLabels[dst!] = trainLabels[src!]!;
    for (let e = 0; e < E; e++) train[e * n + dst!] = train[e * n + src!]!;
  }
  const val = new Arr(E * m);
  for (let j = 0; j < m; j++) {
    const base = 0.5 + 2 * r();
    const rate = 0.05 + 0.3 * r();
    for (let e = 0; e < E; e++) val[e * m + j] = valLabels[j] === constantClass ? base : base * Math.exp(-rate * e) + 0.2 * (r() - 0.5);
  }
  return { trainLoss: train, epochs: E, samples: n, trainLabels, valLoss: val, valSamples: m, valLabels, absent, constantClass };
}

const CASES: CaseOptions[] = [
  { n: 40, m: 25, epochs: 3, classes: 5, seed: 1 },
  { n: 257, m: 64, epochs: 7, classes: 6, seed: 2 },
  { n: 1000, m: 120, epochs: 12, classes: 11, seed: 3, f64: true },
  { n: 3001, m: 300, epochs: 20, classes: 17, seed: 4 },
];

describe.each(backends)('CLD on $name', (b) => {
  it.skipIf(!!b.skip).each(CASES)('matches the official formula: n=$n epochs=$epochs classes=$classes f64=$f64', async (o) => {
    const inputs = makeCase(o);
    const ref = officialCld(inputs.trainLoss, o.epochs, o.n, inputs.trainLabels, inputs.valLoss, o.m, inputs.valLabels);
    const backend = await b.create();
    try {
      const { scores, numClasses, absentClasses } = await cldScores(backend, inputs);
      expect(numClasses).toBe(ref.numClasses);
      expect(absentClasses).toEqual([inputs.absent]);
      let worst = 0;
      for (let i = 0; i < o.n; i++) {
        if (Number.isNaN(ref.r[i]!)) {
          expect(scores[i], `sample ${i} of an absent class`).toBeNaN();
          continue;
        }
        const err = Math.abs(scores[i]! - ref.r[i]!);
        if (!(err <= worst)) worst = err;
      }
      expect(worst).toBeLessThanOrEqual(1e-5);
      // the built-in awkward samples
      expect(scores[o.classes]).toBe(0);
      expect(scores[o.classes + 1]).toBe(0);
      for (let i = 0; i < o.n; i++) if (inputs.trainLabels[i] === inputs.constantClass) expect(scores[i]).toBe(0);
      expect(scores[o.classes + 2]).toBe(scores[o.classes + 7]);

      const budgets: Budget[] = [{ perClass: 3 }, { perClass: 10_000 }, { fraction: 0.1 }, { fraction: 0.37 }, { fraction: 1 }];
      for (const budget of budgets) {
        const sel = await cldCoreset(inputs, budget, { backend });
        expect(sel.backend).toBe(b.name);
        expect(sel.absentClasses).toEqual([inputs.absent]);
        const counts = ref.sorted.map((_, c) => inputs.trainLabels.filter((y) => y === c).length);
        const k =
          'perClass' in budget
            ? counts.map((nc) => Math.min(nc, budget.perClass))
            : largestRemainder(counts, Math.round(budget.fraction * 100), 100);
        k[inputs.absent] = 0;
        expect(sel.perClassSelected).toEqual(k);
        const expected = ref.sorted.flatMap((list, c) => list.slice(0, k[c]));
        expect(Array.from(sel.indices)).toEqual(expected);
      }
    } finally {
      backend.dispose();
    }
  });
});

describe('CLD input validation', () => {
  const base = () => makeCase({ n: 30, m: 12, epochs: 4, classes: 4, seed: 9 });
  const js = backends.find((b) => b.name === 'js')!;
  async function expectCode(mutate: (x: CldInputs) => CldInputs, code: string, ...parts: string[]) {
    const backend = await js.create();
    const err = await cldScores(backend, mutate(base())).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RiverbedError);
    expect((err as RiverbedError).code).toBe(code);
    for (const p of parts) expect((err as RiverbedError).message).toContain(p);
  }
  const sources = { trainLoss: 'T.npy', trainLabels: 'YT.npy', valLoss: 'V.npy', valLabels: 'YV.npy' };
  it('NaN / Inf name the file and the first bad [epoch, sample]', async () => {
    await expectCode((x) => ((x.trainLoss[2 * 30 + 5] = NaN), { ...x, sources }), 'E_VALUE', 'T.npy', 'epoch 2, sample 5', 'NaN');
    await expectCode((x) => ((x.valLoss[3 * 12 + 11] = -Infinity), { ...x, sources }), 'E_VALUE', 'V.npy', 'epoch 3, sample 11');
  });
  it('fewer than 3 epochs', async () => {
    await expectCode((x) => ({ ...x, epochs: 2, trainLoss: x.trainLoss.subarray(0, 60), valLoss: x.valLoss.subarray(0, 24) }), 'E_ARG', '3 epochs');
  });
  it('length mismatches', async () => {
    await expectCode((x) => ({ ...x, trainLabels: x.trainLabels.subarray(1), sources }), 'E_SHAPE', 'YT.npy', '29 labels', '30 samples');
    await expectCode((x) => ({ ...x, valLabels: new Int32Array(13), sources }), 'E_SHAPE', 'YV.npy');
    await expectCode((x) => ({ ...x, valLoss: x.valLoss.subarray(0, 36), sources }), 'E_SHAPE', 'V.npy', '3 epochs');
    await expectCode((x) => ({ ...x, trainLoss: x.trainLoss.subarray(1), sources }), 'E_SHAPE', 'T.npy');
  });
  it('negative labels', async () => {
    await expectCode((x) => ((x.valLabels[4] = -2), { ...x, sources }), 'E_LABEL', 'YV.npy', '[4] is -2');
  });
  it('budgets out of range', async () => {
    const x = base();
    const backend = await js.create();
    for (const budget of [{ perClass: 0 }, { perClass: 2.5 }, { fraction: 0 }, { fraction: 1.01 }, { fraction: NaN }]) {
      await expect(cldCoreset(x, budget, { backend })).rejects.toMatchObject({ code: 'E_ARG' });
    }
  });
});

describe('selection rules', () => {
  it('largest remainder, hand-computed', () => {
    expect(budgetPerClass([5, 5, 5], { fraction: 0.5 })).toEqual([3, 3, 2]); // 7.5 → 8, ties by class
    expect(budgetPerClass([10, 3, 7], { fraction: 0.25 })).toEqual([2, 1, 2]); // 2.5 .75 1.75 → 5
    expect(budgetPerClass([15, 25], { fraction: 0.1 })).toEqual([2, 2]); // 1.5 2.5 → 4; exact, not 1.5000000000000002
    expect(budgetPerClass([3, 3, 3], { fraction: 0.1 })).toEqual([1, 0, 0]); // .9 → 1
    expect(budgetPerClass([1, 1, 1, 1], { fraction: 0.1 })).toEqual([0, 0, 0, 0]); // .4 → 0
    expect(budgetPerClass([7, 0, 2], { fraction: 1 })).toEqual([7, 0, 2]);
    expect(budgetPerClass([29, 71], { fraction: 0.29 })).toEqual([8, 21]); // 8.41 20.59 → 29
    expect(budgetPerClass([5, 9, 1], { perClass: 6 })).toEqual([5, 6, 1]);
  });
  it('excluded classes take part in the apportionment, then select nothing', () => {
    // quotas 2.5, 2.5, 2.5 → 8 = 3 + 3 + 2; class 0 excluded keeps the others at 3 and 2
    expect(budgetPerClass([5, 5, 5], { fraction: 0.5 }, new Set([0]))).toEqual([0, 3, 2]);
  });
  it('decimal fractions are exact', () => {
    expect(decimalFraction(0.1)).toEqual({ num: 1n, den: 10n });
    expect(decimalFraction(1e-7)).toEqual({ num: 1n, den: 10_000_000n });
    expect(decimalFraction(1)).toEqual({ num: 1n, den: 1n });
    expect(decimalFraction(0.125)).toEqual({ num: 125n, den: 1000n });
  });
  it('ranks by score descending, ties by index ascending, K larger than a class', () => {
    const scores = new Float32Array([0.5, 0.9, 0.5, -0.1, 0.5, 0.9, 0, -0, NaN]);
    const labels = new Int32Array([0, 0, 0, 0, 1, 1, 1, 1, 2]);
    const all = selectPerClass(scores, labels, 3, { perClass: 100 }, new Set([2]));
    expect(Array.from(all.indices)).toEqual([1, 0, 2, 3, 5, 4, 6, 7]);
    expect(all.perClassSelected).toEqual([4, 4, 0]);
    const top = selectPerClass(scores, labels, 3, { perClass: 2 });
    expect(Array.from(top.indices)).toEqual([1, 0, 5, 4, 8]);
  });
  it('top-k per class agrees with a comparator sort on many random scores with ties', () => {
    const r = rng(77);
    const n = 20_000;
    const scores = new Float32Array(n);
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      scores[i] = Math.round((r() * 2 - 1) * 500) / 500; // many exact ties, both signs
      labels[i] = Math.floor(r() * 13);
    }
    scores[3] = -0;
    scores[4] = 0;
    const ranked: number[][] = [];
    for (let c = 0; c < 13; c++) {
      const idx = Array.from({ length: n }, (_, i) => i).filter((i) => labels[i] === c);
      idx.sort((a, b) => scores[b]! - scores[a]! || a - b);
      ranked.push(idx);
    }
    for (const K of [1, 2, 3, 37, 700, 1500, n]) {
      const got = selectPerClass(scores, labels, 13, { perClass: K });
      expect(Array.from(got.indices), `K=${K}`).toEqual(ranked.flatMap((l) => l.slice(0, K)));
    }
    // scores far outside [−1, 1] (the bucketing clamps; ranking stays exact), infinities, denormals
    const wide = new Float32Array(n);
    for (let i = 0; i < n; i++) wide[i] = (r() - 0.5) * 10 ** Math.floor(r() * 12 - 4);
    wide[10] = Infinity;
    wide[11] = -Infinity;
    wide[12] = 1e-40;
    wide[13] = -1e-40;
    const rankedWide: number[][] = [];
    for (let c = 0; c < 13; c++) {
      const idx = Array.from({ length: n }, (_, i) => i).filter((i) => labels[i] === c);
      idx.sort((a, b) => (wide[b]! > wide[a]! ? 1 : wide[b]! < wide[a]! ? -1 : a - b));
      rankedWide.push(idx);
    }
    for (const K of [1, 5, 100, n]) {
      const got = selectPerClass(wide, labels, 13, { perClass: K });
      expect(Array.from(got.indices), `wide K=${K}`).toEqual(rankedWide.flatMap((l) => l.slice(0, K)));
    }
  });
  it('labels out of range are rejected', () => {
    expect(() => selectPerClass(new Float32Array(2), new Int32Array([0, 3]), 2, { perClass: 1 })).toThrow(RiverbedError);
  });
});
