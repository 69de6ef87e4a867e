/**
 * Continual learning, as CLASSP's experiments pose it, measured on the test splits: one model
 * trains on a sequence of tasks (one shared 10-way output layer), and after each task its accuracy
 * on every task's test set is recorded — the accuracy matrix A[i][j] = accuracy on task j after
 * training task i.
 *
 *   average final accuracy  = mean_j A[T−1][j]
 *   forgetting of task j    = max_{i < T−1} A[i][j] − A[T−1][j]   (best earlier minus final; j < T−1)
 *   forgetting              = mean of that over j < T−1
 *
 * Methods: `sgd` (plain SGD, no momentum), `adagrad`, `classp` (the paper's rule), `ewc` (plain SGD
 * plus the EWC penalty of every earlier task, train/ewc.ts). One optimizer serves the whole
 * sequence, so AdaGrad's and CLASSP's accumulators carry over from task to task, as CLASSP
 * intends (weights updated much on earlier tasks move less later). The rate is constant.
 *
 * Tasks: `mnist,fashion-mnist` (any list of mnist | fashion-mnist, each its own standardisation) or
 * `permuted-mnist:K` (K tasks; task 1 is MNIST as is, task k > 1 permutes the 784 pixels by a
 * fixed permutation drawn from Rng.derive(0, "permuted-mnist/k"); the same for every seed).
 */
import type { Backend } from '../backends/backend.js';
import type { Dataset } from '../data/dataset.js';
import { loadFashionMnist } from '../data/fashion.js';
import { loadMnist } from '../data/mnist.js';
import { fail } from '../errors.js';
import { mlpDescription } from '../model/description.js';
import { Mlp } from '../model/mlp.js';
import { Rng } from '../model/rng.js';
import { EWC_DEFAULT_LAMBDA, Ewc } from './ewc.js';
import { accuracy, evaluateSamples } from './evaluate.js';
import { Optimizer, type OptimizerConfig, type OptimizerName, optimizerConfig } from './optimizer.js';
import { train } from './trainer.js';

export type ContinualMethod = 'sgd' | 'adagrad' | 'classp' | 'ewc';
export const CONTINUAL_METHODS: readonly ContinualMethod[] = ['sgd', 'adagrad', 'classp', 'ewc'];
/** Default learning rates: plain SGD 0.05 (also under EWC), AdaGrad 0.01 (PyTorch), CLASSP 0.2 (the paper). */
export const CONTINUAL_DEFAULT_LR: Record<ContinualMethod, number> = { sgd: 0.05, adagrad: 0.01, classp: 0.2, ewc: 0.05 };

export interface ContinualTask {
  name: string;
  train: Dataset;
  test: Dataset;
}

export type TaskSpec = { kind: 'list'; names: ('mnist' | 'fashion-mnist')[] } | { kind: 'permuted'; count: number };

/** `mnist,fashion-mnist` (a list of mnist | fashion-mnist) or `permuted-mnist:K` (K ≥ 2). */
export function parseTasks(spec: string, field = '--tasks'): TaskSpec {
  const m = /^permuted-mnist:(\d+)$/.exec(spec);
  if (m) {
    const count = Number(m[1]);
    if (!(count >= 2 && count <= 100)) fail('E_ARG', `permuted-mnist needs 2..100 tasks, got ${m[1]}`, { field });
    return { kind: 'permuted', count };
  }
  const names = spec.split(',').map((s) => s.trim());
  for (const n of names) {
    if (n !== 'mnist' && n !== 'fashion-mnist') fail('E_ARG', `unknown task "${n}"; expected a list of mnist, fashion-mnist, or permuted-mnist:K`, { field });
  }
  if (names.length < 2) fail('E_ARG', `a continual run needs at least 2 tasks, got "${spec}"`, { field });
  return { kind: 'list', names: names as ('mnist' | 'fashion-mnist')[] };
}

