/**
 * The unlearning methods, one registry for the CLI, the API and `unlearn evaluate`. Each starts
 * from the trained model's weights (in place on `model`) and sees the training rows split into
 * forget and retain. The model is used only through its public methods (forward, perSampleLoss,
 * lossAndGradients, weightedLossAndGradients, params, init/setWeights), so any model the engine trains can be unlearned.
 *
 *   ga       gradient ascent on the forget loss: descend −CE_f
 *   ga+gd    γ·(−CE_f) + α·CE_r (γ = α = 1)
 *   npo      L = −(2/β)·mean_f log σ(−β·(log p_θ(y|x) − log p_ref(y|x))), p_ref the frozen original
 *            model (its per-sample losses, taken once before the first step), β = 0.1; + α·CE_r
 *   gu       GU's projected ascent (gu.ts) + α·retain descent
 *   ft       fine-tune on the retain set only (the trainer, `epochs` epochs)
 *   retrain  train from scratch on the retain set (the gold standard)
 *
 * ga, ga+gd, npo and gu take `steps` steps, each on one forget batch and one retain batch, drawn by
 * seeded passes over shuffled rows (the retain batch is unused where α = 0); SGD at a constant rate
 * (momentum 0 by default, so every method's step is its gradient). ft and retrain use the trainer.
 */
import type { Backend, Tensor } from '../backends/backend.js';
import { fail } from '../errors.js';
import { Mlp } from '../model/mlp.js';
import { Rng } from '../model/rng.js';
import { Optimizer, type OptimizerConfig, optimizerConfig } from '../train/optimizer.js';
import type { ScheduleConfig } from '../train/schedule.js';
import { train } from '../train/trainer.js';
import { type GuConfig, type GuStats, GU_DEFAULTS, GuStepper, checkGuConfig } from './gu.js';

export const UNLEARN_METHODS = ['ga', 'ga+gd', 'npo', 'gu', 'ft', 'retrain'] as const;
export type UnlearnMethod = (typeof UNLEARN_METHODS)[number];

export function parseUnlearnMethod(v: string, field = 'method'): UnlearnMethod {
  if ((UNLEARN_METHODS as readonly string[]).includes(v)) return v as UnlearnMethod;
  return fail('E_ARG', `unknown method "${v}"; expected one of ${UNLEARN_METHODS.join(', ')}`, { field });
}

/** The training set on the device and its forget / retain rows. */
export interface UnlearnData {
  /** Every training input [N, D] on the model's backend. */
  x: Tensor;
  /** Label of every row of x. */
  labels: Int32Array;
  forget: Int32Array;
  retain: Int32Array;
}

export interface UnlearnConfig {
  method: UnlearnMethod;
  /** ga, ga+gd, npo, gu: optimizer steps. */
  steps: number;
  /** ft, retrain: epochs over the retain set. */
  epochs: number;
  lr: number;
  /** Retain batch (ft / retrain: the mini-batch). */
  batchSize: number;
  forgetBatchSize: number;
  /** ga, ga+gd, npo: sgd (constant rate, `momentum`) or adam (β 0.9 / 0.999); gu has its geometry instead. */
  optimizer: 'sgd' | 'adam';
  /** SGD momentum of ga, ga+gd, npo, ft, retrain. */
  momentum: number;
  /** α. */
  retainWeight: number;
  /** γ. */
  forgetWeight: number;
  /** npo's β. */
  beta: number;
  /** gu only. */
  gu: Omit<GuConfig, 'retainWeight' | 'forgetWeight'>;
  /** ft / retrain learning-rate schedule. */
  schedule: ScheduleConfig;
  seed: number;
}

/**
 * Defaults per method (printed by `riverbed unlearn <method> --help`). The step-based methods share
 * one rate, chosen by a rule that does not favour any of them: on MNIST class 3 with the 784-128-10
 * MLP trained 3 epochs (docs/unlearning.md), the smallest rate of {0.001, 0.0015, 0.002, 0.0025,
 * 0.003} at which plain gradient ascent forgets the class (UA ≥ 99 %) within 100 steps. ft keeps
 * `riverbed train`'s optimizer for 2 epochs at a lower rate; retrain is `riverbed train`'s recipe.
 */
