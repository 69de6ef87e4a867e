/**
 * One training run with optional trajectory recording: the piece `riverbed train` and
 * `riverbed demo` share. Data are device-resident (`x` uploaded once by the caller).
 */
import type { Backend, Tensor } from '../backends/backend.js';
import type { Dataset } from '../data/dataset.js';
import type { Mlp } from '../model/mlp.js';
import { evaluateSamples, type SampleMetrics } from './evaluate.js';
import type { OptimizerConfig } from './optimizer.js';
import { TrajectoryRecorder } from './recorder.js';
import type { SafConfig } from './saf.js';
import type { ScheduleConfig } from './schedule.js';
import { type TrainResult, type TrainResume, type TrainSnapshot, train } from './trainer.js';

/** A dataset whose inputs are on the device. */
export interface DeviceData {
  x: Tensor;
  /** Label of every row of x. */
  labels: Int32Array;
  /** Original dataset index of every row of x. */
  indices: Int32Array;
  count: number;
}

export function toDevice(backend: Backend, ds: Dataset): DeviceData {
  return { x: backend.upload(ds.inputs, [ds.count, ds.features]), labels: ds.labels, indices: ds.indices, count: ds.count };
}

export interface RunConfig {
  epochs: number;
  batchSize: number;
  optimizer: OptimizerConfig;
  schedule: ScheduleConfig;
  seed: number;
  /** Record per-sample metrics after every epoch (and before training when recordInit). */
  record?: boolean;
  recordInit?: boolean;
  /**
   * Evaluate at every checkpoint even without recording, and hand the metrics to
   * `hooks.onCheckpoint` (online CLD): the train rows, the validation set, or both.
   */
  evaluate?: { train: boolean; val: boolean };
  /** Rows per forward pass when recording/evaluating (default 2048). */
  evalBatchSize?: number;
  /** Snapshots every this many steps (hooks.onSave), a stop after this step, a resume (TrainOptions). */
  saveEvery?: number;
  stopAfter?: number;
  /** Probe steps (TrainOptions.probeEvery, and the single steps TrainOptions.probeAt); hooks.onProbe measures. */
  probeEvery?: readonly number[];
  probeAt?: readonly number[];
  /** Continue a run: the trainer's state and the recorder's rows up to it (no "init" row is taken again). */
  resume?: { train: TrainResume; rows: { checkpoint: 'init' | number; train: SampleMetrics; val: SampleMetrics }[] };
  /** The backend's fused training step when it has one (default); false: the composed kernels (TrainOptions.fused). */
  fused?: boolean;
  /** SAF's trajectory term (TrainOptions.saf, train/saf.ts). */
  saf?: SafConfig;
}

export interface RunHooks {
  onStep?: (step: number, total: number, epoch: number) => void;
  onEpoch?: (epoch: number, trainLoss: number, val?: SampleMetrics) => void;
  /** Metrics at every checkpoint ("init" with recordInit, then each epoch), when recording or `cfg.evaluate` asks for them. */
  onCheckpoint?: (checkpoint: 'init' | number, train: SampleMetrics | undefined, val: SampleMetrics | undefined) => void;
  /** A probe is due after this step (cfg.probeEvery). */
  onProbe?: (step: number, epoch: number) => Promise<void>;
  /** A snapshot is due (cfg.saveEvery, cfg.stopAfter): save it, with the recorder's rows so far. */
  onSave?: (s: TrainSnapshot, recorder: TrajectoryRecorder | undefined) => Promise<void>;
  /** Per-sample losses of each training mini-batch (see TrainOptions.onBatchLoss); `rows` index `data`. */
  onBatchLoss?: (epoch: number, rows: Int32Array, loss: Float32Array) => void;
}

export interface RunResult extends TrainResult {
  recorder?: TrajectoryRecorder;
  /** Seconds spent in training steps and in recording, separately. */
  trainSeconds: number;
  recordSeconds: number;
}

/**
 * Trains `model` on the rows `rows` of `data` (default: all) and, when asked, records the
 * trajectory of those rows and of every row of `val`.
 */
export async function runTraining(
  model: Mlp,
  data: DeviceData,
  val: DeviceData | undefined,
  cfg: RunConfig,
  hooks: RunHooks = {},
  rows?: Int32Array,
): Promise<RunResult> {
  const trainRows = rows ?? Int32Array.from({ length: data.count }, (_, i) => i);
  const evalBs = cfg.evalBatchSize ?? 2048;
  let recorder: TrajectoryRecorder | undefined;
  if (cfg.record) {
    const labels = new Int32Array(trainRows.length);
    const indices = new Int32Array(trainRows.length);
    trainRows.forEach((r, j) => {
      labels[j] = data.labels[r]!;
      indices[j] = data.indices[r]!;
    });
    recorder = new TrajectoryRecorder(
      { labels, indices },
      { labels: val ? val.labels : new Int32Array(0), indices: val ? val.indices : new Int32Array(0) },
    );
  }
  let recordMs = 0;
  const empty = (): SampleMetrics => ({ loss: new Float32Array(0), correct: new Uint8Array(0), margin: new Float32Array(0), errorNorm: new Float32Array(0) });
  const wantTrain = !!recorder || !!cfg.evaluate?.train;
  const wantVal = !!recorder || !!cfg.evaluate?.val;
  const checkpoint = async (cp: 'init' | number): Promise<SampleMetrics | undefined> => {
    if (!wantTrain && !wantVal) return undefined;
    const t0 = performance.now();
    const tr = wantTrain ? await evaluateSamples(model, data.x, data.labels, { rows: trainRows, batchSize: evalBs }) : undefined;
    const va = val && wantVal ? await evaluateSamples(model, val.x, val.labels, { batchSize: evalBs }) : undefined;
    recorder?.record(cp, tr!, va ?? empty());
    hooks.onCheckpoint?.(cp, tr, va);
    recordMs += performance.now() - t0;
    return va;
  };
  for (const r of cfg.resume?.rows ?? []) recorder?.record(r.checkpoint, r.train, r.val);
  if (cfg.recordInit && !cfg.resume) await checkpoint('init');
  const initMs = recordMs;
  const t0 = performance.now();
  const result = await train(
    model,
    { x: data.x, labels: data.labels, rows: trainRows },
    {
      epochs: cfg.epochs,
      batchSize: cfg.batchSize,
      optimizer: cfg.optimizer,
      schedule: cfg.schedule,
      seed: cfg.seed,
      fused: cfg.fused,
      saf: cfg.saf,
      onStep: hooks.onStep,
      onBatchLoss: hooks.onBatchLoss,
      saveEvery: cfg.saveEvery,
      stopAfter: cfg.stopAfter,
      probeEvery: cfg.probeEvery,
      probeAt: cfg.probeAt,
      onProbe: hooks.onProbe,
      resume: cfg.resume?.train,
      onSave: hooks.onSave ? (s) => hooks.onSave!(s, recorder) : undefined,
      onEpoch: async (epoch, loss) => {
        const va = await checkpoint(epoch);
        hooks.onEpoch?.(epoch, loss, va);
      },
    },
  );
  const total = (performance.now() - t0) / 1000;
  return { ...result, recorder, trainSeconds: Math.max(0, total - (recordMs - initMs) / 1000), recordSeconds: recordMs / 1000 };
}
