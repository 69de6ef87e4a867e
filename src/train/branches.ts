/**
 * Branching WSD (issue 11 §2), the experiment of Hägele et al. 2024, "Scaling Laws and
 * Compute-Optimal Training Beyond Fixed Training Durations" (§3, Fig. 4): ONE main branch at the
 * constant peak rate (after the warm-up) and, for every budget, a short decay ("cooldown")
 * branching off it, instead of one full run per budget.
 *
 * Budgets. `--branch-at f_1 < … < f_k` in (0, 1] are fractions of the run's E epochs; branch b
 * trains E_b = round(f_b·E) epochs, T_b = E_b·(steps per epoch) updates (whole epochs, so each
 * branch is a plain run of the same options with `--epochs E_b`). As in the paper (a cooldown
 * is a fraction of the TOTAL steps of the run it ends), branch b's decay is the last
 * D_b = round(F·T_b) of its own T_b steps, F = `--decay-fraction`: it leaves the main branch after
 * step s_b = T_b − D_b and follows the wsd schedule of a T_b-step run from there. The main branch
 * uses the wsd rate of every budget's stable phase (warm-up, then the peak rate), i.e. `constant`
 * with the same warm-up, and runs to the largest budget, so that every decay can be compared
 * with the constant-rate run over the same steps.
 *
 * Exactness. Up to s_b the main branch and a plain wsd run of T_b steps take the same updates
 * at the same rates on the same shuffled batches; the branch resumes from the main branch's exact
 * snapshot at s_b (weights, optimizer state and step, this epoch's order, the shuffle stream, the
 * epoch's partial loss sum: trainer.ts's resume), so it ends bit for bit where the plain run ends
 * on the same backend (test/unit/train/branches.test.ts).
 */
import { join } from 'node:path';
import type { Tensor } from '../backends/backend.js';
import { fail } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { makeOutputDir } from '../io/output-plan.js';
import { type NamedTensor, encodeSafetensors } from '../io/safetensors.js';
import { Mlp } from '../model/mlp.js';
import { type LinePlot, writePlot } from '../plot/index.js';
import { accuracy, evaluateSamples, meanLoss } from './evaluate.js';
import type { OptimizerConfig } from './optimizer.js';
import { type SafConfig, checkSafConfig } from './saf.js';
import { type ScheduleConfig, type ScheduleFieldNames, compileSchedule } from './schedule.js';
import { type TrainOptions, type TrainResult, type TrainResume, type TrainSet, type TrainSnapshot, stepsPerEpoch, train } from './trainer.js';

/** One decay branch: its budget and where it leaves the main branch. */
export interface BranchPlan {
  /** The fraction of the run's epochs as given. */
  fraction: number;
  /** E_b = round(fraction·E) epochs, T_b = E_b·stepsPerEpoch updates. */
  epochs: number;
  steps: number;
  /** D_b = round(F·T_b): the decay's length; the branch leaves the main branch after step start = T_b − D_b. */
  decaySteps: number;
  start: number;
}

/** How errors name the branch fractions (the CLI: --branch-at) and the schedule's fields. */
export interface BranchFieldNames extends ScheduleFieldNames {
  branchAt?: string;
}

/**
 * Checks what does not depend on the run's length: a wsd schedule, fractions in (0, 1], strictly
 * increasing, no duplicates. One E_ARG naming the field.
 */
export function checkBranchFractions(branchAt: readonly number[], schedule: ScheduleConfig, names: BranchFieldNames = {}): void {
  const field = names.branchAt ?? 'branchAt';
  if (schedule.name !== 'wsd') fail('E_ARG', `branching needs the wsd schedule (a constant main branch and a decay per budget); the schedule is ${schedule.name}`, { field });
  if (!Array.isArray(branchAt) || branchAt.length === 0) fail('E_ARG', 'expected at least one fraction of the run, e.g. 0.25,0.5,1', { field });
  branchAt.forEach((f, k) => {
    if (typeof f !== 'number' || !(Number.isFinite(f) && f > 0 && f <= 1)) fail('E_ARG', `expected fractions of the run in (0, 1]; entry ${k + 1} is ${String(f)}`, { field });
    const prev = branchAt[k - 1];
    if (prev !== undefined && f === prev) fail('E_ARG', `fraction ${f} is given twice (entries ${k} and ${k + 1}); expected each budget once`, { field });
    if (prev !== undefined && f < prev) fail('E_ARG', `expected increasing fractions; entry ${k + 1} (${f}) comes after ${prev}`, { field });
  });
}

