/**
 * Measuring an unlearned model, and the harness behind `riverbed unlearn evaluate`.
 *
 * `measure` computes, from one forward pass over the training and test rows, UA/RA/TA and losses,
 * the two membership-inference numbers and (given the retrained model's outputs) the mean KL on
 * the forget and test sets — see metrics.ts. TA is the test accuracy on the classes that are not
 * wholly forgotten (for class:3 the other nine classes; for random forgetting the whole test set);
 * the forgotten classes' test accuracy is reported apart.
 *
 * `evaluateUnlearning` runs, for every seed: train the original model on the whole training set,
 * retrain from scratch on the retain set (always: it is the reference of KL and of wall time), then
 * every other method from the original weights, and measures each. Summaries are mean ± sample std
 * over seeds.
 */
import type { Backend, Tensor } from '../backends/backend.js';
import { fail } from '../errors.js';
import type { ModelDescription } from '../model/description.js';
import { Mlp } from '../model/mlp.js';
import { optimizerConfig } from '../train/optimizer.js';
import { train } from '../train/trainer.js';
import { type ForgetSpec, type ForgetSplit, resolveForget } from './forget.js';
import {
  type MiaEfficacy,
  type SampleStats,
  accuracyOf,
  lossMiaAuc,
  meanKl,
  meanLossOf,
  miaEfficacy,
  predictLogits,
  sampleStats,
} from './metrics.js';
import { type UnlearnMethod, type UnlearnReport, unlearn, unlearnConfig } from './methods.js';

/** The data a measurement needs: training rows on the device, their split, and a test set. */
export interface EvalSets {
  x: Tensor;
  labels: Int32Array;
  forget: Int32Array;
  retain: Int32Array;
  testX: Tensor;
  testLabels: Int32Array;
  /** Classes with forgotten samples; classes wholly forgotten. */
  forgetClasses: readonly number[];
  wholeClasses: readonly number[];
}

export interface SetScore {
  accuracy: number;
  loss: number;
  n: number;
}

export interface ModelMetrics {
  forget: SetScore;
  retain: SetScore;
  test: SetScore;
  /** Test samples of the classes not wholly forgotten: TA. */
  testRetained: SetScore;
  /** Test samples of the wholly forgotten classes (class forgetting only). */
  testForgotten?: SetScore;
  /** Percent: UA = 100 − forget accuracy, RA = retain accuracy, TA = testRetained accuracy. */
  ua: number;
  ra: number;
  ta: number;
  mia: {
    /** Loss-threshold ROC-AUC, forget (members?) vs test samples of the forget set's classes. */
    lossAuc: number;
    /** Fraction (0..1) of the forget set a retain-vs-test classifier calls non-member. */
    efficacy: MiaEfficacy;
  };
  /** Mean KL(p_retrained ‖ p_model) on the forget and the test set. */
  kl?: { forget: number; test: number };
}

/** What measure() keeps for the KL of later models. */
export interface Reference {
  forget: SampleStats;
  test: SampleStats;
}

const score = (s: SampleStats, rows?: Int32Array): SetScore => ({ accuracy: accuracyOf(s, rows), loss: meanLossOf(s, rows), n: rows ? rows.length : s.n });

/** All metrics of one model; `ref` (the retrained model's outputs) adds KL. */
export async function measure(model: Mlp, sets: EvalSets, ref?: Reference, seed = 0): Promise<{ metrics: ModelMetrics; reference: Reference }> {
  const statsOf = async (x: Tensor, labels: Int32Array, rows: Int32Array) => {
    const { logits, classes } = await predictLogits(model, x, rows);
    return sampleStats(logits, Int32Array.from(rows, (r) => labels[r]!), classes);
  };
  const allTest = Int32Array.from({ length: sets.testLabels.length }, (_, i) => i);
  const forget = await statsOf(sets.x, sets.labels, sets.forget);
  const retain = await statsOf(sets.x, sets.labels, sets.retain);
  const test = await statsOf(sets.testX, sets.testLabels, allTest);
  const whole = new Set(sets.wholeClasses);
  const inForgetClasses = new Set(sets.forgetClasses);
  const testRetainedRows = Int32Array.from(allTest.filter((i) => !whole.has(sets.testLabels[i]!)));
  const testForgottenRows = Int32Array.from(allTest.filter((i) => whole.has(sets.testLabels[i]!)));
  const sameClassTest = allTest.filter((i) => inForgetClasses.has(sets.testLabels[i]!));
  const testRetained = score(test, testRetainedRows);
  const m: ModelMetrics = {
    forget: score(forget),
    retain: score(retain),
    test: score(test),
    testRetained,
    ...(testForgottenRows.length ? { testForgotten: score(test, testForgottenRows) } : {}),
    ua: 100 * (1 - accuracyOf(forget)),
    ra: 100 * accuracyOf(retain),
    ta: 100 * testRetained.accuracy,
    mia: {
      lossAuc: lossMiaAuc(forget.loss, Array.from(sameClassTest, (i) => test.loss[i]!)),
      efficacy: miaEfficacy({ retain, test, forget }, seed),
    },
  };
  if (ref) m.kl = { forget: meanKl(ref.forget, forget), test: meanKl(ref.test, test) };
  return { metrics: m, reference: { forget, test } };
}