export const METHOD_DEFAULTS: Record<UnlearnMethod, Partial<UnlearnConfig>> = {
  ga: { steps: 100, lr: 0.002, retainWeight: 0 },
  'ga+gd': { steps: 100, lr: 0.002, retainWeight: 1 },
  npo: { steps: 100, lr: 0.002, retainWeight: 0 },
  gu: { steps: 100, lr: 0.002, retainWeight: 1 },
  ft: { epochs: 2, lr: 0.02, momentum: 0.9 },
  retrain: { epochs: 10, lr: 0.05, momentum: 0.9 },
};

const BASE: Omit<UnlearnConfig, 'method'> = {
  steps: 100,
  epochs: 2,
  lr: 0.01,
  batchSize: 128,
  forgetBatchSize: 64,
  optimizer: 'sgd',
  momentum: 0,
  retainWeight: 1,
  forgetWeight: 1,
  beta: 0.1,
  gu: { k: GU_DEFAULTS.k, scope: GU_DEFAULTS.scope, geometry: GU_DEFAULTS.geometry, accept: GU_DEFAULTS.accept, beta2: GU_DEFAULTS.beta2, eps: GU_DEFAULTS.eps },
  schedule: { name: 'cosine', warmupSteps: 0 },
  seed: 0,
};

type Overrides = Partial<Omit<UnlearnConfig, 'gu'>> & { gu?: Partial<UnlearnConfig['gu']> };

/** The full configuration of a method: base, the method's defaults, then the caller's values (undefined = default). */
export function unlearnConfig(method: UnlearnMethod, over: Overrides = {}): UnlearnConfig {
  const defined = <T extends object>(o: T | undefined): Partial<T> => Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
  const { gu, ...rest } = over;
  const c: UnlearnConfig = { ...BASE, ...METHOD_DEFAULTS[method], ...defined(rest), method, gu: { ...BASE.gu, ...defined(gu) } };
  checkUnlearnConfig(c);
  return c;
}

export function checkUnlearnConfig(c: UnlearnConfig): void {
  parseUnlearnMethod(c.method);
  const int = (v: number, field: string, min = 1) => {
    if (!Number.isInteger(v) || v < min) fail('E_ARG', `expected an integer ≥ ${min}, got ${v}`, { field });
  };
  int(c.steps, '--steps');
  int(c.epochs, '--epochs');
  int(c.batchSize, '--batch-size');
  int(c.forgetBatchSize, '--forget-batch-size');
  if (!(Number.isFinite(c.lr) && c.lr > 0)) fail('E_ARG', `expected a positive learning rate, got ${c.lr}`, { field: '--lr' });
  if (c.optimizer !== 'sgd' && c.optimizer !== 'adam') fail('E_ARG', `expected sgd or adam, got "${String(c.optimizer)}"`, { field: '--optimizer' });
  if (!(c.momentum >= 0 && c.momentum < 1)) fail('E_ARG', `expected a number in [0, 1), got ${c.momentum}`, { field: '--momentum' });
  if (!(Number.isFinite(c.beta) && c.beta > 0)) fail('E_ARG', `expected a positive number, got ${c.beta}`, { field: '--beta' });
  checkGuConfig({ ...c.gu, retainWeight: c.retainWeight, forgetWeight: c.forgetWeight });
}

export interface UnlearnReport {
  method: UnlearnMethod;
  config: UnlearnConfig;
  /** Optimizer steps taken. */
  steps: number;
  /** Wall time of the method (no evaluation), seconds. */
  seconds: number;
  /** Mean forget / retain batch loss (cross-entropy) at the first and the last step; ft / retrain: per epoch. */
  lossTrace: { forget?: number[]; retain?: number[] };
  gu?: GuStats;
}

export interface UnlearnHooks {
  onStep?: (done: number, total: number) => void;
}