/**
 * The branches of a run of `epochs` epochs of `perEpoch` steps: budgets in whole epochs, decays,
 * branch points. Validates everything, including each branch's wsd schedule for its T_b steps.
 */
export function planBranches(branchAt: readonly number[], epochs: number, perEpoch: number, lr: number, schedule: ScheduleConfig, names: BranchFieldNames = {}): BranchPlan[] {
  checkBranchFractions(branchAt, schedule, names);
  const field = names.branchAt ?? 'branchAt';
  const out: BranchPlan[] = [];
  for (const f of branchAt) {
    const e = Math.round(f * epochs);
    if (e < 1) fail('E_ARG', `fraction ${f} of ${epochs} epochs rounds to 0 epochs; budgets are whole epochs: expected a fraction ≥ ${0.5 / epochs} or more epochs`, { field });
    const prev = out.at(-1);
    if (prev && prev.epochs === e) fail('E_ARG', `fractions ${prev.fraction} and ${f} of ${epochs} epochs both round to ${e} epochs; budgets are whole epochs: expected fractions further apart or more epochs`, { field });
    const T = e * perEpoch;
    const c = compileSchedule(lr, T, schedule, names);
    const D = Math.round(c.config.decayFraction! * T);
    if (D >= T) fail('E_ARG', `the branch at ${f} decays over all its ${T} steps (round(F·T) = ${D}): there is no stable phase to branch from; expected a decay fraction below 1`, { field: names.decayFraction ?? 'decayFraction' });
    out.push({ fraction: f, epochs: e, steps: T, decaySteps: D, start: T - D });
  }
  return out;
}

/** The main branch's schedule: every budget's wsd rate before its decay (warm-up, then the peak). */
export function mainBranchSchedule(schedule: ScheduleConfig): ScheduleConfig {
  return { name: 'constant', warmupSteps: schedule.warmupSteps };
}

/** Rows to evaluate on (on the model's backend) and their labels. */
export interface EvalSet {
  x: Tensor;
  labels: Int32Array;
}

export interface CurvePoint {
  step: number;
  loss: number;
  accuracy: number;
}

/** A run's loss curves. */
export interface Curve {
  /** The 0-based update of trainLoss[0] (0, or where a branch starts). */
  firstStep: number;
  /** Mean loss of the mini-batch each update used (before it), one per update. */
  trainLoss: number[];
  /** The evaluation set's mean loss and accuracy after these steps (the first: before training). */
  eval: CurvePoint[];
}

/** Something measured along a run at chosen steps (the river-valley probe, curvature/river-valley.ts). */
export interface StepWatcher {
  /** Before training from step `from`. */
  begin?(from: number): Promise<void>;
  /** The steps in (from, to] after which `at` must be called. */
  steps(from: number, to: number): number[];
  at(step: number): Promise<unknown>;
}

export interface CurveOptions {
  /** Evaluated before training, after every `evalEvery`-th step and after the last. */
  evalSet?: EvalSet;
  evalEvery?: number;
  /** Also evaluated after these steps. */
  evalAt?: readonly number[];
  watch?: StepWatcher;
}

/**
 * `train()` recording the curves: every update's mini-batch loss and the evaluation set's loss
 * and accuracy every `evalEvery` steps. The options' own onProbe/probeAt/onBatchLoss are taken.
 */
