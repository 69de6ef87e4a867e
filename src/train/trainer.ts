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
import { isLinear, isMlpDescription } from '../model/description.js';
import type { Mlp } from '../model/mlp.js';
import { Rng } from '../model/rng.js';
import { Optimizer, type OptimizerConfig } from './optimizer.js';
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
   * `onEpoch`. Used by online CLD scored from training batches.
   */
  onBatchLoss?: (epoch: number, rows: Int32Array, loss: Float32Array) => void;
  /**
   * Train with the backend's fused step when it has one (Backend.mlpTrainSteps: native; one call
   * per epoch, off the event loop) — the default; false forces the composed kernel-by-kernel path.
   */
  fused?: boolean;
}

export interface TrainResult {
  /** Mean mini-batch loss of every epoch (1-based epoch e at index e−1). */
  epochLoss: number[];
  steps: number;
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
  const rng = Rng.derive(o.seed, 'shuffle');
  const opt = new Optimizer(b, model, o.optimizer);
  const epochLoss: number[] = [];
  const order = Int32Array.from(rows);
  const yHost = new Int32Array(o.batchSize);
  const fused = fusedEpoch(model, opt, data, o, order.length, total);
  try {
    for (let epoch = 1; epoch <= o.epochs; epoch++) {
      rng.shuffle(order);
      let sum: number;
      if (fused) sum = await fused(epoch, order);
      else {
        let acc = b.zeros([1]);
        const batchReads: Promise<void>[] = [];
        for (let s = 0; s < perEpoch; s++) {
          const idx = order.subarray(s * o.batchSize, Math.min(n, (s + 1) * o.batchSize));
          const k = idx.length;
          const idxT = b.uploadInt(idx, [k]);
          const xb = b.gatherRows(data.x, idxT);
          b.free(idxT);
          for (let r = 0; r < k; r++) yHost[r] = data.labels[idx[r]!]!;
          const yb = b.uploadInt(yHost.subarray(0, k), [k]);
          const { loss, grads } = model.lossAndGradients(xb, yb);
          b.free(xb);
          b.free(yb);
          const t = opt.steps;
          opt.step(grads, learningRate(o.optimizer.lr, t, total, o.schedule));
          for (const g of grads) b.free(g);
          const bs = b.sum(loss);
          if (o.onBatchLoss) {
            const rowsCopy = Int32Array.from(idx);
            const hook = o.onBatchLoss;
            batchReads.push(
              b.read(loss).then((v) => {
                b.free(loss);
                hook(epoch, rowsCopy, v);
              }),
            );
          } else b.free(loss);
          const acc2 = b.axpy(1, bs, acc);
          b.free(bs);
          b.free(acc);
          acc = acc2;
          o.onStep?.(opt.steps, total, epoch);
        }
        await Promise.all(batchReads);
        sum = (await b.read(acc))[0]!;
        b.free(acc);
      }
      const mean = sum / n;
      if (!Number.isFinite(mean)) fail('E_VALUE', `training diverged: mean loss of epoch ${epoch} is ${mean} (lower the learning rate)`);
      epochLoss.push(mean);
      await o.onEpoch?.(epoch, mean);
    }
  } finally {
    opt.dispose();
  }
  return { epochLoss, steps: opt.steps };
}

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
): ((epoch: number, order: Int32Array) => Promise<number>) | undefined {
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
  return async (epoch, order) => {
    const loss = new Float32Array(n);
    let sum = 0;
    for (let s = 0; s < perEpoch; s += chunk) {
      const steps = Math.min(chunk, perEpoch - s);
      const r0 = s * bs;
      const r1 = Math.min(n, (s + steps) * bs);
      const t0 = opt.steps;
      const lr = Float64Array.from({ length: steps }, (_, j) => learningRate(c.lr, t0 + j, total, o.schedule));
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
      if (o.onStep) for (let j = 1; j <= steps; j++) o.onStep(t0 + j, total, epoch);
    }
    if (o.onBatchLoss) {
      for (let r0 = 0; r0 < n; r0 += bs) o.onBatchLoss(epoch, order.slice(r0, Math.min(n, r0 + bs)), loss.slice(r0, Math.min(n, r0 + bs)));
    }
    return sum;
  };
}
