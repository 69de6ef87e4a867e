/**
 * The method registry: every coreset method riverbed ships, by name, scored from a recorded run
 * (`riverbed train --record DIR`) or from arrays, with the end of the score it keeps and its paper.
 * `riverbed coreset <method>` and `riverbed coreset evaluate` both go through here.
 *
 * Checkpoints: the baselines use the rows recorded after training epochs (an "init" row, if
 * recorded, is skipped: it is not part of training dynamics). CLD uses every recorded row,
 * including "init" unless `includeInit: false` — the same rows `riverbed coreset cld` gets from
 * the files.
 *
 * Stable API (used by `coreset evaluate`): METHOD_NAMES, METHODS, parseMethodName, methodNeeds,
 * methodScores, methodSelect, scoreRecordedRun, selectFromRecordedRun, loadRecordedRun.
 */
import type { Backend } from '../backends/backend.js';
import { fail } from '../errors.js';
import { aumScores } from './baselines/aum.js';
import { dynUncScores } from './baselines/dynunc.js';
import { el2nScores } from './baselines/el2n.js';
import { forgettingScores } from './baselines/forgetting.js';
import { randomScores } from './baselines/random.js';
import { ccsSelect } from './ccs.js';
import { cldScores } from './cld.js';
import { type Metric, type RecordedRun, datasetRows, loadRecordedRun, pickRows, trainedRows } from './recorded.js';
import { type Budget, type BudgetOptions, type Keep, selectPerClassWith, validateBudget } from './select.js';

export { datasetRows, loadRecordedRun, positionsOfRows, type RecordedRun, type SplitArrays, type Checkpoint, type Metric } from './recorded.js';
export type { Keep, BudgetOptions, BudgetMode, Budget } from './select.js';

export const METHOD_NAMES = ['cld', 'random', 'forgetting', 'el2n', 'aum', 'dynunc', 'ccs'] as const;
export type MethodName = (typeof METHOD_NAMES)[number];
/** Methods that give every sample a score (CCS is a sampler over one of them). */
export type ScoreMethodName = Exclude<MethodName, 'ccs'>;

export interface MethodInfo {
  name: MethodName;
  title: string;
  paper: string;
  formula: string;
  /** Which end of the score is kept; 'stratified' for CCS. */
  keep: Keep | 'stratified';
  /** The end CCS cuts as "hard" by default when stratifying over this score. */
  hard: 'high' | 'low';
  /** Recorded metrics the score reads. */
  needs: { train: Metric[]; val: Metric[] };
}

export const METHODS: Readonly<Record<MethodName, MethodInfo>> = {
  cld: {
    name: 'cld',
    title: 'CLD: correlation of loss differences',
    paper: 'Coresets from Trajectories: Selecting Data via Correlation of Loss Differences (2025)',
    formula: 'r_i = Pearson(diff(loss_i), diff(mean val loss of class y_i)) over checkpoints',
    keep: 'highest',
    hard: 'low', // anti-correlated samples move against their class: the label-noise end
    needs: { train: ['loss'], val: ['loss'] },
  },
  random: {
    name: 'random',
    title: 'uniform random subset of each class (seeded)',
    paper: '—',
    formula: 'u_i ~ U[0, 1) from Rng.derive(seed, "coreset.random")',
    keep: 'highest',
    hard: 'high',
    needs: { train: [], val: [] },
  },
  forgetting: {
    name: 'forgetting',
    title: 'forgetting events',
    paper: 'Toneva et al., An Empirical Study of Example Forgetting during Deep Neural Network Learning (ICLR 2019)',
    formula: '#{t : correct_i[t] = 1, correct_i[t+1] = 0}; never learned = E (most forgotten)',
    keep: 'highest',
    hard: 'high',
    needs: { train: ['correct'], val: [] },
  },
  el2n: {
    name: 'el2n',
    title: 'EL2N: error L2 norm early in training',
    paper: 'Paul, Ganguli, Dziugaite, Deep Learning on a Data Diet (NeurIPS 2021)',
    formula: 'mean over epochs 1..k of ‖softmax(f_t(x_i)) − onehot(y_i)‖₂ (k = --epochs)',
    keep: 'highest',
    hard: 'high',
    needs: { train: ['errorNorm'], val: [] },
  },
  aum: {
    name: 'aum',
    title: 'AUM: area under the margin',
    paper: 'Pleiss et al., Identifying Mislabeled Data using the Area Under the Margin Ranking (NeurIPS 2020)',
    formula: '(1/T) Σ_{t=1..T} (z_{y_i}(t) − max_{j≠y_i} z_j(t)) over ALL epochs',
    keep: 'lowest',
    hard: 'low',
    needs: { train: ['margin'], val: [] },
  },
  dynunc: {
    name: 'dynunc',
    title: 'dynamic uncertainty',
    paper: 'He et al., Large-scale Dataset Pruning with Dynamic Uncertainty (arXiv 2306.05175, 2023)',
    formula: 'mean over sliding windows k of std_{t=k..k+J−1} exp(−loss_i(t)) (sample std, J = --window)',
    keep: 'highest',
    hard: 'high',
    needs: { train: ['loss'], val: [] },
  },
  ccs: {
    name: 'ccs',
    title: 'CCS: coverage-centric stratified sampling over a score',
    paper: 'Zheng et al., Coverage-centric Coreset Selection for High Pruning Rates (ICLR 2023)',
    formula: 'drop the hardest β of each class, k equal-width score strata, iterative budget sharing from the smallest stratum, random within a stratum',
    keep: 'stratified',
    hard: 'high',
    needs: { train: [], val: [] },
  },
};

