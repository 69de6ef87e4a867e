/**
 * CLD — "Coresets from Trajectories: Selecting Data via Correlation of Loss Differences".
 *
 * Matches the official `Compute_CLD_scores.py` (float64):
 *   d_train = diff(train_loss, axis=0)                          [E−1, N]
 *   v_c[e]  = mean of val_loss[e, j] over validation samples j of class c,  dv_c = diff(v_c)
 *   r_i     = mean_e(Xz · yz), Xz = (d_i − mean d_i) / std d_i, yz = (dv_c − mean dv_c) / std dv_c
 * with population standard deviations. A sample whose differences have zero variance gets r = 0,
 * and so does every sample of a class whose validation differences have zero variance (the
 * official code divides by 1 there, which gives 0 for exactly constant differences; we test for
 * exact constancy so rounding in the mean cannot turn "constant" into noise).
 *
 * This module validates the inputs, computes the small per-class part (v_c, dv_c, yz) in float64
 * on the host, and hands the one pass over the [E, N] trajectory to the backend's fused
 * `cldScores` kernel. A class with training samples but no validation samples gets r = NaN and
 * selects nothing; it is reported in `absentClasses`.
 */
import type { Backend } from '../backends/backend.js';
import { fail } from '../errors.js';
import { MAX_LABEL } from '../io/trajectory.js';
import { type Budget, budgetPerClass, topPerClass, validateBudget } from './select.js';
import { findNonFinite } from './finite.js';

export type { Budget } from './select.js';
export { selectPerClass } from './select.js';

export interface CldInputs {
  /** [epochs, samples] row-major. */
  trainLoss: Float32Array | Float64Array;
  epochs: number;
  samples: number;
  trainLabels: Int32Array;
  /** [epochs, valSamples] row-major. */
  valLoss: Float32Array | Float64Array;
  valSamples: number;
  valLabels: Int32Array;
  /** optional file names for error messages */
  sources?: { trainLoss?: string; trainLabels?: string; valLoss?: string; valLabels?: string };
}

export interface CldSelection {
  /** Selected original indices, grouped by class ascending, within a class by rank. */
  indices: Int32Array;
  /** r per sample, NaN for classes without validation samples. */
  scores: Float32Array;
  perClassSelected: number[];
  /** Classes with train samples but no validation samples. */
  absentClasses: number[];
  numClasses: number;
  backend: string;
}

function where(file: string | undefined, field: string): { file?: string; field: string } {
  return file ? { file, field } : { field };
}

/** Checks labels (0 ≤ y ≤ MAX_LABEL) and counts them per class in the same pass; returns max label. */
function checkLabels(labels: Int32Array, n: number, file: string | undefined, field: string, lossField: string, counts: Int32Array): number {
  if (labels.length !== n) {
    fail('E_SHAPE', `has ${labels.length} labels but the ${lossField} has ${n} samples`, where(file, field));
  }
  let max = -1;
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!;
    if (y < 0 || y > MAX_LABEL) fail('E_LABEL', `${field}[${i}] is ${y}; labels must be integers in 0..${MAX_LABEL}`, file ? { file } : {});
    counts[y]!++;
    if (y > max) max = y;
  }
  return max;
}

export interface CheckedCld {
  numClasses: number;
  /** Training / validation samples per class, length numClasses. */
  trainCounts: Int32Array;
  valCounts: Int32Array;
}

/** Everything CLD needs except the training trajectory itself (the streaming path reads it in tiles). */
export type CldMeta = Omit<CldInputs, 'trainLoss'>;

/**
 * Checks shapes, epochs, labels and finiteness; returns the number of classes and class counts.
 */
export function validateCldInputs(inputs: CldInputs): CheckedCld {
  const { epochs: E, samples: N, sources: src = {} } = inputs;
  if (!Number.isInteger(E) || E < 3) {
    fail('E_ARG', `CLD needs at least 3 epochs (2 loss differences), got ${E}`, where(src.trainLoss, 'epochs'));
  }
  if (!Number.isInteger(N) || N < 1) fail('E_SHAPE', `expected at least one training sample, got ${N}`, where(src.trainLoss, 'train loss'));
  if (inputs.trainLoss.length !== E * N) {
    fail('E_SHAPE', `has ${inputs.trainLoss.length} values, expected epochs × samples = ${E} × ${N}`, where(src.trainLoss, 'train loss'));
  }
  const checked = validateCldMeta(inputs);
  checkFinite(inputs.trainLoss, N, 0, src.trainLoss, 'train loss');
  return checked;
}

