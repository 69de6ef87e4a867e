/**
 * Coreset evaluation: does a selection method beat random, at which fraction, with what spread?
 *
 * For every seed:
 *  1. train the source model on all training samples for `epochs` epochs, recording the
 *     trajectory of every training and validation sample (before training and after each epoch);
 *  2. every method selects, for every fraction F, exactly k_c samples of class c — the per-class
 *     budget of `budgetPerClass(counts, { fraction: F })`, identical for all methods;
 *  3. a fresh model (same initialisation seed for every method) is trained on each coreset with
 *     THE SAME NUMBER OF OPTIMIZER STEPS for every method at a given fraction:
 *       retrain { epochs: R }  steps = ⌈k/B⌉ · R  (R epochs over the coreset; k = Σ k_c)
 *       retrain { steps: S }   steps = S at every fraction (the coreset is repeated — every sample
 *                              as often as the others, ±1 — and shuffled into S full batches)
 *     with the same batch size, optimizer and cosine schedule over those steps;
 *  4. test accuracy on the held-out test split, which selection never saw.
 * Optionally (transfer) the same coresets also train a different target architecture.
 *
 * Results: per method and fraction, the accuracies of every seed, their mean ± sample std, and
 * the paired difference to `random` (same seed, same init), plus the full-data accuracy.
 */
import { createHash } from 'node:crypto';
import type { Backend } from '../backends/backend.js';
import type { Dataset } from '../data/dataset.js';
import { fail } from '../errors.js';
import type { ModelDescription } from '../model/description.js';
import { Mlp } from '../model/mlp.js';
import { Rng } from '../model/rng.js';
import { accuracy, evaluateSamples } from '../train/evaluate.js';
import { optimizerConfig } from '../train/optimizer.js';
import { type DeviceData, type RunConfig, runTraining, toDevice } from '../train/run.js';
import { stepsPerEpoch } from '../train/trainer.js';
import { DEFAULT_VARIANT_OPTIONS, type EvalMethod, type EvalRun, type VariantOptions, evalMethods } from './evaluate/methods.js';
import { type Stat, paired, stat } from './evaluate/stats.js';
import { budgetPerClass, classCounts, validateBudget } from './select.js';

export { type EvalMethod, type EvalRun, type SelectContext, type VariantOptions, evalMethods } from './evaluate/methods.js';
export { type Stat, stat, paired, pm } from './evaluate/stats.js';

export const EVALUATION_FORMAT = 'riverbed.evaluation';

export interface EvalData {
  /** Name for reports (e.g. "mnist"). */
  name: string;
  train: Dataset;
  val: Dataset;
  test: Dataset;
  numClasses: number;
}

export type RetrainBudget = { epochs: number } | { steps: number };

export interface EvaluateOptions {
  methods: string[];
  fractions: number[];
  /** The seeds, one full evaluation each (initialisation, shuffling, random choices). */
  seeds: number[];
  /** Epochs of the recorded full-data run (≥ 2: CLD needs ≥ 2 loss differences without init). */
  epochs: number;
  retrain: RetrainBudget;
  /** The architecture that records trajectories and is retrained on the coresets. */
  model: ModelDescription;
  /** Transfer: another architecture retrained on the same coresets (selection never sees it). */
  transferModel?: ModelDescription;
  batchSize?: number;
  lr?: number;
  momentum?: number;
  variants?: Partial<VariantOptions>;
  /** Extra methods (e.g. the baselines' registry) by name; the built-in ones win on a clash. */
  extraMethods?: Record<string, EvalMethod>;
  backend: Backend;
  /** Called after optimizer steps; `done`/`total` count steps over the whole grid. */
  onProgress?: (done: number, total: number, info: string) => void;
}

export interface CellResult {
  method: string;
  fraction: number;
  /** Coreset size Σ k_c and the retraining steps (equal for every method at this fraction). */
  size: number;
  steps: number;
  /** Samples of each class in the coreset (first seed's). */
  perClass?: number[];
  /** Test accuracy of each seed, in seed order. */
  accuracy: number[];
  summary: Stat;
  /** Paired difference to random (absent for random, or when random is not evaluated). */
  vsRandom?: Stat;
}

export interface ArchitectureResult {
  model: ModelDescription;
  /** Test accuracy with all training samples (epochs = the recorded run's), per seed. */
  full: { accuracy: number[]; summary: Stat; steps: number };
  cells: CellResult[];
}