export function parseMethodName(s: string, field = 'method'): MethodName {
  if (!(METHOD_NAMES as readonly string[]).includes(s)) fail('E_ARG', `unknown method "${s}"; expected one of ${METHOD_NAMES.join(', ')}`, { field });
  return s as MethodName;
}

export interface MethodParams {
  /** random, ccs: seed (default 0). */
  seed?: number;
  /** el2n: average over the first k trained epochs (default ⌈E/10⌉, the paper scores at ~10% of training). */
  epochs?: number;
  /** dynunc: window J (default min(10, E), the paper's J = 10). */
  window?: number;
  /** ccs: the score to stratify (default 'aum', the paper's). */
  over?: ScoreMethodName;
  /** ccs: hard cutoff β (default 0). */
  cutoff?: number;
  /** ccs: number of strata (default 50). */
  strata?: number;
  /** ccs: which end of the score is cut as hard (default METHODS[over].hard). */
  cut?: 'high' | 'low';
  /** Keep the OTHER end of the ranking (e.g. the bottom-ranked CLD samples). Not for ccs. */
  reverse?: boolean;
  /** cld: the backend for the kernel (default: selectBackend('auto'), disposed after). */
  backend?: Backend;
  /** cld: use the "init" row when the run recorded one (default true). */
  includeInit?: boolean;
}

/** The recorded metrics `name` reads (for ccs, those of the score it stratifies). */
export function methodNeeds(name: MethodName, params: MethodParams = {}): { train: Metric[]; val: Metric[] } {
  return name === 'ccs' ? METHODS[params.over ?? 'aum'].needs : METHODS[name].needs;
}

function numClassesOf(...labels: (Int32Array | undefined)[]): number {
  let c = 0;
  for (const l of labels) if (l) for (let i = 0; i < l.length; i++) if (l[i]! + 1 > c) c = l[i]! + 1;
  return c;
}

function need<T>(v: T | undefined, what: string, run: RecordedRun): T {
  if (v === undefined) fail('E_ARG', `the run has no ${what}${run.dir ? '' : ' (pass it in the arrays)'}`, run.dir ? { file: run.dir } : { field: what });
  return v;
}

export interface MethodScores {
  /** One score per training sample, in the method's own units (see METHODS[name].formula). */
  scores: Float32Array;
  keep: Keep;
  numClasses: number;
  /** CLD only: classes with train samples but no validation samples (scores NaN, select nothing). */
  absentClasses: number[];
  /** The rows (checkpoint positions) the score used. */
  rows: number[];
  backend?: string;
}