/** Fails (E_VALUE) naming the first NaN/±Inf of `[epochs, n]` data whose column 0 is sample `first`. */
export function checkFinite(arr: Float32Array | Float64Array, n: number, first: number, file: string | undefined, field: string): void {
  const bad = findNonFinite(arr);
  if (bad >= 0) {
    const e = Math.floor(bad / n);
    const i = first + (bad % n);
    fail('E_VALUE', `${field}[epoch ${e}, sample ${i}] is ${arr[bad]}; losses must be finite`, file ? { file } : {});
  }
}

/**
 * `validateCldInputs` without the training trajectory: epochs, sample counts, both label sets,
 * the validation loss (shape and finiteness). The trajectory's own NaN/Inf test is the caller's
 * (`checkFinite` per tile when streaming).
 */
export function validateCldMeta(inputs: CldMeta): CheckedCld {
  const { epochs: E, samples: N, valSamples: M, sources: src = {} } = inputs;
  if (!Number.isInteger(E) || E < 3) {
    fail('E_ARG', `CLD needs at least 3 epochs (2 loss differences), got ${E}`, where(src.trainLoss, 'epochs'));
  }
  if (!Number.isInteger(N) || N < 1) fail('E_SHAPE', `expected at least one training sample, got ${N}`, where(src.trainLoss, 'train loss'));
  if (!Number.isInteger(M) || M < 1) fail('E_SHAPE', `expected at least one validation sample, got ${M}`, where(src.valLoss, 'val loss'));
  if (inputs.valLoss.length !== E * M) {
    const e2 = inputs.valLoss.length / M;
    const why = Number.isInteger(e2) ? `has ${e2} epochs but the train loss has ${E}` : `has ${inputs.valLoss.length} values, expected ${E} × ${M}`;
    fail('E_SHAPE', why, where(src.valLoss, 'val loss'));
  }
  // counted over the whole label range (zero pages cost nothing until touched), trimmed below
  const trainAll = new Int32Array(MAX_LABEL + 1);
  const valAll = new Int32Array(MAX_LABEL + 1);
  const maxTrain = checkLabels(inputs.trainLabels, N, src.trainLabels, 'train labels', 'train loss', trainAll);
  const maxVal = checkLabels(inputs.valLabels, M, src.valLabels, 'val labels', 'val loss', valAll);
  checkFinite(inputs.valLoss, M, 0, src.valLoss, 'val loss');
  const numClasses = Math.max(maxTrain, maxVal) + 1;
  return { numClasses, trainCounts: trainAll.slice(0, numClasses), valCounts: valAll.slice(0, numClasses) };
}

/** Classes with training samples but no validation samples (they get r = NaN and select nothing). */
export function absentClassesOf(checked: CheckedCld): number[] {
  const out: number[] = [];
  for (let c = 0; c < checked.numClasses; c++) if (checked.trainCounts[c]! > 0 && checked.valCounts[c] === 0) out.push(c);
  return out;
}

/**
 * Standardised class validation-loss differences, [E−1, C] float64 (the kernel's `classZ`), and
 * which classes have no validation samples.
 */
export function classValidationZ(
  valLoss: Float32Array | Float64Array,
  epochs: number,
  valSamples: number,
  valLabels: Int32Array,
  numClasses: number,
  counts?: Int32Array,
): { classZ: Float64Array; valCounts: Int32Array } {
  const C = numClasses;
  const D = epochs - 1;
  let valCounts = counts;
  if (!valCounts) {
    valCounts = new Int32Array(C);
    for (let j = 0; j < valSamples; j++) valCounts[valLabels[j]!]!++;
  }
  const means = new Float64Array(epochs * C);
  for (let e = 0, k = 0; e < epochs; e++) {
    const base = e * C;
    for (let j = 0; j < valSamples; j++, k++) means[base + valLabels[j]!]! += valLoss[k]!;
  }
  for (let e = 0; e < epochs; e++) {
    for (let c = 0; c < C; c++) means[e * C + c] = valCounts[c]! > 0 ? means[e * C + c]! / valCounts[c]! : 0;
  }
  const classZ = new Float64Array(D * C);
  const dv = new Float64Array(D);
  for (let c = 0; c < C; c++) {
    if (valCounts[c] === 0) continue;
    let mean = 0;
    let constant = true;
    for (let e = 0; e < D; e++) {
      dv[e] = means[(e + 1) * C + c]! - means[e * C + c]!;
      if (dv[e] !== dv[0]) constant = false;
      mean += dv[e]!;
    }
    if (constant) continue;
    mean /= D;
    let ss = 0;
    for (let e = 0; e < D; e++) ss += (dv[e]! - mean) ** 2;
    const std = Math.sqrt(ss / D);
    if (std === 0) continue;
    for (let e = 0; e < D; e++) classZ[e * C + c] = (dv[e]! - mean) / std;
  }
  return { classZ, valCounts };
}