export function parseMethods(spec: string, field = '--methods'): ContinualMethod[] {
  const out = spec.split(',').map((s) => s.trim());
  for (const m of out) if (!(CONTINUAL_METHODS as readonly string[]).includes(m)) fail('E_ARG', `unknown method "${m}"; expected a list of ${CONTINUAL_METHODS.join(', ')}`, { field });
  if (new Set(out).size !== out.length) fail('E_ARG', `a method is listed twice in "${spec}"`, { field });
  return out as ContinualMethod[];
}

/** The pixels of every row reordered: out[:, i] = in[:, perm[i]]. */
export function permutePixels(ds: Dataset, perm: Int32Array, name: string): Dataset {
  const D = ds.features;
  if (perm.length !== D) fail('E_INTERNAL', `permutation of ${perm.length} for ${D} features`);
  const inputs = new Float32Array(ds.inputs.length);
  for (let r = 0; r < ds.count; r++) for (let i = 0; i < D; i++) inputs[r * D + i] = ds.inputs[r * D + perm[i]!]!;
  const { shape: _shape, ...rest } = ds; // a permuted image is no longer an image
  return { ...rest, name, inputs };
}

/** Loads the tasks: `trainSize` training rows of each (the same rows for every seed), the whole test split. */
export async function loadTasks(spec: TaskSpec, trainSize: number): Promise<ContinualTask[]> {
  if (spec.kind === 'permuted') {
    const s = await loadMnist({ seed: 0, trainSize, valSize: 0 });
    return Array.from({ length: spec.count }, (_, k) => {
      if (k === 0) return { name: 'permuted-mnist/1', train: s.train, test: s.test };
      const perm = Rng.derive(0, `permuted-mnist/${k + 1}`).permutation(s.train.features);
      return { name: `permuted-mnist/${k + 1}`, train: permutePixels(s.train, perm, `permuted-mnist/${k + 1}/train`), test: permutePixels(s.test, perm, `permuted-mnist/${k + 1}/test`) };
    });
  }
  const cache = new Map<string, ContinualTask>();
  for (const n of new Set(spec.names)) {
    const s = n === 'mnist' ? await loadMnist({ seed: 0, trainSize, valSize: 0 }) : await loadFashionMnist({ seed: 0, trainSize, valSize: 0 });
    cache.set(n, { name: n, train: s.train, test: s.test });
  }
  return spec.names.map((n) => cache.get(n)!);
}

export interface ContinualOptions {
  hidden: number[];
  epochs: number;
  batchSize: number;
  /** Learning rate per method (default CONTINUAL_DEFAULT_LR). */
  lr?: Partial<Record<ContinualMethod, number>>;
  ewcLambda?: number;
  /** CLASSP's hyper-parameters other than the rate (default: the optimizer's). */
  classp?: Partial<Pick<OptimizerConfig, 'eps' | 'power' | 'threshold'>>;
  /** Called after each task with the accuracies on every task's test set. */
  onTask?: (task: number, accuracies: number[]) => void;
}

export interface ContinualRun {
  method: ContinualMethod;
  seed: number;
  optimizer: OptimizerConfig;
  ewcLambda?: number;
  /** accuracy[i][j]: on task j's test split after training task i. */
  accuracy: number[][];
  averageFinal: number;
  forgetting: number;
  /** Per task j < T−1: best earlier minus final accuracy. */
  forgettingPerTask: number[];
  /** Mean training loss of each task's last epoch. */
  finalLoss: number[];
  /** classp: mean fraction of coordinates a step moved, per task. */
  movedFraction?: number[];
  seconds: number;
}