export interface EvaluationResult {
  format: typeof EVALUATION_FORMAT;
  version: 1;
  dataset: { name: string; train: number; val: number; test: number; classes: number; sha256: string };
  methods: string[];
  fractions: number[];
  seeds: number[];
  epochs: number;
  retrain: RetrainBudget;
  batchSize: number;
  optimizer: { name: 'sgd'; lr: number; momentum: number; schedule: 'cosine' };
  budgetRule: string;
  variants: VariantOptions;
  backend: string;
  source: ArchitectureResult;
  transfer?: ArchitectureResult;
  seconds: { total: number; record: number; select: number; retrain: number };
}

/** Checks everything that can be checked before any training; returns the method table. */
export function validateEvaluateOptions(o: Omit<EvaluateOptions, 'backend'>): Record<string, EvalMethod> {
  const table = { ...(o.extraMethods ?? {}), ...evalMethods({ ...DEFAULT_VARIANT_OPTIONS, ...o.variants }) };
  if (o.methods.length === 0) fail('E_ARG', 'give at least one method', { field: '--methods' });
  const seen = new Set<string>();
  for (const m of o.methods) {
    if (!(m in table)) fail('E_ARG', `unknown method "${m}"; expected one of ${Object.keys(table).join(', ')}`, { field: '--methods' });
    if (seen.has(m)) fail('E_ARG', `method "${m}" is listed twice`, { field: '--methods' });
    seen.add(m);
  }
  if (o.fractions.length === 0) fail('E_ARG', 'give at least one fraction', { field: '--fractions' });
  for (const f of o.fractions) validateBudget({ fraction: f });
  if (new Set(o.fractions).size !== o.fractions.length) fail('E_ARG', 'a fraction is listed twice', { field: '--fractions' });
  if (o.seeds.length === 0) fail('E_ARG', 'expected at least one seed', { field: '--seeds' });
  if (!Number.isInteger(o.epochs) || o.epochs < 2) fail('E_ARG', `the recorded run needs ≥ 2 epochs (CLD needs 2 loss differences), got ${o.epochs}`, { field: '--epochs' });
  if ('epochs' in o.retrain) {
    if (!Number.isInteger(o.retrain.epochs) || o.retrain.epochs < 1) fail('E_ARG', `expected an integer ≥ 1, got ${o.retrain.epochs}`, { field: '--retrain-epochs' });
  } else if (!Number.isInteger(o.retrain.steps) || o.retrain.steps < 1) fail('E_ARG', `expected an integer ≥ 1, got ${o.retrain.steps}`, { field: '--retrain-steps' });
  return table;
}

/** SHA-256 over the inputs and labels of train, val and test (in that order), hex. */
export function dataHash(d: EvalData): string {
  const h = createHash('sha256');
  for (const s of [d.train, d.val, d.test]) {
    h.update(`${s.count}x${s.features};`);
    h.update(new Uint8Array(s.inputs.buffer, s.inputs.byteOffset, s.inputs.byteLength));
    h.update(new Uint8Array(s.labels.buffer, s.labels.byteOffset, s.labels.byteLength));
  }
  return h.digest('hex');
}

/**
 * `rows` repeated and shuffled into exactly `length` entries: every row appears ⌊length/k⌋ or
 * ⌈length/k⌉ times (which rows get the extra one is seeded). The trainer then shuffles again.
 */
export function repeatRows(rows: Int32Array, length: number, rng: Rng): Int32Array {
  const k = rows.length;
  if (k === 0) fail('E_ARG', 'no rows to repeat');
  const out = new Int32Array(length);
  const full = Math.floor(length / k);
  for (let r = 0; r < full; r++) out.set(rows, r * k);
  const rest = length - full * k;
  if (rest > 0) {
    const perm = rng.permutation(k);
    for (let j = 0; j < rest; j++) out[full * k + j] = rows[perm[j]!]!;
  }
  return out;
}

export function retrainSteps(size: number, budget: RetrainBudget, batchSize: number): number {
  return 'epochs' in budget ? stepsPerEpoch(size, batchSize) * budget.epochs : budget.steps;
}