/** Endless seeded passes over `rows` in shuffled order, `size` rows at a time (the last of a pass may be smaller). */
export class BatchStream {
  private readonly order: Int32Array;
  private at: number;
  constructor(
    rows: Int32Array,
    private readonly size: number,
    private readonly rng: Rng,
  ) {
    this.order = Int32Array.from(rows);
    this.at = this.order.length;
  }
  next(): Int32Array {
    if (this.at >= this.order.length) {
      this.rng.shuffle(this.order);
      this.at = 0;
    }
    const out = this.order.slice(this.at, Math.min(this.order.length, this.at + this.size));
    this.at += out.length;
    return out;
  }
}

/** Inputs and labels of some rows on the device. */
function batchOf(b: Backend, d: UnlearnData, rows: Int32Array): { xb: Tensor; yb: Tensor } {
  const idx = b.uploadInt(rows, [rows.length]);
  const xb = b.gatherRows(d.x, idx);
  b.free(idx);
  const yb = b.uploadInt(Int32Array.from(rows, (r) => d.labels[r]!), [rows.length]);
  return { xb, yb };
}

/** Mean-loss gradients of some rows, and the batch's mean loss as a [1] tensor. */
function gradsOf(model: Mlp, d: UnlearnData, rows: Int32Array): { grads: Tensor[]; mean: Tensor } {
  const b = model.backend;
  const { xb, yb } = batchOf(b, d, rows);
  const { loss, grads } = model.lossAndGradients(xb, yb);
  b.free(xb);
  b.free(yb);
  const s = b.sum(loss);
  b.free(loss);
  const mean = b.scale(1 / rows.length, s);
  b.free(s);
  return { grads, mean };
}

/** Σ_i w_i·∇ℓ_i over rows: one batched backward whose ∂ℓ/∂logits rows are scaled by w_i. */
function weightedGrads(model: Mlp, d: UnlearnData, rows: Int32Array, w: Float64Array): Tensor[] {
  const b = model.backend;
  const { xb, yb } = batchOf(b, d, rows);
  try {
    const { loss, grads } = model.weightedLossAndGradients(xb, yb, w);
    b.free(loss);
    return grads;
  } finally {
    b.free(xb);
    b.free(yb);
  }
}

/** a·x + c·y elementwise per tensor, freeing nothing. */
function combine(b: Backend, a: number, xs: readonly Tensor[], c: number, ys: readonly Tensor[] | undefined): Tensor[] {
  return xs.map((x, j) => {
    const s = b.scale(a, x);
    if (!ys || c === 0) return s;
    const o = b.axpy(c, ys[j]!, s);
    b.free(s);
    return o;
  });
}

/** Per-sample losses of rows (host, float64). */
async function lossesOf(model: Mlp, d: UnlearnData, rows: Int32Array): Promise<Float64Array> {
  const b = model.backend;
  const out = new Float64Array(rows.length);
  for (let s = 0; s < rows.length; s += 2048) {
    const part = rows.subarray(s, Math.min(rows.length, s + 2048));
    const { xb, yb } = batchOf(b, d, part);
    const l = model.perSampleLoss(xb, yb);
    b.free(xb);
    b.free(yb);
    out.set(await b.read(l), s);
    b.free(l);
  }
  return out;
}

/** Unlearns `data.forget` from `model` in place with one method. */
export async function unlearn(model: Mlp, data: UnlearnData, config: UnlearnConfig, hooks: UnlearnHooks = {}): Promise<UnlearnReport> {
  checkUnlearnConfig(config);
  if (data.forget.length === 0) fail('E_ARG', 'the forget set is empty', { field: '--forget' });
  if (data.retain.length === 0) fail('E_ARG', 'the retain set is empty: nothing would be retained', { field: '--forget' });
  const c = config;
  const t0 = performance.now();
  const report: UnlearnReport = { method: c.method, config: c, steps: 0, seconds: 0, lossTrace: {} };
  if (c.method === 'ft' || c.method === 'retrain') {
    if (c.method === 'retrain') {
      // From scratch: a fresh seeded initialisation of the same description, written into `model`.
      const fresh = Mlp.init(model.backend, model.description, c.seed);
      model.setWeights(new Map((await fresh.toHost()).map((t) => [t.name, t.data])));
      fresh.dispose();
    }
    const opt: OptimizerConfig = optimizerConfig('sgd', { lr: c.lr, momentum: c.momentum });
    const r = await train(model, { x: data.x, labels: data.labels, rows: data.retain }, {
      epochs: c.epochs,
      batchSize: c.batchSize,
      optimizer: opt,
      schedule: c.schedule,
      seed: c.seed,
      onStep: hooks.onStep,
    });
    report.steps = r.steps;
    report.lossTrace.retain = r.epochLoss;
  } else {
    await stepMethod(model, data, c, report, hooks);
  }
  report.seconds = (performance.now() - t0) / 1000;
  return report;
}