/** CLD score r of every training sample (NaN for classes with no validation samples). */
export async function cldScores(
  backend: Backend,
  inputs: CldInputs,
): Promise<{ scores: Float32Array; numClasses: number; absentClasses: number[] }> {
  const checked = await checkCldInputs(inputs);
  const { scores, absentClasses } = await scoreValidated(backend, inputs, checked);
  return { scores, numClasses: checked.numClasses, absentClasses };
}

async function scoreValidated(
  backend: Backend,
  inputs: CldInputs,
  checked: CheckedCld,
  onClassZ: () => void = () => {},
): Promise<{ scores: Float32Array; absentClasses: number[] }> {
  const { numClasses, valCounts } = checked;
  const { classZ } = classValidationZ(inputs.valLoss, inputs.epochs, inputs.valSamples, inputs.valLabels, numClasses, valCounts);
  onClassZ();
  const absentClasses = absentClassesOf(checked);
  const labels = inputs.trainLabels;
  const scores = await backend.cldScores({
    trajectory: inputs.trainLoss,
    epochs: inputs.epochs,
    samples: inputs.samples,
    labels,
    numClasses,
    classZ,
  });
  if (scores.length !== inputs.samples) fail('E_INTERNAL', `backend ${backend.name} returned ${scores.length} scores for ${inputs.samples} samples`);
  markAbsent(scores, labels, numClasses, absentClasses);
  return { scores, absentClasses };
}

/** Sets r = NaN for the samples of absent classes (in place). */
export function markAbsent(scores: Float32Array, labels: Int32Array, numClasses: number, absentClasses: readonly number[]): void {
  if (absentClasses.length === 0) return;
  const absent = new Uint8Array(numClasses);
  for (const c of absentClasses) absent[c] = 1;
  for (let i = 0; i < scores.length; i++) if (absent[labels[i]!]) scores[i] = NaN;
}

/** `validateCldInputs`, as a promise (callers await it; the NaN/Inf test no longer needs preparing). */
export async function checkCldInputs(inputs: CldInputs): Promise<CheckedCld> {
  return validateCldInputs(inputs);
}

/**
 * Scores every training sample with CLD and keeps the top of each class under `budget`.
 * Uses `options.backend` when given (and leaves it open), else picks one with
 * `selectBackend("auto")` and disposes it afterwards.
 */
export async function cldCoreset(
  inputs: CldInputs,
  budget: Budget,
  options: { backend?: Backend; onProgress?: (done: number, total: number) => void } = {},
): Promise<CldSelection> {
  validateBudget(budget);
  const checked = await checkCldInputs(inputs);
  if (options.backend) return cldCoresetChecked(inputs, checked, budget, options.backend, options.onProgress);
  const { selectBackend } = await import('../backends/select.js');
  const { backend } = await selectBackend('auto');
  try {
    return await cldCoresetChecked(inputs, checked, budget, backend, options.onProgress);
  } finally {
    backend.dispose();
  }
}

/**
 * `cldCoreset` for inputs already validated by `checkCldInputs`: lets a caller validate
 * everything before it opens a backend, without paying for it twice.
 * Progress steps: 1 validated, 2 class z-scores, 3 scored, 4 selected.
 */
export async function cldCoresetChecked(
  inputs: CldInputs,
  checked: CheckedCld,
  budget: Budget,
  backend: Backend,
  onProgress: (done: number, total: number) => void = () => {},
): Promise<CldSelection> {
  validateBudget(budget);
  onProgress(1, 4);
  const { scores, absentClasses } = await scoreValidated(backend, inputs, checked, () => onProgress(2, 4));
  onProgress(3, 4);
  // labels were checked by checkCldInputs: go straight to the budget and the per-class top-k
  const perClassSelected = budgetPerClass(checked.trainCounts, budget, new Set(absentClasses));
  const indices = topPerClass(scores, inputs.trainLabels, checked.numClasses, perClassSelected);
  onProgress(4, 4);
  return { indices, scores, perClassSelected, absentClasses, numClasses: checked.numClasses, backend: backend.name };
}
