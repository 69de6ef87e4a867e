/**
 * CLD from files, with bounded memory: trajectories larger than RAM.
 *
 * The training trajectory `[E, N]` is read in column tiles (samples s0..s1 of every epoch: one
 * pread per epoch into a reused buffer) and each tile is scored by the backend's fused
 * `cldScores` kernel with the class z-scores computed once from the (small) validation losses.
 * What stays resident is O(N): labels and the float32 scores. Each tile is NaN/Inf-checked before
 * it is scored, and the files are checked for changes (size, mtime, ctime, inode) after every
 * tile and at the end, so a trajectory rewritten mid-run fails instead of mixing versions.
 *
 * When the whole trajectory fits the memory budget it is memory-mapped and scored in one call
 * (the in-memory path). Tiles start at multiples of TILE_ALIGN samples: the native kernel works
 * on 16-sample vectors and handles only a call's last N mod 16 samples in scalar code, so
 * aligned tiles (and shards) give scores identical bit for bit to one call over all samples.
 */
import { freemem } from 'node:os';
import type { Backend } from '../backends/backend.js';
import { fail } from '../errors.js';
import { loadLabels, loadTrajectory, TrajectoryColumns } from '../io/trajectory.js';
import {
  type CheckedCld,
  type CldMeta,
  type CldSelection,
  absentClassesOf,
  checkFinite,
  classValidationZ,
  markAbsent,
  validateCldMeta,
} from './cld.js';
import { type Budget, type BudgetOptions, selectPerClassWith, validateBudget } from './select.js';

/** Tiles and shards start at multiples of this many samples (see the module comment). */
export const TILE_ALIGN = 16;
/**
 * Largest tile buffer. Small on purpose: fresh memory faults in slowly on these VMs and pread from
 * the page cache peaked at ~6 GB/s with 8–16 MiB tiles here (1.4–2.5 GB/s with 64 KiB or 200 MiB).
 */
export const TILE_MAX_BYTES = 16 * 2 ** 20;

export interface CldFiles {
  /** `[epochs, samples]` float `.npy`, or a directory of one 1-D `.npy` per epoch. */
  trainLoss: string;
  trainLabels: string;
  valLoss: string;
  valLabels: string;
}

/** A sample range [start, end). */
export interface SampleRange {
  start: number;
  end: number;
}

export interface StreamProgress {
  samplesDone: number;
  samples: number;
  bytesRead: number;
  elapsedMs: number;
}

export interface StreamOptions {
  /** Peak memory budget in bytes for the whole process (default `defaultMaxMemory()`). */
  maxMemory?: number;
  /** Score only samples [start, end) (a shard); `start` must be a multiple of TILE_ALIGN. */
  range?: SampleRange;
  /** Force tiles of this many samples (a multiple of TILE_ALIGN), even when the file would fit. */
  tileSamples?: number;
  onProgress?: (p: StreamProgress) => void;
  /** Called after each tile is read, before it is scored (tests use it to change the file). */
  onTile?: (start: number, end: number) => void | Promise<void>;
}

export interface MemoryPlan {
  mode: 'whole' | 'tiles';
  maxMemory: number;
  /** Resident before any trajectory data (process + labels + validation) plus the O(N) outputs. */
  fixedBytes: number;
  /** Samples per tile (all of the range in 'whole' mode). */
  tileSamples: number;
  tiles: number;
  /** Bytes of trajectory buffers held at once. */
  bufferBytes: number;
}

/** Half of the memory the OS reports available (at least 256 MiB). */
export function defaultMaxMemory(): number {
  return Math.max(256 * 2 ** 20, Math.floor(freemem() / 2));
}

const UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 2 ** 10, kb: 1e3, kib: 2 ** 10,
  m: 2 ** 20, mb: 1e6, mib: 2 ** 20,
  g: 2 ** 30, gb: 1e9, gib: 2 ** 30,
  t: 2 ** 40, tb: 1e12, tib: 2 ** 40,
};

/**
 * Parses a size: a number with an optional unit, case-insensitive. KB/MB/GB/TB are powers of
 * 1000, KiB/MiB/GiB/TiB and the bare K/M/G/T powers of 1024 ("1GB" = 10⁹, "1G" = "1GiB" = 2³⁰).
 */
