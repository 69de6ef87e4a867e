/**
 * Mini-batch training on device-resident data.
 *
 * The whole input matrix is uploaded once; each step gathers its rows on the device
 * (`gatherRows`), so the host only sends the batch's indices and labels. Shuffling is a seeded
 * Fisher–Yates per epoch from the stream `Rng.derive(seed, "shuffle")`; the last, smaller batch
 * of an epoch is kept. The per-epoch training loss is summed on the device and read once per epoch.
 */
import type { Activation, Backend, FusedOptimizer, FusedTrainLayer, FusedTrainState, Tensor } from '../backends/backend.js';
import { fail } from '../errors.js';
import { isLinear, isMlpDescription, outputSize } from '../model/description.js';
import type { Mlp } from '../model/mlp.js';
import { Rng } from '../model/rng.js';
import { Optimizer, type OptimizerConfig } from './optimizer.js';
import { type SafConfig, type SafSnapshot, SafState } from './saf.js';
import { type ScheduleConfig, learningRate } from './schedule.js';

export interface TrainSet {
  /** All inputs [M, D] on the model's backend. */
  x: Tensor;
  /** Label of every row of x (host). */
  labels: Int32Array;
  /** The rows to train on (default: all M). */
  rows?: Int32Array;
}

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  optimizer: OptimizerConfig;
  schedule: ScheduleConfig;
  seed: number;
  /**
   * Called after every optimizer step (cheap: no device sync). With a fused backend the steps of
   * each call (at most FUSED_STEPS_PER_CALL) are reported together after it, in order.
   */
  onStep?: (step: number, totalSteps: number, epoch: number) => void;
  /** Called after every epoch with its mean training loss; may be async (e.g. to record a trajectory). */
  onEpoch?: (epoch: number, meanLoss: number) => void | Promise<void>;
  /**
   * Per-sample losses of every mini-batch as it was trained on (before its update), with the
   * batch's rows. Read back without stalling the loop; all of an epoch's calls happen before its
   * `onEpoch`. Used by online CLD scored from training batches. `step` is the 0-based update the
   * batch was used by (calls may come out of step order on the composed path).
   */
  onBatchLoss?: (epoch: number, rows: Int32Array, loss: Float32Array, step: number) => void;
  /**
   * Train with the backend's fused step when it has one (Backend.mlpTrainSteps: native; one call
   * per epoch, off the event loop) — the default; false forces the composed kernel-by-kernel path.
   */
  fused?: boolean;
  /** A regulariser's gradient added to every batch gradient before the step (EWC); implies the composed path. */
  penalty?: GradientPenalty;
  /**
   * SAF's trajectory term λ·τ²·KL against each sample's output of E epochs earlier (train/saf.ts);
   * implies the composed path; snapshots carry its state (TrainSnapshot.saf) and a resume needs it.
   */
  saf?: SafConfig;
  /** Call `onSave` after every `saveEvery` optimizer steps (global count), awaited before the next step. */
  saveEvery?: number;
  /** Also call `onSave` after exactly these steps (branching WSD's branch points). */
  saveAt?: readonly number[];
  onSave?: (s: TrainSnapshot) => Promise<void>;
  /** Continue from a snapshot taken by `onSave` (same model, data rows, options): see TrainSnapshot. */
  resume?: TrainResume;
  /** Stop after this many optimizer steps in all (a snapshot due at that step is saved first). */
  stopAfter?: number;
  /** Call `onProbe` (awaited) after every step that is a multiple of one of these (probes, curvature/train-probes.ts); before a snapshot of that step. */
  probeEvery?: readonly number[];
  /** Also call `onProbe` after exactly these steps (e.g. the step before a probe that needs the previous weights). */
  probeAt?: readonly number[];
  onProbe?: (step: number, epoch: number) => Promise<void>;
  /**
   * Train with this optimizer (built on this model, same config) and keep it: its state and step
   * count carry over between calls, as continual learning's tasks need. The schedule, `onStep`,
   * `stopAfter` and the result count this call's steps from 0. Not with snapshots or a resume.
   */
  optimizerInstance?: Optimizer;
}

/** Adds a regulariser's gradient to the loss gradients (one per parameter); returns the new ones and frees the old. */
export interface GradientPenalty {
  addGradient(grads: Tensor[]): Tensor[];
}