async function stepMethod(model: Mlp, data: UnlearnData, c: UnlearnConfig, report: UnlearnReport, hooks: UnlearnHooks): Promise<void> {
  const b = model.backend;
  const forgetStream = new BatchStream(data.forget, c.forgetBatchSize, Rng.derive(c.seed, 'unlearn/forget'));
  const retainStream = new BatchStream(data.retain, c.batchSize, Rng.derive(c.seed, 'unlearn/retain'));
  const useRetain = c.retainWeight > 0;
  // npo: the frozen original model's losses on every forget row, once.
  let refLoss: Map<number, number> | undefined;
  if (c.method === 'npo') {
    const l = await lossesOf(model, data, data.forget);
    refLoss = new Map(Array.from(data.forget, (r, i) => [r, l[i]!]));
  }
  const gu = c.method === 'gu' ? new GuStepper(model, { ...c.gu, retainWeight: c.retainWeight, forgetWeight: c.forgetWeight }) : undefined;
  const opt = gu ? undefined : new Optimizer(b, model, c.optimizer === 'adam' ? optimizerConfig('adam', { lr: c.lr }) : optimizerConfig('sgd', { lr: c.lr, momentum: c.momentum }));
  const forgetTrace: number[] = [];
  const retainTrace: number[] = [];
  const trace = async (f: Tensor, r: Tensor | undefined) => {
    forgetTrace.push((await b.read(f))[0]!);
    if (r) retainTrace.push((await b.read(r))[0]!);
  };
  try {
    for (let s = 0; s < c.steps; s++) {
      const fRows = forgetStream.next();
      const f = gradsOf(model, data, fRows);
      const r = useRetain || gu ? gradsOf(model, data, retainStream.next()) : undefined;
      const keep = s === 0 || s === c.steps - 1;
      if (keep) await trace(f.mean, r?.mean);
      b.free(f.mean);
      if (r) b.free(r.mean);
      if (gu) {
        await gu.step(r!.grads, f.grads, c.lr);
      } else {
        let forgetDir: Tensor[];
        if (c.method === 'npo') {
          // ∇L = Σ_i w_i ∇ℓ_i, w_i = −(2/n)·σ(β(ℓ_ref,i − ℓ_i)); at θ = θ_ref every w_i = −1/n: gradient ascent.
          const l = await lossesOf(model, data, fRows);
          const w = Float64Array.from(fRows, (row, i) => (-2 / fRows.length) * sigmoid(c.beta * (refLoss!.get(row)! - l[i]!)));
          const g = weightedGrads(model, data, fRows, w);
          forgetDir = combine(b, c.forgetWeight, g, 0, undefined);
          for (const t of g) b.free(t);
        } else {
          forgetDir = combine(b, -c.forgetWeight, f.grads, 0, undefined);
        }
        const dir = r && c.retainWeight > 0 ? combine(b, 1, forgetDir, c.retainWeight, r.grads) : forgetDir;
        opt!.step(dir, c.lr);
        if (dir !== forgetDir) for (const t of dir) b.free(t);
        for (const t of forgetDir) b.free(t);
      }
      for (const t of f.grads) b.free(t);
      if (r) for (const t of r.grads) b.free(t);
      report.steps++;
      hooks.onStep?.(s + 1, c.steps);
    }
    await b.sync();
  } finally {
    opt?.dispose();
    if (gu) {
      report.gu = gu.stats;
      gu.dispose();
    }
  }
  report.lossTrace.forget = forgetTrace;
  if (retainTrace.length) report.lossTrace.retain = retainTrace;
}

function sigmoid(t: number): number {
  return t >= 0 ? 1 / (1 + Math.exp(-t)) : Math.exp(t) / (1 + Math.exp(t));
}
