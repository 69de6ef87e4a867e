/**
 * The trajectory recorder: at each checkpoint, per-sample metrics of every training and
 * validation sample (see evaluate.ts), kept in memory and written as one commit:
 *
 *   train_loss.npy, train_margin.npy, train_error_norm.npy   float32 [checkpoints, train samples]
 *   train_correct.npy                                          uint8   [checkpoints, train samples] (1 = argmax == label)
 *   val_*.npy                                                  the same for the validation samples
 *   train_labels.npy, val_labels.npy                           int64   [samples]
 *   train_indices.npy, val_indices.npy                         int64   [samples] — original dataset index of column j
 *   trajectory.json                                            the manifest (format "riverbed.trajectory", version 1)
 *
 * The manifest's `checkpoints` lists what each row is: "init" (before any update) or the epoch
 * number after which it was taken. Default is after every epoch: [1, 2, …, E].
 */
import { join } from 'node:path';
import { writeFilesAtomic, type FileChunks, type PendingFile } from '../io/atomic.js';
import { makeOutputDir } from '../io/output-plan.js';
import { encodeNpy, type NpyData, type EncodeNpyOptions } from '../io/npy.js';
import { fail } from '../errors.js';
import type { SampleMetrics } from './evaluate.js';

export const TRAJECTORY_FORMAT = 'riverbed.trajectory';
export const TRAJECTORY_VERSION = 1;
export const METRICS = ['loss', 'correct', 'margin', 'error_norm'] as const;
/** Every file `write(dir)` puts into dir (commands check them against their inputs before training). */
export const RECORD_FILES: readonly string[] = [
  ...(['train', 'val'] as const).flatMap((s) => [...METRICS, 'labels', 'indices'].map((m) => `${s}_${m}.npy`)),
  'trajectory.json',
];

export type Checkpoint = 'init' | number;

export interface SplitInfo {
  labels: Int32Array;
  /** Original dataset index of each recorded sample. */
  indices: Int32Array;
}

export interface TrajectoryManifest {
  format: typeof TRAJECTORY_FORMAT;
  version: typeof TRAJECTORY_VERSION;
  checkpoints: Checkpoint[];
  epochs: number;
  train: { samples: number; numClasses: number };
  val: { samples: number };
  files: Record<string, { shape: number[]; dtype: string; description: string }>;
  [key: string]: unknown;
}

export class TrajectoryRecorder {
  readonly checkpoints: Checkpoint[] = [];
  private readonly train: SampleMetrics[] = [];
  private readonly val: SampleMetrics[] = [];

  constructor(
    readonly trainSplit: SplitInfo,
    readonly valSplit: SplitInfo,
  ) {
    if (trainSplit.labels.length !== trainSplit.indices.length) fail('E_SHAPE', 'train labels and indices differ in length');
    if (valSplit.labels.length !== valSplit.indices.length) fail('E_SHAPE', 'val labels and indices differ in length');
  }

  get trainSamples(): number {
    return this.trainSplit.labels.length;
  }
  get valSamples(): number {
    return this.valSplit.labels.length;
  }

  /** Row k as recorded (checkpoints save and restore the rows). */
  row(k: number): { checkpoint: Checkpoint; train: SampleMetrics; val: SampleMetrics } {
    if (!(k >= 0 && k < this.checkpoints.length)) fail('E_INTERNAL', `recorder has ${this.checkpoints.length} rows, not row ${k}`);
    return { checkpoint: this.checkpoints[k]!, train: this.train[k]!, val: this.val[k]! };
  }

  record(checkpoint: Checkpoint, train: SampleMetrics, val: SampleMetrics): void {
    if (train.loss.length !== this.trainSamples) fail('E_SHAPE', `recorded ${train.loss.length} train samples, expected ${this.trainSamples}`);
    if (val.loss.length !== this.valSamples) fail('E_SHAPE', `recorded ${val.loss.length} val samples, expected ${this.valSamples}`);
    this.checkpoints.push(checkpoint);
    this.train.push(train);
    this.val.push(val);
  }

  /** A metric as one [checkpoints, samples] row-major array. */
  matrix(split: 'train' | 'val', metric: 'loss' | 'margin' | 'errorNorm'): Float32Array;
  matrix(split: 'train' | 'val', metric: 'correct'): Uint8Array;
  matrix(split: 'train' | 'val', metric: keyof SampleMetrics): Float32Array | Uint8Array {
    const rows = split === 'train' ? this.train : this.val;
    const n = split === 'train' ? this.trainSamples : this.valSamples;
    const out = metric === 'correct' ? new Uint8Array(rows.length * n) : new Float32Array(rows.length * n);
    rows.forEach((r, e) => out.set(r[metric] as never, e * n));
    return out;
  }

  /** Writes every file and the manifest into `dir` (created if needed), all or nothing. */
  write(dir: string, info: Record<string, unknown> = {}): TrajectoryManifest {
    const made = makeOutputDir(dir);
    const E = this.checkpoints.length;
    const pending: PendingFile[] = [];
    const files: TrajectoryManifest['files'] = {};
    const add = (name: string, data: NpyData, shape: number[], description: string, opts: EncodeNpyOptions = {}) => {
      pending.push({ path: join(dir, name), data: encodeNpy(data, shape, opts) as FileChunks });
      const dtype = opts.dtype === 'i8' ? 'int64' : data instanceof Uint8Array ? 'uint8' : data instanceof Float32Array ? 'float32' : 'int32';
      files[name] = { shape, dtype, description };
    };
    for (const split of ['train', 'val'] as const) {
      const n = split === 'train' ? this.trainSamples : this.valSamples;
      const info = split === 'train' ? this.trainSplit : this.valSplit;
      add(`${split}_loss.npy`, this.matrix(split, 'loss'), [E, n], 'per-sample cross-entropy loss');
      add(`${split}_correct.npy`, this.matrix(split, 'correct'), [E, n], '1 where argmax(logits) == label (first maximum wins), else 0');
      add(`${split}_margin.npy`, this.matrix(split, 'margin'), [E, n], 'logit of the true class minus the largest other logit');
      add(`${split}_error_norm.npy`, this.matrix(split, 'errorNorm'), [E, n], 'L2 norm of softmax(logits) - onehot(label) (EL2N)');
      add(`${split}_labels.npy`, info.labels, [n], 'class of each recorded sample', { dtype: 'i8' });
      add(`${split}_indices.npy`, info.indices, [n], 'original dataset index of each recorded sample (column)', { dtype: 'i8' });
    }
    let numClasses = 0;
    for (const y of this.trainSplit.labels) numClasses = Math.max(numClasses, y + 1);
    for (const y of this.valSplit.labels) numClasses = Math.max(numClasses, y + 1);
    const manifest: TrajectoryManifest = {
      format: TRAJECTORY_FORMAT,
      version: TRAJECTORY_VERSION,
      ...info,
      checkpoints: [...this.checkpoints],
      epochs: this.checkpoints.filter((c) => c !== 'init').length,
      train: { samples: this.trainSamples, numClasses },
      val: { samples: this.valSamples },
      files,
    };
    pending.push({ path: join(dir, 'trajectory.json'), data: Buffer.from(JSON.stringify(manifest, null, 2) + '\n', 'utf8') });
    try {
      writeFilesAtomic(pending);
    } catch (err) {
      made.undo(); // a directory this call created does not outlive a failed write
      throw err;
    }
    return manifest;
  }
}