/**
 * Where a run stands after a step: with the model's weights and the optimizer's state this is
 * everything the rest of the run depends on, so resuming from it repeats the run bit for bit.
 */
export interface TrainResumeState {
  /** Optimizer steps taken (the schedule's 0-based step of the next update). */
  step: number;
  /** The 1-based epoch in progress, and the steps of it already taken (= steps per epoch: only its end-of-epoch work is left). */
  epoch: number;
  position: number;
  /** This epoch's order of the training rows (after its shuffle) and the shuffle stream's state after it. */
  order: Int32Array;
  rng: [number, number, number, number];
  /** Sum of this epoch's per-sample losses so far, as the loop accumulates it. */
  lossSum: number;
  /** Mean losses of the finished epochs, and classp's moved fraction of every step so far. */
  epochLoss: number[];
  updateFraction: number[];
}

/** What `resume` takes: a snapshot's position and its optimizer state as `stateToHost` named it. */
export interface TrainResume extends TrainResumeState {
  optimizerState: ReadonlyMap<string, { data: Float32Array }>;
  /** With `saf`: its state at the snapshot (a run with SAF resumes only with it), and its file for errors. */
  saf?: SafSnapshot;
  safFile?: string;
  /** Named in errors about the state. */
  file?: string;
}

export interface TrainSnapshot extends TrainResumeState {
  /** The optimizer (its state tensors, `stateToHost`); the weights are the model's. */
  optimizer: Optimizer;
  /** With `saf`: a copy of its recorded outputs and KL sums. */
  saf?: SafSnapshot;
}

export interface TrainResult {
  /** Mean mini-batch loss of every epoch (1-based epoch e at index e−1). */
  epochLoss: number[];
  steps: number;
  /** classp: the fraction of coordinates each step moved (g² > threshold), in step order. */
  updateFraction?: number[];
  /** Set when `stopAfter` ended the run early: the step it stopped after. */
  stoppedAt?: number;
  /** With `saf`: the mean KL (without λ, τ²) of each epoch from `firstEpoch` (E + 1) on. */
  saf?: { firstEpoch: number; meanKl: number[] };
}

export function stepsPerEpoch(samples: number, batchSize: number): number {
  return Math.ceil(samples / batchSize);
}

