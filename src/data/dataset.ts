/**
 * In-memory classification datasets: inputs [count, features] float32 row-major, labels int32.
 * `indices` records where each row came from in the original dataset (for trajectories).
 */
import { fail } from '../errors.js';
import { readNpy } from '../io/npy.js';
import { labelsToInt32 } from '../io/trajectory.js';
import { Rng } from '../model/rng.js';

export interface Dataset {
  name: string;
  inputs: Float32Array;
  features: number;
  labels: Int32Array;
  count: number;
  /** Original dataset index of each row. */
  indices: Int32Array;
  /** Per-sample shape when the samples are images ([C, H, W], product = features); rows are their row-major values. */
  shape?: number[];
}

export function numClasses(...sets: Dataset[]): number {
  let c = 0;
  for (const s of sets) for (let i = 0; i < s.count; i++) c = Math.max(c, s.labels[i]! + 1);
  return c;
}

/** Rows `rows` of a dataset (a copy), keeping the original indices. */
export function subset(ds: Dataset, rows: ArrayLike<number>, name = ds.name): Dataset {
  const n = rows.length;
  const D = ds.features;
  const inputs = new Float32Array(n * D);
  const labels = new Int32Array(n);
  const indices = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    const i = rows[r]!;
    if (!(i >= 0 && i < ds.count)) fail('E_ARG', `row ${i} is outside [0, ${ds.count})`);
    inputs.set(ds.inputs.subarray(i * D, (i + 1) * D), r * D);
    labels[r] = ds.labels[i]!;
    indices[r] = ds.indices[i]!;
  }
  return { name, inputs, features: D, labels, count: n, indices, ...(ds.shape ? { shape: [...ds.shape] } : {}) };
}

/**
 * Seeded split into (train, val): a permutation from `Rng.derive(seed, "split")`; the first
 * `valCount` rows of it are validation, the next `trainCount` (default: the rest) training.
 * Each part is returned in ascending original order.
 */
export function splitDataset(ds: Dataset, valCount: number, seed: number, trainCount?: number): { train: Dataset; val: Dataset } {
  const tc = trainCount ?? ds.count - valCount;
  if (!Number.isInteger(valCount) || valCount < 0 || !Number.isInteger(tc) || tc < 1 || valCount + tc > ds.count) {
    fail('E_ARG', `cannot split ${ds.count} samples into ${tc} training and ${valCount} validation samples`);
  }
  const perm = Rng.derive(seed, 'split').permutation(ds.count);
  const val = perm.slice(0, valCount).sort();
  const train = perm.slice(valCount, valCount + tc).sort();
  return { train: subset(ds, train, `${ds.name}/train`), val: subset(ds, val, `${ds.name}/val`) };
}

/**
 * Loads inputs [N, D] or images [N, C, H, W] (float32/float64; images become rows of C·H·W values,
 * row-major, with `shape` [C, H, W]) and labels [N] (integers) from `.npy` files.
 */
export async function loadNpyDataset(inputsPath: string, labelsPath: string): Promise<Dataset> {
  const x = await readNpy(inputsPath);
  if (x.shape.length !== 2 && x.shape.length !== 4) fail('E_SHAPE', `inputs must be [samples, features] or [samples, channels, height, width], got shape [${x.shape.join(', ')}]`, { file: inputsPath });
  if (x.dtype !== 'f4' && x.dtype !== 'f8') fail('E_DTYPE', `inputs must be float32 or float64, got ${x.dtype}`, { file: inputsPath });
  const n = x.shape[0]!;
  const D = x.shape.slice(1).reduce((a, b) => a * b, 1);
  if (n < 1 || D < 1) fail('E_SHAPE', `inputs are empty (shape [${x.shape.join(', ')}])`, { file: inputsPath });
  const inputs = x.data instanceof Float32Array ? Float32Array.from(x.data) : Float32Array.from(x.data as Float64Array);
  for (let i = 0; i < inputs.length; i++) {
    if (!Number.isFinite(inputs[i]!)) {
      let r = i;
      const at = x.shape.map((_, k) => x.shape.slice(k + 1).reduce((a, b) => a * b, 1)).map((stride) => {
        const q = Math.floor(r / stride);
        r -= q * stride;
        return q;
      });
      fail('E_VALUE', `inputs[${at.join(', ')}] is ${inputs[i]}; inputs must be finite`, { file: inputsPath });
    }
  }
  const labels = labelsToInt32(await readNpy(labelsPath), labelsPath);
  if (labels.length !== n) fail('E_SHAPE', `${labels.length} labels for ${n} input rows (${inputsPath})`, { file: labelsPath });
  const shape = x.shape.length === 4 ? { shape: x.shape.slice(1) } : {};
  return { name: inputsPath, inputs, features: D, labels, count: n, indices: Int32Array.from({ length: n }, (_, i) => i), ...shape };
}