export function budgetRuleText(budget: RetrainBudget, batchSize: number): string {
  return 'epochs' in budget
    ? `every method at a fraction trains the same number of SGD steps: ${budget.epochs} epochs over its coreset of k samples = ceil(k/${batchSize})·${budget.epochs} steps (k is the same for every method: per-class budgets by largest remainder)`
    : `every method at every fraction trains exactly ${budget.steps} SGD steps of batch ${batchSize} (the coreset repeated evenly and shuffled)`;
}

export async function evaluateCoresets(data: EvalData, o: EvaluateOptions): Promise<EvaluationResult> {
  const t0 = performance.now();
  const table = validateEvaluateOptions(o);
  const variants = { ...DEFAULT_VARIANT_OPTIONS, ...o.variants };
  const b = o.backend;
  const B = o.batchSize ?? 128;
  const lr = o.lr ?? 0.05;
  const momentum = o.momentum ?? 0.9;
  const optimizer = optimizerConfig('sgd', { lr, momentum });
  const schedule = { name: 'cosine' as const, warmupSteps: 0 };
  const counts = classCounts(data.train.labels, data.numClasses);
  const perClass = o.fractions.map((f) => budgetPerClass(counts, { fraction: f }));
  const sizes = perClass.map((k) => k.reduce((a, c) => a + c, 0));
  sizes.forEach((k, i) => {
    if (k === 0) fail('E_ARG', `the fraction ${o.fractions[i]} selects no samples out of ${data.train.count}`, { field: '--fractions' });
  });
  const steps = sizes.map((k) => retrainSteps(k, o.retrain, B));
  const fullSteps = stepsPerEpoch(data.train.count, B) * o.epochs;
  const archs = o.transferModel ? 2 : 1;
  const perSeed = fullSteps * archs + archs * o.methods.length * steps.reduce((a, s) => a + s, 0);
  const total = perSeed * o.seeds.length;
  let done = 0;
  const progress = (info: string) => (s: number) => o.onProgress?.(done + s, total, info);

  const train = toDevice(b, data.train);
  const val = toDevice(b, data.val);
  const test = toDevice(b, data.test);
  const accOn = async (m: Mlp) => accuracy(await evaluateSamples(m, test.x, test.labels));
  const secs = { record: 0, select: 0, retrain: 0 };

  /** Trains `desc` from the seed's initialisation on `rows` for exactly `nSteps` steps; test accuracy. */
  const retrain = async (desc: ModelDescription, seed: number, rows: Int32Array | undefined, nSteps: number, info: string): Promise<number> => {
    const model = Mlp.init(b, desc, seed);
    try {
      let cfgRows = rows;
      let epochs: number;
      if (rows === undefined) epochs = o.epochs;
      else if ('epochs' in o.retrain) epochs = o.retrain.epochs;
      else {
        cfgRows = repeatRows(rows, nSteps * B, Rng.derive(seed, 'evaluate/repeat'));
        epochs = 1;
      }
      const cfg: RunConfig = { epochs, batchSize: B, optimizer, schedule, seed };
      const r = await runTraining(model, train as DeviceData, undefined, cfg, { onStep: (s) => s % 25 === 0 && progress(info)(s) }, cfgRows);
      if (r.steps !== nSteps) fail('E_INTERNAL', `retraining took ${r.steps} steps, expected ${nSteps}`);
      done += nSteps;
      return await accOn(model);
    } finally {
      model.dispose();
    }
  };

  const emptyArch = (model: ModelDescription): ArchitectureResult => ({
    model,
    full: { accuracy: [], summary: stat([]), steps: fullSteps },
    cells: o.methods.flatMap((method) => o.fractions.map((fraction, i) => ({ method, fraction, size: sizes[i]!, steps: steps[i]!, accuracy: [], summary: stat([]) }))),
  });
  const source = emptyArch(o.model);
  const transfer = o.transferModel ? emptyArch(o.transferModel) : undefined;
  const cellOf = (a: ArchitectureResult, method: string, fi: number) => a.cells.find((c) => c.method === method && c.fraction === o.fractions[fi])!;

  try {
    for (const seed of o.seeds) {
      // 1. the recorded full-data run
      const full = Mlp.init(b, o.model, seed);
      let run: Awaited<ReturnType<typeof runTraining>>;
      try {
        const cfg: RunConfig = { epochs: o.epochs, batchSize: B, optimizer, schedule, seed, record: true, recordInit: true };
        run = await runTraining(full, train, val, cfg, { onStep: (s) => s % 25 === 0 && progress(`seed ${seed}: record`)(s) });
        done += fullSteps;
        source.full.accuracy.push(await accOn(full));
      } finally {
        full.dispose();
      }
      secs.record += run.recordSeconds;
      const rec = run.recorder!;
      const recorded: EvalRun = {
        checkpoints: [...rec.checkpoints],
        samples: rec.trainSamples,
        valSamples: rec.valSamples,
        numClasses: data.numClasses,
        trainLabels: rec.trainSplit.labels,
        valLabels: rec.valSplit.labels,
        trainLoss: rec.matrix('train', 'loss'),
        valLoss: rec.matrix('val', 'loss'),
        trainCorrect: rec.matrix('train', 'correct'),
        trainMargin: rec.matrix('train', 'margin'),
        trainErrorNorm: rec.matrix('train', 'errorNorm'),
      };
      if (transfer) transfer.full.accuracy.push(await retrain(transfer.model, seed, undefined, fullSteps, `seed ${seed}: transfer full`));
      const cache = new Map<string, unknown>();
      for (const method of o.methods) {
        for (let fi = 0; fi < o.fractions.length; fi++) {
          const ts = performance.now();
          const rows = await table[method]!.select({ run: recorded, backend: b, seed, fraction: o.fractions[fi]!, perClass: perClass[fi]!, cache });
          const got = checkSelection(rows, recorded, perClass[fi]!, method);
          const cell = cellOf(source, method, fi);
          if (!cell.perClass) cell.perClass = got;
          secs.select += (performance.now() - ts) / 1000;
          const tr = performance.now();
          // rows index the recorded columns = rows of `train` (recorded in order)
          const label = `seed ${seed}: ${method} ${fmtFraction(o.fractions[fi]!)}`;
          cell.accuracy.push(await retrain(o.model, seed, rows, steps[fi]!, label));
          if (transfer) cellOf(transfer, method, fi).accuracy.push(await retrain(transfer.model, seed, rows, steps[fi]!, `${label} (transfer)`));
          secs.retrain += (performance.now() - tr) / 1000;
        }
      }
    }
  } finally {
    b.free(train.x);
    b.free(val.x);
    b.free(test.x);
  }
  for (const a of transfer ? [source, transfer] : [source]) {
    a.full.summary = stat(a.full.accuracy);
    for (const c of a.cells) {
      c.summary = stat(c.accuracy);
      if (c.method !== 'random' && o.methods.includes('random')) {
        const r = a.cells.find((x) => x.method === 'random' && x.fraction === c.fraction)!;
        c.vsRandom = paired(c.accuracy, r.accuracy);
      }
    }
  }
  return {
    format: EVALUATION_FORMAT,
    version: 1,
    dataset: { name: data.name, train: data.train.count, val: data.val.count, test: data.test.count, classes: data.numClasses, sha256: dataHash(data) },
    methods: [...o.methods],
    fractions: [...o.fractions],
    seeds: [...o.seeds],
    epochs: o.epochs,
    retrain: o.retrain,
    batchSize: B,
    optimizer: { name: 'sgd', lr, momentum, schedule: 'cosine' },
    budgetRule: budgetRuleText(o.retrain, B),
    variants,
    backend: b.name,
    source,
    transfer,
    seconds: { total: (performance.now() - t0) / 1000, ...secs },
  };
}

/**
 * Exactly Σ k_c distinct rows: the property that makes the comparison fair (same coreset size,
 * same steps). How a method spreads them over the classes is its own business (the built-in ones
 * keep k_c per class); the counts are returned for the report.
 */
function checkSelection(rows: Int32Array, run: EvalRun, perClass: readonly number[], method: string): number[] {
  const got = new Array<number>(run.numClasses).fill(0);
  const seen = new Uint8Array(run.samples);
  for (const r of rows) {
    if (!(r >= 0 && r < run.samples) || seen[r]) fail('E_INTERNAL', `method ${method} returned an invalid or repeated row ${r}`);
    seen[r] = 1;
    got[run.trainLabels[r]!]!++;
  }
  const k = perClass.reduce((a, c) => a + c, 0);
  if (rows.length !== k) fail('E_INTERNAL', `method ${method} selected ${rows.length} samples, the budget is ${k}`);
  return got;
}

export function fmtFraction(f: number): string {
  return `${+(100 * f).toPrecision(6)} %`;
}