export async function train(model: Mlp, data: TrainSet, o: TrainOptions): Promise<TrainResult> {
  const b: Backend = model.backend;
  const rows = data.rows ?? Int32Array.from({ length: data.x.shape[0]! }, (_, i) => i);
  const n = rows.length;
  if (!Number.isInteger(o.epochs) || o.epochs < 1) fail('E_ARG', `expected a positive integer, got ${o.epochs}`, { field: 'epochs' });
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) fail('E_ARG', `expected a positive integer, got ${o.batchSize}`, { field: 'batch-size' });
  if (n === 0) fail('E_ARG', 'no training samples');
  const perEpoch = stepsPerEpoch(n, o.batchSize);
  const total = perEpoch * o.epochs;
  if (o.saveEvery !== undefined && (!Number.isInteger(o.saveEvery) || o.saveEvery < 1)) fail('E_ARG', `expected a positive integer, got ${o.saveEvery}`, { field: 'checkpoint-every' });
  for (const e of o.probeEvery ?? []) if (!Number.isInteger(e) || e < 1) fail('E_ARG', `expected a positive integer, got ${e}`, { field: 'probe every' });
  for (const [f, l] of [['saveAt', o.saveAt], ['probeAt', o.probeAt]] as const) for (const t of l ?? []) if (!Number.isSafeInteger(t) || t < 1) fail('E_ARG', `expected steps ≥ 1, got ${t}`, { field: f });
  const saveAt = new Set(o.saveAt);
  const probeAt = new Set(o.probeAt);
  const r0 = o.resume;
  if (r0) checkResume(r0, n, perEpoch, total, rows);
  const rng = r0 ? Rng.fromState(r0.rng) : Rng.derive(o.seed, 'shuffle');
  const carried = o.optimizerInstance;
  if (carried) {
    if (r0 || o.onSave) fail('E_ARG', 'a carried optimizer (optimizerInstance) cannot be combined with snapshots or a resume');
    if (carried.params.length !== model.params.length || carried.params.some((t, i) => t !== model.params[i]!.tensor)) fail('E_ARG', "the carried optimizer updates another model's parameters");
    if (JSON.stringify(carried.config) !== JSON.stringify(o.optimizer)) fail('E_ARG', `the carried optimizer is ${carried.config.name} with other settings than options.optimizer (${o.optimizer.name})`);
  }
  const opt = carried ?? new Optimizer(b, model, o.optimizer);
  // A carried optimizer has taken steps before this call; the schedule and the hooks count from here.
  const offset = carried ? carried.steps : 0;
  const epochLoss: number[] = r0 ? [...r0.epochLoss] : [];
  const updateFraction: number[] = r0 ? [...r0.updateFraction] : [];
  const order = r0 ? Int32Array.from(r0.order) : Int32Array.from(rows);
  const yHost = new Int32Array(o.batchSize);
  const saf = o.saf ? new SafState(data.x.shape[0]!, outputSize(model.description), o.saf) : undefined;
  if (saf && saf.config.epochs >= o.epochs) fail('E_ARG', `epochs=${saf.config.epochs}: the SAF term compares with outputs recorded E epochs earlier, so E must be below the run's ${o.epochs} epochs`, { field: 'saf' });
  if (r0 && (saf !== undefined) !== (r0.saf !== undefined)) fail('E_FORMAT', `cannot resume: the snapshot was taken ${r0.saf ? 'with' : 'without'} SAF, this run is ${saf ? 'with' : 'without'} it`, r0.file !== undefined ? { file: r0.file } : {});
  if (r0?.saf) saf!.restore(r0.saf, r0.epoch, r0.safFile ?? r0.file);
  const fused = o.penalty || saf ? undefined : fusedEpoch(model, opt, data, o, order.length, total, offset);
  const classp = o.optimizer.name === 'classp';
  let stoppedAt: number | undefined;
  // After a step: the snapshot due at this step, and whether stopAfter ends the run here.
  const afterStep = async (epoch: number, position: number, lossSum: () => Promise<number>): Promise<boolean> => {
    const t = opt.steps - offset;
    if (o.onProbe && (probeAt.has(t) || o.probeEvery?.some((e) => t % e === 0))) await o.onProbe(t, epoch);
    const stopNow = o.stopAfter !== undefined && t >= o.stopAfter;
    if (o.onSave && ((o.saveEvery && t % o.saveEvery === 0) || saveAt.has(t) || stopNow)) {
      if (classp) updateFraction.push(...(await opt.takeUpdateFractions()));
      await o.onSave({ step: t, epoch, position, order: Int32Array.from(order), rng: rng.state(), lossSum: await lossSum(), epochLoss: [...epochLoss], updateFraction: [...updateFraction], optimizer: opt, ...(saf ? { saf: saf.snapshot() } : {}) });
    }
    if (stopNow) stoppedAt = t;
    return stopNow;
  };
  try {
    if (r0) opt.loadState(r0.optimizerState, model.params.map((p) => p.name), r0.step, r0.file);
    for (let epoch = r0 ? r0.epoch : 1; epoch <= o.epochs && stoppedAt === undefined; epoch++) {
      const resumed = r0 !== undefined && epoch === r0.epoch;
      if (!resumed) rng.shuffle(order);
      const start = resumed ? r0.position : 0;
      let sum: number;
      if (fused) {
        const got = await fused(epoch, order, start, resumed ? r0.lossSum : 0, afterStep);
        if (got === undefined) break;
        sum = got;
      } else {
        let acc = resumed ? b.upload(Float32Array.of(r0.lossSum), [1]) : b.zeros([1]);
        const batchReads: Promise<void>[] = [];
        let stop = false;
        for (let s = start; s < perEpoch && !stop; s++) {
          const idx = order.subarray(s * o.batchSize, Math.min(n, (s + 1) * o.batchSize));
          const k = idx.length;
          const idxT = b.uploadInt(idx, [k]);
          const xb = b.gatherRows(data.x, idxT);
          b.free(idxT);
          for (let r = 0; r < k; r++) yHost[r] = data.labels[idx[r]!]!;
          const yb = b.uploadInt(yHost.subarray(0, k), [k]);
          const { loss, grads: g0 } = saf ? await saf.lossAndGradients(model, xb, yb, idx, epoch) : model.lossAndGradients(xb, yb);
          b.free(xb);
          b.free(yb);
          const grads = o.penalty ? o.penalty.addGradient(g0) : g0;
          const t = opt.steps - offset;
          opt.step(grads, learningRate(o.optimizer.lr, t, total, o.schedule));
          for (const g of grads) b.free(g);
          const bs = b.sum(loss);
          if (o.onBatchLoss) {
            const rowsCopy = Int32Array.from(idx);
            const hook = o.onBatchLoss;
            batchReads.push(
              b.read(loss).then((v) => {
                b.free(loss);
                hook(epoch, rowsCopy, v, t);
              }),
            );
          } else b.free(loss);
          const acc2 = b.axpy(1, bs, acc);
          b.free(bs);
          b.free(acc);
          acc = acc2;
          o.onStep?.(opt.steps - offset, total, epoch);
          const accNow = acc;
          stop = await afterStep(epoch, s + 1, async () => (await b.read(accNow))[0]!);
        }
        await Promise.all(batchReads);
        sum = (await b.read(acc))[0]!;
        b.free(acc);
        if (stop) break; // the snapshot holds the rest (even an epoch's end-of-epoch work)
      }
      if (classp) updateFraction.push(...(await opt.takeUpdateFractions()));
      const mean = sum / n;
      if (!Number.isFinite(mean)) fail('E_VALUE', `training diverged: mean loss of epoch ${epoch} is ${mean} (lower the learning rate)`);
      epochLoss.push(mean);
      saf?.endEpoch(epoch);
      await o.onEpoch?.(epoch, mean);
    }
    if (classp && stoppedAt !== undefined) updateFraction.push(...(await opt.takeUpdateFractions()));
  } finally {
    if (!carried) opt.dispose();
  }
  return {
    epochLoss,
    steps: opt.steps - offset,
    ...(classp ? { updateFraction } : {}),
    ...(stoppedAt !== undefined ? { stoppedAt } : {}),
    ...(saf ? { saf: { firstEpoch: saf.firstEpoch, meanKl: [...saf.meanKl] } } : {}),
  };
}