export async function trainWithCurve(model: Mlp, data: TrainSet, o: Omit<TrainOptions, 'onProbe' | 'probeAt' | 'probeEvery' | 'onBatchLoss'>, c: CurveOptions = {}): Promise<{ result: TrainResult; curve: Curve }> {
  const n = data.rows?.length ?? data.x.shape[0]!;
  const total = stepsPerEpoch(n, o.batchSize) * o.epochs;
  const from = o.resume?.step ?? 0;
  const every = c.evalEvery ?? 50;
  if (!Number.isSafeInteger(every) || every < 1) fail('E_ARG', `expected a positive integer, got ${every}`, { field: 'evalEvery' });
  const evalSteps = new Set<number>();
  if (c.evalSet) {
    for (let t = (Math.floor(from / every) + 1) * every; t <= total; t += every) evalSteps.add(t);
    for (const t of c.evalAt ?? []) if (t > from && t <= total) evalSteps.add(t);
    evalSteps.add(total);
  }
  const watchSteps = new Set(c.watch ? c.watch.steps(from, total) : []);
  const curve: Curve = { firstStep: from, trainLoss: new Array<number>(Math.max(0, total - from)).fill(NaN), eval: [] };
  const evaluate = async (step: number) => {
    const m = await evaluateSamples(model, c.evalSet!.x, c.evalSet!.labels);
    curve.eval.push({ step, loss: meanLoss(m), accuracy: accuracy(m) });
  };
  // probeAt calls come in step order, so the evaluations do too.
  if (c.evalSet) await evaluate(from);
  await c.watch?.begin?.(from);
  const result = await train(model, data, {
    ...o,
    probeAt: [...new Set([...evalSteps, ...watchSteps])].sort((a, b) => a - b),
    onProbe: async (t) => {
      if (evalSteps.has(t)) await evaluate(t);
      if (watchSteps.has(t)) await c.watch!.at(t);
    },
    onBatchLoss: (_e, _rows, loss, step) => {
      let s = 0;
      for (let i = 0; i < loss.length; i++) s += loss[i]!;
      curve.trainLoss[step - from] = s / loss.length;
    },
  });
  return { result, curve };
}

export interface WsdBranchConfig {
  /** E: the run's epochs (fractions are of E); the main branch runs round(max fraction·E). */
  epochs: number;
  batchSize: number;
  optimizer: OptimizerConfig;
  /** The wsd schedule every branch follows (warm-up, decay fraction F, shape, final ratio). */
  schedule: ScheduleConfig;
  seed: number;
  branchAt: readonly number[];
  fused?: boolean;
  /** Evaluation of `sets.eval` every this many steps (default 50). */
  evalEvery?: number;
  /** SAF on every branch (train/saf.ts): the snapshots at the branch points carry its state. */
  saf?: SafConfig;
}

export interface WsdBranchHooks {
  /** Something to measure along the main branch (branch undefined) or a decay branch, on the model that trains it. */
  watch?: (branch: BranchPlan | undefined, model: Mlp) => StepWatcher | undefined;
  /** The main branch's snapshot at a branch point (the CLI writes it as a checkpoint). */
  onBranchPoint?: (s: TrainSnapshot, model: Mlp) => Promise<void>;
  /** Progress over all the updates of the main branch and the branches. */
  onProgress?: (done: number, total: number, what: string) => void;
}

export interface Final {
  loss: number;
  accuracy: number;
}

export interface BranchRun {
  curve: Curve;
  /** Mean training loss of every epoch (a branch's first ones are the main branch's). */
  epochLoss: number[];
  val?: Final;
  test?: Final;
  weights: NamedTensor[];
}

export interface WsdBranchesResult {
  perEpoch: number;
  branches: (BranchPlan & BranchRun)[];
  /** The main branch, at the constant rate to the largest budget. */
  main: BranchRun & { epochs: number; steps: number };
}

interface Saved {
  resume: TrainResume;
  weights: Map<string, Float32Array>;
}

/**
 * Runs the main branch once, snapshotting it at every branch point, then each decay branch from
 * its snapshot. `sets.eval` gives the curves, `sets.val`/`sets.test` the final numbers of each.
 */