// ---- the harness ---------------------------------------------------------------------------------

/** The evaluation's data: training and test sets on the host. */
export interface HarnessData {
  name: string;
  train: { inputs: Float32Array; labels: Int32Array; indices: Int32Array; count: number; features: number };
  test: { inputs: Float32Array; labels: Int32Array; count: number; features: number };
  classes: number;
  datasetSize?: number;
}

/** How the original (and the retrained) model is trained: `riverbed train`'s recipe. */
export interface TrainRecipe {
  epochs: number;
  batchSize: number;
  lr: number;
  momentum: number;
}

export interface HarnessOptions {
  backend: Backend;
  model: ModelDescription;
  forget: ForgetSpec;
  methods: readonly UnlearnMethod[];
  seeds: readonly number[];
  recipe: TrainRecipe;
  /** Per-method overrides of the method defaults (steps, lr, …). */
  overrides?: Partial<Record<UnlearnMethod, Parameters<typeof unlearnConfig>[1]>>;
  onProgress?: (done: number, total: number, info: string) => void;
}

export interface Summary {
  mean: number;
  std: number;
}

export interface MethodRow {
  method: UnlearnMethod | 'original';
  perSeed: { seed: number; metrics: ModelMetrics; seconds: number; steps: number; gu?: UnlearnReport['gu'] }[];
  summary: Record<SummaryKey, Summary>;
}

export const SUMMARY_KEYS = ['ua', 'ra', 'ta', 'forgetLoss', 'retainLoss', 'testLoss', 'miaAuc', 'miaEfficacy', 'klForget', 'klTest', 'seconds', 'vsRetrain'] as const;
export type SummaryKey = (typeof SUMMARY_KEYS)[number];

export interface HarnessResult {
  dataset: { name: string; train: number; test: number; classes: number };
  forget: { spec: ForgetSpec; description: string[]; sizes: number[] };
  model: ModelDescription;
  recipe: TrainRecipe;
  methods: UnlearnMethod[];
  seeds: number[];
  configs: Partial<Record<UnlearnMethod, ReturnType<typeof unlearnConfig>>>;
  rows: MethodRow[];
  /** Seconds to train each seed's original model. */
  originalSeconds: number[];
  backend: string;
}

export function stat(values: readonly number[]): Summary {
  const v = values.filter((x) => Number.isFinite(x));
  if (v.length === 0) return { mean: NaN, std: NaN };
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)) : 0;
  return { mean, std };
}

function summaryOf(row: MethodRow['perSeed'], retrainSeconds: number[]): Record<SummaryKey, Summary> {
  const pick = (f: (m: MethodRow['perSeed'][number], i: number) => number) => stat(row.map(f));
  return {
    ua: pick((r) => r.metrics.ua),
    ra: pick((r) => r.metrics.ra),
    ta: pick((r) => r.metrics.ta),
    forgetLoss: pick((r) => r.metrics.forget.loss),
    retainLoss: pick((r) => r.metrics.retain.loss),
    testLoss: pick((r) => r.metrics.test.loss),
    miaAuc: pick((r) => r.metrics.mia.lossAuc),
    miaEfficacy: pick((r) => 100 * r.metrics.mia.efficacy.all),
    klForget: pick((r) => r.metrics.kl?.forget ?? NaN),
    klTest: pick((r) => r.metrics.kl?.test ?? NaN),
    seconds: pick((r) => r.seconds),
    vsRetrain: pick((r, i) => r.seconds / retrainSeconds[i]!),
  };
}

