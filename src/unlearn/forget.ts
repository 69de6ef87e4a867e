/**
 * The forget set: which training rows an unlearning method removes.
 *
 *   class:3        every training sample of class 3 (class:3,5 for several classes)
 *   random:500     500 training samples drawn uniformly (seeded)
 *   random:1%      1 % of the training samples, rounded (at least 1)
 *   indices:F.npy  the samples whose original dataset index is listed in F.npy (1-D integers):
 *                  for --dataset, the row of the bundled file (MNIST: the 60 000-digit training
 *                  file; Fashion-MNIST: the 70 000 images in class order); for --inputs, the row of
 *                  X.npy — exactly what a recorded run's train_indices.npy lists.
 *
 * Retain = the training set minus the forget set. Every way this can go wrong is one E_ARG line
 * naming --forget: an unknown class, a class without training samples, an empty forget set, a
 * forget set that is everything (nothing would be retained), an index outside the dataset or not in
 * the training split, a repeated index.
 */
import { fail } from '../errors.js';
import { loadIndices } from '../io/trajectory.js';
import { Rng } from '../model/rng.js';

export type ForgetSpec =
  | { kind: 'class'; classes: number[] }
  | { kind: 'random'; count: number }
  | { kind: 'random'; fraction: number }
  | { kind: 'indices'; path: string };

const FIELD = { field: '--forget' };

/** Parses `class:3`, `class:3,5`, `random:500`, `random:1%`, `indices:F.npy`. */
export function parseForgetSpec(value: string): ForgetSpec {
  const at = value.indexOf(':');
  const kind = at < 0 ? value : value.slice(0, at);
  const arg = at < 0 ? '' : value.slice(at + 1);
  const usage = 'expected class:C[,C…], random:N, random:P% or indices:F.npy';
  if (kind === 'class') {
    const parts = arg.split(',').map((s) => s.trim());
    if (arg === '' || parts.some((s) => !/^\d+$/.test(s))) fail('E_ARG', `"${value}": class:… takes class numbers (e.g. class:3 or class:3,5)`, FIELD);
    const classes = [...new Set(parts.map(Number))].sort((a, b) => a - b);
    if (classes.length !== parts.length) fail('E_ARG', `"${value}" names a class twice`, FIELD);
    return { kind: 'class', classes };
  }
  if (kind === 'random') {
    const pct = /^(\d+(?:\.\d+)?)%$/.exec(arg);
    if (pct) {
      const f = Number(pct[1]) / 100;
      if (!(f > 0 && f < 1)) fail('E_ARG', `"${value}": the percentage must be above 0 and below 100`, FIELD);
      return { kind: 'random', fraction: f };
    }
    if (!/^\d+$/.test(arg)) fail('E_ARG', `"${value}": random:… takes a count (random:500) or a percentage (random:1%)`, FIELD);
    const count = Number(arg);
    if (count < 1) fail('E_ARG', `"${value}": the forget set would be empty`, FIELD);
    return { kind: 'random', count };
  }
  if (kind === 'indices') {
    if (arg === '') fail('E_ARG', `"${value}": indices:… takes a .npy file of dataset indices`, FIELD);
    return { kind: 'indices', path: arg };
  }
  return fail('E_ARG', `"${value}": ${usage}`, FIELD);
}

/** The file a spec reads, if any (for the output rule and the run manifest). */
export function forgetInput(spec: ForgetSpec): string | undefined {
  return spec.kind === 'indices' ? spec.path : undefined;
}

export interface ForgetSplit {
  /** Rows of the training set that are forgotten, ascending. */
  forget: Int32Array;
  /** The other rows, ascending. */
  retain: Int32Array;
  /** One line: what was forgotten. */
  description: string;
  /** Classes with at least one forgotten sample, ascending. */
  forgetClasses: number[];
  /** Classes all of whose training samples are forgotten (class forgetting), ascending. */
  wholeClasses: number[];
}