export async function runWsdBranches(
  model: Mlp,
  data: TrainSet,
  sets: { eval?: EvalSet; val?: EvalSet; test?: EvalSet },
  cfg: WsdBranchConfig,
  hooks: WsdBranchHooks = {},
): Promise<WsdBranchesResult> {
  const n = data.rows?.length ?? data.x.shape[0]!;
  if (n === 0) fail('E_ARG', 'no training samples');
  const perEpoch = stepsPerEpoch(n, cfg.batchSize);
  const plan = planBranches(cfg.branchAt, cfg.epochs, perEpoch, cfg.optimizer.lr, cfg.schedule);
  const mainEpochs = plan.at(-1)!.epochs;
  const least = Math.min(...plan.map((p) => p.epochs));
  if (cfg.saf && checkSafConfig(cfg.saf).epochs >= least) fail('E_ARG', `epochs=${cfg.saf.epochs}: the SAF term compares with outputs recorded E epochs earlier, so E must be below the smallest budget's ${least} epochs`, { field: 'saf' });
  const mainSteps = mainEpochs * perEpoch;
  const all = mainSteps + plan.reduce((s, p) => s + p.decaySteps, 0);
  let done = 0;
  const progress = (what: string) => (t: number) => hooks.onProgress?.(done + t, all, what);
  const finals = async (m: Mlp) => {
    const one = async (s: EvalSet | undefined) => {
      if (!s) return undefined;
      const r = await evaluateSamples(m, s.x, s.labels);
      return { loss: meanLoss(r), accuracy: accuracy(r) };
    };
    return { val: await one(sets.val), test: await one(sets.test) };
  };
  const base = { batchSize: cfg.batchSize, optimizer: cfg.optimizer, seed: cfg.seed, fused: cfg.fused, ...(cfg.saf ? { saf: cfg.saf } : {}) };

  // The main branch, with a snapshot at every branch point (several branches may share one).
  const saved = new Map<number, Saved>();
  const starts = [...new Set(plan.map((p) => p.start))];
  const names = model.params.map((p) => p.name);
  const mainProgress = progress('main branch');
  const mainRun = await trainWithCurve(
    model,
    data,
    {
      ...base,
      epochs: mainEpochs,
      schedule: mainBranchSchedule(cfg.schedule),
      saveAt: starts,
      onSave: async (s) => {
        const state = await s.optimizer.stateToHost(names);
        const weights = new Map((await model.toHost()).map((t) => [t.name, t.data]));
        const { optimizer: _o, ...pos } = s;
        saved.set(s.step, { resume: { ...pos, order: Int32Array.from(pos.order), optimizerState: new Map(state.map((t) => [t.name, t])) }, weights });
        await hooks.onBranchPoint?.(s, model);
      },
      onStep: (t) => mainProgress(t),
    },
    // Also at every branch point and budget: where each branch starts, and the constant run it is compared with.
    { evalSet: sets.eval, evalEvery: cfg.evalEvery, evalAt: plan.flatMap((p) => [p.start, p.steps]), watch: hooks.watch?.(undefined, model) },
  );
  done += mainSteps;
  const main = { epochs: mainEpochs, steps: mainSteps, curve: mainRun.curve, epochLoss: mainRun.result.epochLoss, ...(await finals(model)), weights: await model.toHost() };

  const branches: (BranchPlan & BranchRun)[] = [];
  for (const p of plan) {
    // A branch without decay (round(F·T_b) = 0) resumes at its last step: only that epoch's end is left.
    const from = saved.get(p.start);
    if (!from) fail('E_INTERNAL', `no snapshot of the main branch at step ${p.start}`);
    const m = Mlp.fromHost(model.backend, model.description, from.weights, `main branch at step ${p.start}`);
    try {
      const bp = progress(`branch ${p.fraction}`);
      const r = await trainWithCurve(
        m,
        data,
        { ...base, epochs: p.epochs, schedule: cfg.schedule, resume: from.resume, onStep: (t) => bp(t - p.start) },
        { evalSet: sets.eval, evalEvery: cfg.evalEvery, watch: hooks.watch?.(p, m) },
      );
      done += p.decaySteps;
      branches.push({ ...p, curve: r.curve, epochLoss: r.result.epochLoss, ...(await finals(m)), weights: await m.toHost() });
    } finally {
      m.dispose();
    }
  }
  return { perEpoch, branches, main };
}

/** The directory of a branch in a run directory: `branch-<fraction as given>`. */
export function branchDir(fraction: number): string {
  return `branch-${fraction}`;
}