/** A resume state that cannot belong to this run (other rows, batch size or epochs) is refused before any work. */
function checkResume(r: TrainResume, n: number, perEpoch: number, total: number, rows: Int32Array): void {
  const bad = (what: string) => fail('E_FORMAT', `cannot resume: ${what}`, { file: r.file });
  if (!Number.isSafeInteger(r.step) || r.step < 1 || r.step > total) bad(`step ${r.step} is outside [1, ${total}] for this run`);
  if (!Number.isSafeInteger(r.epoch) || !Number.isSafeInteger(r.position) || r.position < 1 || r.position > perEpoch || (r.epoch - 1) * perEpoch + r.position !== r.step) {
    bad(`epoch ${r.epoch} position ${r.position} does not match step ${r.step} with ${perEpoch} steps per epoch`);
  }
  if (r.order.length !== n) bad(`the saved order has ${r.order.length} rows; this run trains ${n}`);
  if (r.epochLoss.length !== r.epoch - 1) bad(`${r.epochLoss.length} finished epochs saved for epoch ${r.epoch}`);
  if (!Number.isFinite(r.lossSum)) bad(`the epoch's loss sum is ${r.lossSum}`);
  // The saved order must be a permutation of exactly this run's rows.
  const want = Int32Array.from(rows).sort();
  const got = Int32Array.from(r.order).sort();
  for (let i = 0; i < n; i++) if (want[i] !== got[i]) bad(`the saved order is not a permutation of this run's ${n} training rows`);
}

/**
 * Runs an epoch's steps from `start` (resolves to the epoch's loss sum, starting from `sum0`), or
 * undefined when `afterStep` stopped the run. Calls end wherever a snapshot is due.
 */
type FusedEpoch = (
  epoch: number,
  order: Int32Array,
  start: number,
  sum0: number,
  afterStep: (epoch: number, position: number, lossSum: () => Promise<number>) => Promise<boolean>,
) => Promise<number | undefined>;

/** With an onStep hook, a fused epoch is split into calls of at most this many steps. */
export const FUSED_STEPS_PER_CALL = 16;

