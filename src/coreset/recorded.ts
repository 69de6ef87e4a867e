/**
 * A recorded run (the directory `riverbed train --record DIR` writes) as arrays, loading only the
 * metrics a method needs. Rows are checkpoints; `checkpoints` says which is "init".
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../errors.js';
import { JSON_LIMITS, readBoundedText } from '../io/files.js';
import { readNpy } from '../io/npy.js';
import { loadIndices, loadLabels } from '../io/trajectory.js';
import { findNonFinite } from './finite.js';

export type Checkpoint = 'init' | number;
export type Metric = 'loss' | 'correct' | 'margin' | 'errorNorm';

/** Per-sample metrics of one split, each [checkpoints, samples] row-major. */
export interface SplitArrays {
  samples: number;
  labels: Int32Array;
  loss?: Float32Array | Float64Array;
  correct?: Uint8Array;
  margin?: Float32Array | Float64Array;
  errorNorm?: Float32Array | Float64Array;
  /**
   * The dataset row of every column (`train_indices.npy`, distinct), when the run records it.
   * Columns are positions in the split (0..samples−1); selections name dataset rows through this.
   */
  indices?: Int32Array;
}

export interface RecordedRun {
  /** What each row is: "init" or the epoch after which it was taken. */
  checkpoints: Checkpoint[];
  train: SplitArrays;
  /** Needed by CLD only (loss + labels). */
  val?: SplitArrays;
  /** The directory it came from, if any (for messages and manifests). */
  dir?: string;
}

const FILE: Record<Metric, string> = { loss: 'loss', correct: 'correct', margin: 'margin', errorNorm: 'error_norm' };

async function loadMetric(dir: string, split: 'train' | 'val', metric: Metric, rows: number, samples: number): Promise<Float32Array | Float64Array | Uint8Array> {
  const file = join(dir, `${split}_${FILE[metric]}.npy`);
  if (!existsSync(file)) fail('E_FILE', `missing: the recorded run has no ${split} ${metric} (record with \`riverbed train --record\`)`, { file });
  const a = await readNpy(file);
  if (a.shape.length !== 2 || a.shape[0] !== rows || a.shape[1] !== samples) {
    fail('E_SHAPE', `expected shape [${rows}, ${samples}] (checkpoints × samples), got [${a.shape.join(', ')}]`, { file });
  }
  if (metric === 'correct') {
    if (a.dtype !== 'u1' && a.dtype !== 'b1') fail('E_DTYPE', `correctness must be uint8/bool, got ${a.dtype}`, { file });
  } else if (a.dtype !== 'f4' && a.dtype !== 'f8') fail('E_DTYPE', `${metric} must be float32/float64, got ${a.dtype}`, { file });
  checkMetricValues(a.data as Float32Array | Float64Array | Uint8Array, metric, samples, file);
  return a.data as Float32Array | Float64Array | Uint8Array;
}

/**
 * Refuses values a recording cannot hold, naming the first: NaN/±Inf in any float metric (a
 * diverged run, or a damaged file; a baseline would rank it plausibly and wrongly), a negative
 * error norm, a correctness other than 0 or 1.
 */
export function checkMetricValues(data: Float32Array | Float64Array | Uint8Array, metric: Metric, samples: number, file: string): void {
  const at = (i: number) => `[${Math.floor(i / samples)}, ${i % samples}] (checkpoint row ${Math.floor(i / samples)}, sample column ${i % samples})`;
  if (data instanceof Uint8Array) {
    const i = data.findIndex((v) => v > 1);
    if (i >= 0) fail('E_VALUE', `correctness must be 0 or 1, found ${data[i]} at ${at(i)}`, { file });
    return;
  }
  const i = findNonFinite(data);
  if (i >= 0) fail('E_VALUE', `${metric} must be finite, found ${data[i]} at ${at(i)}`, { file });
  if (metric === 'errorNorm') {
    const j = data.findIndex((v) => v < 0);
    if (j >= 0) fail('E_VALUE', `${metric} cannot be negative, found ${data[j]} at ${at(j)}`, { file });
  }
}