/** Scores every training sample of `run` with a score method (for ccs: with `params.over`). */
export async function methodScores(name: MethodName, run: RecordedRun, params: MethodParams = {}): Promise<MethodScores> {
  const method: ScoreMethodName = name === 'ccs' ? (params.over ?? 'aum') : name;
  if (method === ('ccs' as string)) fail('E_ARG', 'ccs cannot stratify over itself', { field: '--over' });
  const N = run.train.samples;
  const labels = run.train.labels;
  const trained = trainedRows(run.checkpoints);
  const E = trained.length;
  const base = { keep: METHODS[method].keep as Keep, numClasses: numClassesOf(labels), absentClasses: [] as number[], rows: trained };
  const requireEpochs = (min: number) => {
    if (E < min) fail('E_ARG', `${method} needs at least ${min} trained epoch(s), the run has ${E}`, run.dir ? { file: run.dir } : { field: 'checkpoints' });
  };
  switch (method) {
    case 'random':
      return { ...base, scores: randomScores(N, params.seed ?? 0) };
    case 'forgetting':
      requireEpochs(1);
      return { ...base, scores: forgettingScores(pickRows(need(run.train.correct, 'train correct', run), N, trained), E, N) };
    case 'el2n': {
      requireEpochs(1);
      const k = params.epochs ?? Math.max(1, Math.ceil(E / 10));
      const rows = trained.slice(0, Math.min(k, E));
      if (k > E) fail('E_ARG', `EL2N epochs must be in 1..${E} (the recorded epochs), got ${k}`, { field: '--epochs' });
      return { ...base, rows, scores: el2nScores(pickRows(need(run.train.errorNorm, 'train error norms', run), N, trained), E, N, k) };
    }
    case 'aum':
      requireEpochs(1);
      return { ...base, scores: aumScores(pickRows(need(run.train.margin, 'train margins', run), N, trained), E, N) };
    case 'dynunc':
      requireEpochs(2);
      return { ...base, scores: dynUncScores(pickRows(need(run.train.loss, 'train loss', run), N, trained), E, N, params.window ?? Math.min(10, E)) };
    case 'cld': {
      const rows = params.includeInit === false ? trained : run.checkpoints.map((_, r) => r);
      const val = need(run.val, 'validation split', run);
      const trainLoss = pickRows(need(run.train.loss, 'train loss', run), N, rows);
      const valLoss = pickRows(need(val.loss, 'val loss', run), val.samples, rows);
      let backend = params.backend;
      let own = false;
      if (!backend) {
        const { selectBackend } = await import('../backends/select.js');
        backend = (await selectBackend('auto')).backend;
        own = true;
      }
      try {
        const r = await cldScores(backend, { trainLoss, epochs: rows.length, samples: N, trainLabels: labels, valLoss, valSamples: val.samples, valLabels: val.labels });
        return { scores: r.scores, keep: 'highest', numClasses: r.numClasses, absentClasses: r.absentClasses, rows, backend: backend.name };
      } finally {
        if (own) backend.dispose();
      }
    }
  }
}

export interface MethodSelection extends MethodScores {
  method: MethodName;
  /**
   * Selected samples as positions in the run's arrays (columns 0..N−1), grouped by class ascending;
   * within a class by rank (ccs: ascending index).
   */
  indices: Int32Array;
  /** The same samples as dataset rows (`indices` mapped through the run's `train_indices.npy`), when the run has them. */
  datasetIndices?: Int32Array;
  perClassSelected: number[];
}

/** Scores `run` with `name` and selects under `budget` and the budget options. */
export async function methodSelect(name: MethodName, run: RecordedRun, budget: Budget, params: MethodParams & BudgetOptions = {}): Promise<MethodSelection> {
  validateBudget(budget);
  const s = await methodScores(name, run, params);
  const absent = new Set(s.absentClasses);
  if (name === 'ccs') {
    if (params.reverse) fail('E_ARG', 'reverse does not apply to ccs', { field: '--reverse' });
    const over = params.over ?? 'aum';
    const sel = ccsSelect(s.scores, run.train.labels, s.numClasses, budget, { ...params, cut: params.cut ?? METHODS[over].hard }, absent);
    return { ...s, method: name, ...sel, ...(run.train.indices ? { datasetIndices: datasetRows(run.train, sel.indices) } : {}) };
  }
  const keep: Keep = params.reverse ? (s.keep === 'highest' ? 'lowest' : 'highest') : s.keep;
  const sel = selectPerClassWith(s.scores, run.train.labels, s.numClasses, budget, { ...params, keep }, absent);
  return { ...s, keep, method: name, ...sel, ...(run.train.indices ? { datasetIndices: datasetRows(run.train, sel.indices) } : {}) };
}

/** Loads what `name` needs from a recorded run directory and scores it. */
export async function scoreRecordedRun(name: MethodName, dir: string, params: MethodParams = {}): Promise<MethodScores> {
  return methodScores(name, await loadRecordedRun(dir, methodNeeds(name, params)), params);
}

/** Loads what `name` needs from a recorded run directory and selects. */
export async function selectFromRecordedRun(name: MethodName, dir: string, budget: Budget, params: MethodParams & BudgetOptions = {}): Promise<MethodSelection> {
  return methodSelect(name, await loadRecordedRun(dir, methodNeeds(name, params)), budget, params);
}