export function parseSize(text: string, field = '--max-memory'): number {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) fail('E_ARG', `"${text}" is not a size; expected e.g. 1GB, 512MiB, 2G or a number of bytes`, { field });
  const v = Math.floor(Number(m[1]) * unit);
  if (!(v > 0)) fail('E_ARG', `size "${text}" must be positive (at least 1 byte)`, { field });
  if (!Number.isSafeInteger(v)) fail('E_ARG', `size "${text}" is too large: at most ${Number.MAX_SAFE_INTEGER} bytes (8 PiB)`, { field });
  return v;
}

const fmtBytes = (b: number) => (b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(2)} GiB` : `${(b / 2 ** 20).toFixed(1)} MiB`);

/**
 * How to fit a range of `samples` columns of an `[epochs, ·]` trajectory in `maxMemory`.
 * Tile buffers are counted twice: two alternate (one is read while the other is scored).
 */
export function planCldMemory(o: {
  epochs: number;
  samples: number;
  itemSize: number;
  maxMemory: number;
  residentBytes: number;
  wholeAllowed: boolean;
  tileSamples?: number;
}): MemoryPlan {
  const { epochs: E, samples: n, itemSize, maxMemory } = o;
  // scores (4 B) + selection work (packed rank keys, lists: ≤ 12 B) per sample
  const fixedBytes = o.residentBytes + n * 16;
  const wholeBytes = E * n * itemSize;
  if (o.tileSamples === undefined && o.wholeAllowed && fixedBytes + wholeBytes <= maxMemory) {
    return { mode: 'whole', maxMemory, fixedBytes, tileSamples: n, tiles: 1, bufferBytes: wholeBytes };
  }
  const perSample = 2 * E * itemSize;
  const minBytes = fixedBytes + perSample * TILE_ALIGN;
  if (minBytes > maxMemory) {
    fail(
      'E_ARG',
      `${fmtBytes(maxMemory)} is too small: ${fmtBytes(fixedBytes)} is already needed (the process, labels and validation losses, and ${n} scores), ` +
        `plus ${fmtBytes(perSample * TILE_ALIGN)} for the smallest tile (${TILE_ALIGN} samples × ${E} epochs, two buffers); give at least ${fmtBytes(minBytes)}`,
      { field: '--max-memory' },
    );
  }
  let t = o.tileSamples ?? Math.min(Math.floor((maxMemory - fixedBytes) / perSample), Math.floor(TILE_MAX_BYTES / (E * itemSize)));
  if (o.tileSamples !== undefined && (!Number.isInteger(t) || t < TILE_ALIGN || t % TILE_ALIGN !== 0)) {
    fail('E_ARG', `tile width must be a positive multiple of ${TILE_ALIGN} samples, got ${o.tileSamples}`, { field: 'tileSamples' });
  }
  t = Math.max(TILE_ALIGN, Math.floor(t / TILE_ALIGN) * TILE_ALIGN);
  t = Math.min(t, Math.ceil(n / TILE_ALIGN) * TILE_ALIGN);
  const tiles = Math.max(1, Math.ceil(n / t));
  return { mode: 'tiles', maxMemory, fixedBytes, tileSamples: t, tiles, bufferBytes: (tiles > 1 ? 2 : 1) * E * t * itemSize };
}

/** Inputs opened and checked, everything but the training trajectory's values. */
export interface PreparedCld {
  files: CldFiles;
  train: TrajectoryColumns;
  meta: CldMeta;
  checked: CheckedCld;
  absentClasses: number[];
  /** Standardised class validation-loss differences [E−1, C] (the kernel's classZ). */
  classZ: Float64Array;
  close(): void;
}

/**
 * Opens the trajectory for column reads (headers checked), loads labels and validation losses
 * and validates them (see `validateCldMeta`); computes the class z-scores once.
 */
export async function prepareCldFiles(files: CldFiles): Promise<PreparedCld> {
  const train = TrajectoryColumns.open(files.trainLoss, 'train loss');
  try {
    const trainLabels = await loadLabels(files.trainLabels, 'train labels');
    const val = await loadTrajectory(files.valLoss, 'val loss');
    const valLabels = await loadLabels(files.valLabels, 'val labels');
    if (val.epochs !== train.epochs) {
      fail('E_SHAPE', `has ${val.epochs} epochs but the train loss ${files.trainLoss} has ${train.epochs}`, { file: files.valLoss, field: 'val loss' });
    }
    const meta: CldMeta = {
      epochs: train.epochs,
      samples: train.samples,
      trainLabels,
      valLoss: val.data,
      valSamples: val.samples,
      valLabels,
      sources: { ...files },
    };
    const checked = validateCldMeta(meta);
    const { classZ } = classValidationZ(val.data, val.epochs, val.samples, valLabels, checked.numClasses, checked.valCounts);
    return { files, train, meta, checked, absentClasses: absentClassesOf(checked), classZ, close: () => train.close() };
  } catch (err) {
    train.close();
    throw err;
  }
}

export interface StreamResult {
  /** r for samples range.start..range.end−1 (NaN for absent classes). */
  scores: Float32Array;
  range: SampleRange;
  plan: MemoryPlan;
  bytesRead: number;
  ms: number;
}

/** A planned scoring run: `plan` is known (and whole-file data loaded and checked) before a backend is opened. */
export interface CldScoringJob {
  plan: MemoryPlan;
  range: SampleRange;
  run(backend: Backend): Promise<StreamResult>;
}

function checkRange(range: SampleRange, samples: number): void {
  const { start, end } = range;
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > samples || start >= end) {
    fail('E_ARG', `sample range [${start}, ${end}) must be non-empty and inside [0, ${samples})`, { field: 'range' });
  }
  if (start % TILE_ALIGN !== 0) fail('E_ARG', `a sample range must start at a multiple of ${TILE_ALIGN}, got ${start}`, { field: 'range' });
}

/**
 * Plans the run under the memory budget. In 'whole' mode the trajectory is mapped and fully
 * NaN/Inf-checked here, so bad input fails before any backend opens; in 'tiles' mode each tile is
 * checked as it is read.
 */
export async function planCldScoring(prep: PreparedCld, options: StreamOptions = {}): Promise<CldScoringJob> {
  const { train } = prep;
  const range = options.range ?? { start: 0, end: train.samples };
  checkRange(range, train.samples);
  const maxMemory = options.maxMemory ?? defaultMaxMemory();
  if (!(maxMemory > 0)) fail('E_ARG', `memory budget must be positive, got ${maxMemory}`, { field: '--max-memory' });
  const n = range.end - range.start;
  const plan = planCldMemory({
    epochs: train.epochs,
    samples: n,
    itemSize: train.itemSize,
    maxMemory,
    residentBytes: process.memoryUsage.rss(),
    wholeAllowed: n === train.samples,
    tileSamples: options.tileSamples,
  });
  const kernelBase = {
    epochs: train.epochs,
    numClasses: prep.checked.numClasses,
    classZ: prep.classZ,
  };
  if (plan.mode === 'whole') {
    const whole = await loadTrajectory(prep.files.trainLoss, 'train loss');
    checkFinite(whole.data, train.samples, 0, prep.files.trainLoss, 'train loss');
    return {
      plan,
      range,
      run: async (backend) => {
        const t0 = performance.now();
        const scores = await backend.cldScores({ ...kernelBase, trajectory: whole.data, samples: train.samples, labels: prep.meta.trainLabels });
        checkCount(backend, scores, train.samples);
        train.checkUnchanged();
        markAbsent(scores, prep.meta.trainLabels, prep.checked.numClasses, prep.absentClasses);
        const ms = performance.now() - t0;
        options.onProgress?.({ samplesDone: n, samples: n, bytesRead: whole.data.byteLength, elapsedMs: ms });
        return { scores, range, plan, bytesRead: whole.data.byteLength, ms };
      },
    };
  }
  return {
    plan,
    range,
    run: async (backend) => {
      const t0 = performance.now();
      const E = train.epochs;
      const T = plan.tileSamples;
      const Arr = train.dtype === 'f8' ? Float64Array : Float32Array;
      const bufs = [new Arr(E * T), plan.tiles > 1 ? new Arr(E * T) : undefined];
      const scores = new Float32Array(n);
      let bytesRead = 0;
      let pending: Promise<void> | undefined;
      for (let k = 0, s0 = range.start; s0 < range.end; k++, s0 += T) {
        const s1 = Math.min(range.end, s0 + T);
        const w = s1 - s0;
        const tile = bufs[k & 1]!.subarray(0, E * w);
        // read tile k while the backend scores tile k − 1 (the native kernel runs off this thread)
        train.read(s0, s1, tile);
        bytesRead += tile.byteLength;
        await options.onTile?.(s0, s1);
        train.checkUnchanged();
        checkFinite(tile, w, s0, prep.files.trainLoss, 'train loss');
        await pending;
        const labels = prep.meta.trainLabels.subarray(s0, s1);
        const at = s0 - range.start;
        pending = backend.cldScores({ ...kernelBase, trajectory: tile, samples: w, labels }).then((r) => {
          checkCount(backend, r, w);
          scores.set(r, at);
          options.onProgress?.({ samplesDone: at + w, samples: n, bytesRead, elapsedMs: performance.now() - t0 });
        });
        pending.catch(() => {}); // handled by the await above or below; never an unhandled rejection meanwhile
      }
      await pending;
      train.checkUnchanged();
      const labels = prep.meta.trainLabels.subarray(range.start, range.end);
      markAbsent(scores, labels, prep.checked.numClasses, prep.absentClasses);
      return { scores, range, plan, bytesRead, ms: performance.now() - t0 };
    },
  };
}

function checkCount(backend: Backend, scores: Float32Array, n: number): void {
  if (scores.length !== n) fail('E_INTERNAL', `backend ${backend.name} returned ${scores.length} scores for ${n} samples`);
}

async function withBackend<T>(backend: Backend | undefined, fn: (b: Backend) => Promise<T>): Promise<T> {
  if (backend) return fn(backend);
  const { selectBackend } = await import('../backends/select.js');
  const { backend: b } = await selectBackend('auto');
  try {
    return await fn(b);
  } finally {
    b.dispose();
  }
}

/** CLD scores of every sample (or of `options.range`) from files, under a memory budget. */
export async function cldScoresFromFiles(
  files: CldFiles,
  options: StreamOptions & { backend?: Backend } = {},
): Promise<StreamResult & { numClasses: number; absentClasses: number[] }> {
  const prep = await prepareCldFiles(files);
  try {
    const job = await planCldScoring(prep, options);
    const res = await withBackend(options.backend, (b) => job.run(b));
    return { ...res, numClasses: prep.checked.numClasses, absentClasses: prep.absentClasses };
  } finally {
    prep.close();
  }
}

/** The per-class top of a full scoring run (the same rule as `cldCoreset`; budget options as `selectPerClassWith`). */
export function selectFromScores(prep: PreparedCld, scores: Float32Array, budget: Budget, backend: string, budgetOptions: BudgetOptions = {}): CldSelection {
  validateBudget(budget);
  const { indices, perClassSelected } = selectPerClassWith(
    scores, prep.meta.trainLabels, prep.checked.numClasses, budget, budgetOptions, new Set(prep.absentClasses), prep.checked.trainCounts,
  );
  return { indices, scores, perClassSelected, absentClasses: prep.absentClasses, numClasses: prep.checked.numClasses, backend };
}

/**
 * `cldCoreset` from files with bounded memory: the same selection as loading everything, bit for
 * bit on the same backend. Uses `options.backend` (left open) or `auto` (disposed afterwards).
 */
export async function cldCoresetFromFiles(
  files: CldFiles,
  budget: Budget,
  options: Omit<StreamOptions, 'range'> & { backend?: Backend; budgetOptions?: BudgetOptions } = {},
): Promise<CldSelection & { plan: MemoryPlan }> {
  validateBudget(budget);
  const prep = await prepareCldFiles(files);
  try {
    const job = await planCldScoring(prep, options);
    return await withBackend(options.backend, async (b) => {
      const res = await job.run(b);
      return { ...selectFromScores(prep, res.scores, budget, b.name, options.budgetOptions), plan: res.plan };
    });
  } finally {
    prep.close();
  }
}