/** Loads the manifest, the labels and the requested metrics of a recorded run directory. */
export async function loadRecordedRun(dir: string, need: { train?: readonly Metric[]; val?: readonly Metric[] } = {}): Promise<RecordedRun> {
  const manifestPath = join(dir, 'trajectory.json');
  if (!existsSync(manifestPath)) fail('E_FILE', 'not a recorded run: trajectory.json is missing (record one with `riverbed train --record DIR`)', { file: dir });
  const text = readBoundedText(manifestPath, JSON_LIMITS.runManifest, 'a run manifest');
  let m: { format?: string; checkpoints?: Checkpoint[]; train?: { samples?: number }; val?: { samples?: number } };
  try {
    m = JSON.parse(text);
  } catch (err) {
    return fail('E_FORMAT', `not valid JSON (${(err as Error).message})`, { file: manifestPath });
  }
  if (m.format !== 'riverbed.trajectory' || !Array.isArray(m.checkpoints)) fail('E_FORMAT', 'expected format "riverbed.trajectory" with a checkpoints list', { file: manifestPath });
  const rows = m.checkpoints.length;
  const trainLabels = await loadLabels(join(dir, 'train_labels.npy'), 'train labels');
  const run: RecordedRun = { checkpoints: m.checkpoints, train: { samples: trainLabels.length, labels: trainLabels }, dir };
  const indicesFile = join(dir, 'train_indices.npy');
  if (existsSync(indicesFile)) run.train.indices = checkColumnRows(await loadIndices(indicesFile, 'train indices'), trainLabels.length, indicesFile);
  for (const metric of need.train ?? []) (run.train as unknown as Record<string, unknown>)[metric] = await loadMetric(dir, 'train', metric, rows, trainLabels.length);
  if (need.val && need.val.length > 0) {
    const valLabels = await loadLabels(join(dir, 'val_labels.npy'), 'val labels');
    run.val = { samples: valLabels.length, labels: valLabels };
    for (const metric of need.val) (run.val as unknown as Record<string, unknown>)[metric] = await loadMetric(dir, 'val', metric, rows, valLabels.length);
  }
  return run;
}

/** A run's column → dataset row map: one row per column, no row twice (a selection must name distinct samples). */
function checkColumnRows(rows: Int32Array, samples: number, file: string): Int32Array {
  if (rows.length !== samples) fail('E_SHAPE', `${rows.length} indices for ${samples} train samples (train_labels.npy)`, { file });
  const seen = new Map<number, number>();
  rows.forEach((r, j) => {
    const k = seen.get(r);
    if (k !== undefined) fail('E_VALUE', `dataset row ${r} is given for columns ${k} and ${j}; every column is a different sample`, { file });
    seen.set(r, j);
  });
  return rows;
}

/** Dataset rows of columns `positions` of a split (the positions themselves when the split has no row map). */
export function datasetRows(split: SplitArrays, positions: Int32Array): Int32Array {
  const map = split.indices;
  return map ? Int32Array.from(positions, (p) => map[p]!) : positions;
}

/**
 * Columns of a split holding dataset rows `rows` (e.g. an exclusion list written in dataset rows),
 * and how many of the rows are not in the split (a validation row, another subset's row).
 */
export function positionsOfRows(split: SplitArrays, rows: ArrayLike<number>): { positions: Int32Array; outside: number } {
  const map = split.indices;
  if (!map) return { positions: Int32Array.from(rows), outside: 0 }; // columns are the rows: range-checked with the budget
  const column = new Map<number, number>();
  map.forEach((r, j) => column.set(r, j));
  const out: number[] = [];
  for (let i = 0; i < rows.length; i++) {
    const j = column.get(rows[i]!);
    if (j !== undefined) out.push(j);
  }
  return { positions: Int32Array.from(out), outside: rows.length - out.length };
}

/** Rows of `checkpoints` taken after training epochs (not "init"), optionally only epochs ≤ upTo. */
export function trainedRows(checkpoints: readonly Checkpoint[], upTo = Infinity): number[] {
  const rows: number[] = [];
  checkpoints.forEach((c, r) => {
    if (c !== 'init' && c <= upTo) rows.push(r);
  });
  return rows;
}

/** The given rows of a [rows, samples] matrix, as a new contiguous matrix (or the same one when all rows, in order). */
export function pickRows<T extends Float32Array | Float64Array | Uint8Array>(a: T, samples: number, rows: readonly number[]): T {
  const total = a.length / samples;
  if (rows.length === total && rows.every((r, i) => r === i)) return a;
  const Ctor = a.constructor as new (n: number) => T;
  const out = new Ctor(rows.length * samples);
  rows.forEach((r, j) => out.set(a.subarray(r * samples, (r + 1) * samples) as never, j * samples));
  return out;
}
