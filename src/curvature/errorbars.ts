/**
 * Error bars for any curvature estimate: repeat it over random data subsamples (without
 * replacement) and probe seeds, and report the spread. PyHessian users see the top eigenvalue of a
 * 128-sample batch range over an order of magnitude (PyHessian issue #5); this says how large a
 * subsample makes an estimate stable: the smallest size whose relative spread std/|mean| (worst
 * component for vector estimates) is at most `threshold`.
 */
import { fail } from '../errors.js';
import { Rng } from '../model/rng.js';
import type { HostData } from './model-operators.js';
import { summarize } from './stats.js';

export interface ErrorBarOptions {
  data: HostData;
  /** Subsample sizes (default: count/8, count/4, count/2, count, rounded, distinct, ≥ 1). */
  sizes?: number[];
  /** Repeats per size (default 5); each uses a new subsample and a new seed. */
  repeats?: number;
  seed?: number;
  /** Largest acceptable relative spread std/|mean| (default 0.05). */
  threshold?: number;
  /** The estimate on one subsample with one probe seed: a number or a vector (e.g. top-k eigenvalues). */
  estimate: (subset: HostData, seed: number) => Promise<number | number[]>;
}

export interface ErrorBarRow {
  size: number;
  /** values[r] is repeat r's estimate (a vector, length 1 for scalars). */
  values: number[][];
  mean: number[];
  std: number[];
  min: number[];
  max: number[];
  /** max over components of std / |mean|. */
  relativeSpread: number;
}

export interface ErrorBarReport {
  rows: ErrorBarRow[];
  threshold: number;
  /** Smallest size whose relative spread is ≤ threshold (null when none is). */
  recommendedSize: number | null;
  seeds: number[][];
}

/** The samples at `indices` as a new HostData. */
export function subsetData(data: HostData, indices: ArrayLike<number>): HostData {
  const f = data.features;
  const inputs = new Float32Array(indices.length * f);
  const labels = new Int32Array(indices.length);
  for (let r = 0; r < indices.length; r++) {
    const i = indices[r]!;
    inputs.set(data.inputs.subarray(i * f, (i + 1) * f), r * f);
    labels[r] = data.labels[i]!;
  }
  return { inputs, labels, count: indices.length, features: f };
}

/** The default subsample sizes for `count` samples: count/8, count/4, count/2, count (distinct, ≥ 1). */
export function defaultErrorBarSizes(count: number): number[] {
  return [...new Set([8, 4, 2, 1].map((d) => Math.max(1, Math.round(count / d))))];
}

export async function errorBars(options: ErrorBarOptions): Promise<ErrorBarReport> {
  const { data } = options;
  const repeats = options.repeats ?? 5;
  if (!Number.isSafeInteger(repeats) || repeats < 2) fail('E_ARG', `repeats must be an integer ≥ 2, got ${repeats}`, { field: 'repeats' });
  const threshold = options.threshold ?? 0.05;
  const sizes = options.sizes ?? defaultErrorBarSizes(data.count);
  for (const s of sizes) {
    if (!Number.isSafeInteger(s) || s < 1 || s > data.count) fail('E_ARG', `subsample size ${s} must be an integer in [1, ${data.count}]`, { field: 'sizes' });
  }
  const seed = options.seed ?? 0;
  const rows: ErrorBarRow[] = [];
  const seeds: number[][] = [];
  for (const size of [...sizes].sort((a, b) => a - b)) {
    const rng = Rng.derive(seed, `errorbars:${size}`);
    const values: number[][] = [];
    const used: number[] = [];
    for (let r = 0; r < repeats; r++) {
      const idx = size === data.count ? Int32Array.from({ length: size }, (_, i) => i) : rng.permutation(data.count).subarray(0, size).sort();
      const probeSeed = rng.nextU32();
      used.push(probeSeed);
      const v = await options.estimate(subsetData(data, idx), probeSeed);
      values.push(typeof v === 'number' ? [v] : [...v]);
    }
    const dims = Math.min(...values.map((v) => v.length));
    const stats = Array.from({ length: dims }, (_, c) => summarize(values.map((v) => v[c]!)));
    const relativeSpread = Math.max(...stats.map((s) => (s.mean === 0 ? (s.std === 0 ? 0 : Infinity) : s.std / Math.abs(s.mean))));
    rows.push({
      size,
      values,
      mean: stats.map((s) => s.mean),
      std: stats.map((s) => s.std),
      min: stats.map((s) => s.min),
      max: stats.map((s) => s.max),
      relativeSpread,
    });
    seeds.push(used);
  }
  const ok = rows.find((r) => r.relativeSpread <= threshold);
  return { rows, threshold, recommendedSize: ok ? ok.size : null, seeds };
}