/**
 * The epoch as fused backend calls (Backend.mlpTrainSteps): resolves to the sum of the per-sample
 * losses; the hooks see what the composed path gives them. Undefined when the backend has no fused
 * step, `fused: false` asks for the composed path, or the model does not end in a linear layer.
 */
function fusedEpoch(
  model: Mlp,
  opt: Optimizer,
  data: TrainSet,
  o: TrainOptions,
  n: number,
  total: number,
  offset: number,
): FusedEpoch | undefined {
  const b = model.backend;
  const layers = model.description.layers;
  // The fused step knows linear layers and activations only: a CNN trains on the composed path.
  if (o.fused === false || typeof b.mlpTrainSteps !== 'function' || !isMlpDescription(model.description) || !isLinear(layers[layers.length - 1]!)) return undefined;
  const states = opt.stateTensors;
  const fl: FusedTrainLayer[] = [];
  let p = 0;
  for (const l of layers) {
    if (!isLinear(l)) {
      fl.push({ type: l.type as Activation });
      continue;
    }
    const w = p++;
    const bi = l.bias !== false ? p++ : -1;
    fl.push({
      type: 'linear',
      weight: model.params[w]!.tensor,
      weightState: states[w]!,
      ...(bi >= 0 ? { bias: model.params[bi]!.tensor, biasState: states[bi]! } : {}),
    });
  }
  const c = o.optimizer;
  if (c.name !== 'sgd' && c.name !== 'adam' && c.name !== 'adamw') return undefined;
  const optimizer: FusedOptimizer = { name: c.name, weightDecay: c.weightDecay, momentum: c.momentum, nesterov: c.nesterov, beta1: c.beta1, beta2: c.beta2, eps: c.eps };
  const state: FusedTrainState = {};
  const bs = o.batchSize;
  const perEpoch = stepsPerEpoch(n, bs);
  const chunk = o.onStep ? Math.min(perEpoch, FUSED_STEPS_PER_CALL) : perEpoch;
  // A call ends where a snapshot or the stop is due, so each is taken between two calls.
  const next = (t: number, every: number | undefined) => (every ? (Math.floor(t / every) + 1) * every : Infinity);
  const at = [...(o.saveAt ?? []), ...(o.onProbe ? (o.probeAt ?? []) : [])].sort((a, b) => a - b);
  const nextAt = (t: number) => at.find((s) => s > t) ?? Infinity;
  const due = (t: number) => Math.min(next(t, o.saveEvery), nextAt(t), o.stopAfter ?? Infinity, ...(o.onProbe ? (o.probeEvery ?? []).map((e) => next(t, e)) : []));
  return async (epoch, order, start, sum0, afterStep) => {
    const loss = new Float32Array(n);
    let sum = sum0;
    let stopped = false;
    let s = start;
    while (s < perEpoch && !stopped) {
      const now = opt.steps - offset;
      const steps = Math.min(chunk, perEpoch - s, Math.max(1, due(now) - now));
      const r0 = s * bs;
      const r1 = Math.min(n, (s + steps) * bs);
      const t0 = opt.steps;
      const lr = Float64Array.from({ length: steps }, (_, j) => learningRate(c.lr, now + j, total, o.schedule));
      sum += await b.mlpTrainSteps!({
        layers: fl,
        x: data.x,
        labels: data.labels,
        rows: order.subarray(r0, r1),
        batchSize: bs,
        lr,
        optimizer,
        stepsBefore: t0,
        loss: loss.subarray(r0, r1),
        state,
      });
      opt.advance(steps);
      if (o.onStep) for (let j = 1; j <= steps; j++) o.onStep(now + j, total, epoch);
      s += steps;
      const sumNow = sum;
      stopped = await afterStep(epoch, s, async () => sumNow);
    }
    if (o.onBatchLoss) {
      // Only the batches trained here (a resumed epoch's earlier ones were reported before its stop).
      const end = Math.min(n, s * bs);
      for (let r0 = start * bs; r0 < end; r0 += bs) o.onBatchLoss(epoch, order.slice(r0, Math.min(end, r0 + bs)), loss.slice(r0, Math.min(end, r0 + bs)), (epoch - 1) * perEpoch + r0 / bs);
    }
    return stopped ? undefined : sum;
  };
}