/** Trains, retrains, unlearns with every method and measures, for every seed. */
export async function evaluateUnlearning(data: HarnessData, o: HarnessOptions): Promise<HarnessResult> {
  if (o.seeds.length === 0) fail('E_ARG', 'no seeds', { field: '--seeds' });
  if (o.methods.length === 0) fail('E_ARG', 'no methods', { field: '--methods' });
  const methods = [...new Set(o.methods)];
  const configs: HarnessResult['configs'] = {};
  for (const m of [...methods, 'retrain' as const]) {
    configs[m] = unlearnConfig(m, m === 'retrain' ? { epochs: o.recipe.epochs, batchSize: o.recipe.batchSize, lr: o.recipe.lr, momentum: o.recipe.momentum, ...o.overrides?.retrain } : o.overrides?.[m]);
  }
  const b = o.backend;
  const x = b.upload(data.train.inputs, [data.train.count, data.train.features]);
  const testX = b.upload(data.test.inputs, [data.test.count, data.test.features]);
  const rows = new Map<string, MethodRow>();
  const rowFor = (m: MethodRow['method']) => rows.get(m) ?? rows.set(m, { method: m, perSeed: [], summary: {} as MethodRow['summary'] }).get(m)!;
  const originalSeconds: number[] = [];
  const retrainSeconds: number[] = [];
  const descriptions: string[] = [];
  const sizes: number[] = [];
  const others = methods.filter((m) => m !== 'retrain');
  const total = o.seeds.length * (2 + others.length);
  let done = 0;
  const tick = (info: string) => o.onProgress?.(++done, total, info);
  try {
    for (const seed of o.seeds) {
      const split: ForgetSplit = await resolveForget(o.forget, { labels: data.train.labels, indices: data.train.indices, classes: data.classes, datasetSize: data.datasetSize }, seed);
      descriptions.push(split.description);
      sizes.push(split.forget.length);
      const sets: EvalSets = { x, labels: data.train.labels, forget: split.forget, retain: split.retain, testX, testLabels: data.test.labels, forgetClasses: split.forgetClasses, wholeClasses: split.wholeClasses };
      const ud = { x, labels: data.train.labels, forget: split.forget, retain: split.retain };
      // the original model
      const model = Mlp.init(b, o.model, seed);
      const t0 = performance.now();
      await train(model, { x, labels: data.train.labels }, {
        epochs: o.recipe.epochs,
        batchSize: o.recipe.batchSize,
        optimizer: optimizerConfig('sgd', { lr: o.recipe.lr, momentum: o.recipe.momentum }),
        schedule: { name: 'cosine', warmupSteps: 0 },
        seed,
      });
      originalSeconds.push((performance.now() - t0) / 1000);
      const original = new Map((await model.toHost()).map((t) => [t.name, t.data]));
      tick(`seed ${seed}: original trained`);
      // the reference: retrained from scratch on the retain set
      const rt = await unlearn(model, ud, { ...configs.retrain!, seed });
      retrainSeconds.push(rt.seconds);
      const { metrics: rm, reference } = await measure(model, sets, undefined, seed);
      rm.kl = { forget: 0, test: 0 };
      rowFor('retrain').perSeed.push({ seed, metrics: rm, seconds: rt.seconds, steps: rt.steps });
      tick(`seed ${seed}: retrained`);
      model.setWeights(original);
      const om = await measure(model, sets, reference, seed);
      rowFor('original').perSeed.push({ seed, metrics: om.metrics, seconds: 0, steps: 0 });
      for (const m of others) {
        model.setWeights(original);
        const r = await unlearn(model, ud, { ...configs[m]!, seed });
        const { metrics } = await measure(model, sets, reference, seed);
        rowFor(m).perSeed.push({ seed, metrics, seconds: r.seconds, steps: r.steps, ...(r.gu ? { gu: r.gu } : {}) });
        tick(`seed ${seed}: ${m}`);
      }
      model.dispose();
    }
  } finally {
    b.free(x);
    b.free(testX);
  }
  const order: MethodRow['method'][] = ['original', ...others, 'retrain'];
  const out = order.map((m) => rows.get(m)!).filter(Boolean);
  for (const r of out) r.summary = summaryOf(r.perSeed, retrainSeconds);
  return {
    dataset: { name: data.name, train: data.train.count, test: data.test.count, classes: data.classes },
    forget: { spec: o.forget, description: descriptions, sizes },
    model: o.model,
    recipe: o.recipe,
    methods: [...others, 'retrain'],
    seeds: [...o.seeds],
    configs,
    rows: out,
    originalSeconds,
    backend: b.name,
  };
}