/** The training set a forget spec selects from: labels and original dataset indices per row. */
export interface TrainingRows {
  labels: Int32Array;
  indices: Int32Array;
  classes: number;
  /** Rows in the whole dataset that original indices may name (for messages), e.g. 60 000. */
  datasetSize?: number;
}

/**
 * Resolves a spec against the training rows. `seed` draws the random ones
 * (`Rng.derive(seed, "forget")`). `indices` are read from the spec's file.
 */
export async function resolveForget(spec: ForgetSpec, train: TrainingRows, seed = 0): Promise<ForgetSplit> {
  const n = train.labels.length;
  const isForget = new Uint8Array(n);
  let description: string;
  if (spec.kind === 'class') {
    const counts = new Int32Array(train.classes);
    for (let i = 0; i < n; i++) counts[train.labels[i]!]!++;
    for (const c of spec.classes) {
      if (c >= train.classes) fail('E_ARG', `class ${c} does not exist: the labels are 0..${train.classes - 1}`, FIELD);
      if (counts[c] === 0) fail('E_ARG', `class ${c} has no training samples, so there is nothing to forget`, FIELD);
    }
    for (let i = 0; i < n; i++) if (spec.classes.includes(train.labels[i]!)) isForget[i] = 1;
    description = `class${spec.classes.length > 1 ? 'es' : ''} ${spec.classes.join(', ')}`;
  } else if (spec.kind === 'random') {
    const count = 'count' in spec ? spec.count : Math.max(1, Math.round(spec.fraction * n));
    if (count >= n) fail('E_ARG', `forgetting ${count} of ${n} training samples leaves nothing to retain`, FIELD);
    const perm = Rng.derive(seed, 'forget').permutation(n);
    for (let j = 0; j < count; j++) isForget[perm[j]!] = 1;
    description = 'count' in spec ? `${count} random samples` : `${count} random samples (${+(100 * spec.fraction).toPrecision(6)} %)`;
  } else {
    const wanted = await loadIndices(spec.path, '--forget');
    if (wanted.length === 0) fail('E_ARG', 'the forget set is empty', { file: spec.path, field: '--forget' });
    const rowOf = new Map<number, number>();
    for (let i = 0; i < n; i++) rowOf.set(train.indices[i]!, i);
    wanted.forEach((ix, j) => {
      const row = rowOf.get(ix);
      if (row === undefined) {
        const outside = train.datasetSize !== undefined && ix >= train.datasetSize;
        fail('E_ARG', outside ? `index ${ix} (entry ${j}) is outside the dataset [0, ${train.datasetSize})` : `index ${ix} (entry ${j}) is not a training sample (it is in the validation split or outside the dataset)`, { file: spec.path, field: '--forget' });
      }
      if (isForget[row]) fail('E_ARG', `index ${ix} appears twice (entry ${j})`, { file: spec.path, field: '--forget' });
      isForget[row] = 1;
    });
    description = `${wanted.length} listed samples (${spec.path})`;
  }
  let nf = 0;
  for (let i = 0; i < n; i++) nf += isForget[i]!;
  if (nf === 0) fail('E_ARG', 'the forget set is empty', FIELD);
  if (nf === n) fail('E_ARG', `the forget set is the whole training set (${n} samples); nothing would be retained`, FIELD);
  const forget = new Int32Array(nf);
  const retain = new Int32Array(n - nf);
  for (let i = 0, a = 0, b = 0; i < n; i++) {
    if (isForget[i]) forget[a++] = i;
    else retain[b++] = i;
  }
  const inForget = new Int32Array(train.classes);
  const total = new Int32Array(train.classes);
  for (let i = 0; i < n; i++) {
    total[train.labels[i]!]!++;
    if (isForget[i]) inForget[train.labels[i]!]!++;
  }
  const forgetClasses: number[] = [];
  const wholeClasses: number[] = [];
  for (let c = 0; c < train.classes; c++) {
    if (inForget[c]! > 0) forgetClasses.push(c);
    if (inForget[c]! > 0 && inForget[c] === total[c]) wholeClasses.push(c);
  }
  return { forget, retain, description, forgetClasses, wholeClasses };
}