/** Average final accuracy and forgetting of an accuracy matrix (see the module comment). */
export function summarizeAccuracy(acc: readonly (readonly number[])[]): { averageFinal: number; forgetting: number; forgettingPerTask: number[] } {
  const T = acc.length;
  if (T < 1 || acc.some((r) => r.length !== T)) fail('E_SHAPE', `an accuracy matrix is T×T; got ${T} rows of lengths ${acc.map((r) => r.length).join(', ')}`);
  const last = acc[T - 1]!;
  const averageFinal = last.reduce((a, b) => a + b, 0) / T;
  const forgettingPerTask = Array.from({ length: T - 1 }, (_, j) => Math.max(...acc.slice(j, T - 1).map((r) => r[j]!)) - last[j]!);
  const forgetting = forgettingPerTask.length ? forgettingPerTask.reduce((a, b) => a + b, 0) / forgettingPerTask.length : 0;
  return { averageFinal, forgetting, forgettingPerTask };
}

export function methodOptimizer(method: ContinualMethod, o: ContinualOptions): OptimizerConfig {
  const lr = o.lr?.[method] ?? CONTINUAL_DEFAULT_LR[method];
  const name: OptimizerName = method === 'ewc' ? 'sgd' : method;
  if (name === 'sgd') return optimizerConfig('sgd', { lr, momentum: 0 });
  if (name === 'classp') return optimizerConfig('classp', { lr, ...o.classp });
  return optimizerConfig(name, { lr });
}

/** One method, one seed, through the whole task sequence (initialisation and shuffling from `seed`). */
export async function runContinual(backend: Backend, tasks: readonly ContinualTask[], method: ContinualMethod, seed: number, o: ContinualOptions): Promise<ContinualRun> {
  const t0 = performance.now();
  const D = tasks[0]!.train.features;
  if (tasks.some((t) => t.train.features !== D || t.test.features !== D)) fail('E_SHAPE', 'every task must have the same number of input features');
  const model = Mlp.init(backend, mlpDescription(D, o.hidden, 10), seed);
  const cfg = methodOptimizer(method, o);
  const opt = new Optimizer(backend, model, cfg);
  const ewc = method === 'ewc' ? new Ewc(model, o.ewcLambda ?? EWC_DEFAULT_LAMBDA) : undefined;
  const dev = tasks.map((t) => ({ x: backend.upload(t.train.inputs, [t.train.count, D]), tx: backend.upload(t.test.inputs, [t.test.count, D]) }));
  const accuracyMatrix: number[][] = [];
  const finalLoss: number[] = [];
  const moved: number[] = [];
  try {
    for (let i = 0; i < tasks.length; i++) {
      const task = tasks[i]!;
      const r = await train(model, { x: dev[i]!.x, labels: task.train.labels }, {
        epochs: o.epochs,
        batchSize: o.batchSize,
        optimizer: cfg,
        schedule: { name: 'constant', warmupSteps: 0 },
        seed: seed * 1000 + i, // another order per task and seed
        optimizerInstance: opt,
        ...(ewc && ewc.tasks > 0 ? { penalty: ewc } : {}),
      });
      finalLoss.push(r.epochLoss.at(-1)!);
      if (r.updateFraction) moved.push(r.updateFraction.reduce((a, b) => a + b, 0) / r.updateFraction.length);
      if (i < tasks.length - 1) ewc?.consolidate({ x: dev[i]!.x, labels: task.train.labels }, o.batchSize);
      const row: number[] = [];
      for (let j = 0; j < tasks.length; j++) row.push(accuracy(await evaluateSamples(model, dev[j]!.tx, tasks[j]!.test.labels)));
      accuracyMatrix.push(row);
      o.onTask?.(i, row);
    }
  } finally {
    for (const d of dev) {
      backend.free(d.x);
      backend.free(d.tx);
    }
    ewc?.dispose();
    opt.dispose();
    model.dispose();
  }
  return {
    method,
    seed,
    optimizer: cfg,
    ...(ewc ? { ewcLambda: ewc.lambda } : {}),
    accuracy: accuracyMatrix,
    ...summarizeAccuracy(accuracyMatrix),
    finalLoss,
    ...(moved.length ? { movedFraction: moved } : {}),
    seconds: (performance.now() - t0) / 1000,
  };
}