export const BRANCH_SUMMARY = 'branches.json';
export const BRANCH_PLOT = 'losses';

/** The files `writeWsdBranches` writes, relative to the run directory. */
export function wsdBranchFiles(plan: readonly BranchPlan[]): string[] {
  return [
    BRANCH_SUMMARY,
    `${BRANCH_PLOT}.svg`,
    `${BRANCH_PLOT}.png`,
    join('main', 'curve.json'),
    join('main', 'weights.safetensors'),
    ...plan.flatMap((p) => [join(branchDir(p.fraction), 'curve.json'), join(branchDir(p.fraction), 'weights.safetensors')]),
  ];
}

/**
 * Writes the run: every branch's curve (curve.json) and final weights (weights.safetensors, the
 * main branch's at its end), the summary (branches.json: `info`, the plan, final numbers, no
 * curves) and one plot of the main branch and every branch. Returns the summary.
 */
export async function writeWsdBranches(dir: string, r: WsdBranchesResult, info: Record<string, unknown>, metadata: Record<string, string> = {}): Promise<object> {
  const made = makeOutputDir(dir);
  try {
    const finalsOf = (b: BranchRun) => ({ ...(b.val ? { val: b.val } : {}), ...(b.test ? { test: b.test } : {}), lastEpochLoss: b.epochLoss.at(-1) });
    const write = (sub: string, b: BranchRun, extra: object) => {
      makeOutputDir(join(dir, sub));
      writeFileAtomic(join(dir, sub, 'curve.json'), JSON.stringify({ format: 'riverbed.curve', version: 1, ...extra, ...b.curve, epochLoss: b.epochLoss, ...finalsOf(b) }) + '\n');
      writeFileAtomic(join(dir, sub, 'weights.safetensors'), encodeSafetensors(b.weights, { format: 'pt', ...metadata }));
    };
    write('main', r.main, { branch: 'main', epochs: r.main.epochs, steps: r.main.steps });
    for (const b of r.branches) write(branchDir(b.fraction), b, { branch: b.fraction, epochs: b.epochs, steps: b.steps, decaySteps: b.decaySteps, start: b.start });
    const summary = {
      format: 'riverbed.wsd-branches',
      version: 1,
      ...info,
      stepsPerEpoch: r.perEpoch,
      main: { dir: 'main', epochs: r.main.epochs, steps: r.main.steps, ...finalsOf(r.main) },
      branches: r.branches.map((b) => ({ dir: branchDir(b.fraction), fraction: b.fraction, epochs: b.epochs, steps: b.steps, decaySteps: b.decaySteps, start: b.start, ...finalsOf(b) })),
    };
    await writePlot(branchPlot(r), join(dir, BRANCH_PLOT));
    writeFileAtomic(join(dir, BRANCH_SUMMARY), JSON.stringify(summary, null, 1) + '\n');
    return summary;
  } catch (e) {
    made.undo();
    throw e;
  }
}

/**
 * The plot: the evaluation loss of the main branch and every branch against the step (without an
 * evaluation set: the training loss averaged over windows of about 1 % of the main branch).
 */
export function branchPlot(r: WsdBranchesResult, title = 'WSD: the constant main branch and a decay branch per budget'): LinePlot {
  const evals = r.main.curve.eval.length > 0;
  const window = Math.max(1, Math.round(r.main.steps / 100));
  const series = (name: string, c: Curve) => {
    if (evals) return { name, x: c.eval.map((p) => p.step), y: c.eval.map((p) => p.loss) };
    const x: number[] = [];
    const y: number[] = [];
    for (let i = 0; i < c.trainLoss.length; i += window) {
      const part = c.trainLoss.slice(i, i + window);
      x.push(c.firstStep + i + part.length);
      y.push(part.reduce((a, v) => a + v, 0) / part.length);
    }
    return { name, x, y };
  };
  return {
    title,
    xLabel: 'optimizer step',
    yLabel: evals ? 'evaluation loss' : `training loss (mean over ${window} steps)`,
    yScale: 'log',
    series: [series('main (constant)', r.main.curve), ...r.branches.map((b) => series(`decay to ${b.steps} (${b.fraction})`, b.curve))],
  };
}
