/**
 * Mode connectivity between two models w₁, w₂ (same description):
 *
 *  - the straight line w(α) = w₁ + α(w₂ − w₁), α evenly spaced (31 points on [0, 1] by default,
 *    endpoints included), and its barrier  max_α L(α) − ½(L(0) + L(1))  (Frankle et al.'s linear
 *    mode connectivity; maximum over the evaluated α in [0, 1]);
 *  - Garipov et al.'s quadratic Bézier curve (NeurIPS 2018, "Loss Surfaces, Mode Connectivity,
 *    and Fast Ensembling of DNNs"): φ(t) = (1−t)²w₁ + 2t(1−t)θ + t²w₂, the bend θ initialised at
 *    the line's midpoint (w₁ + w₂)/2 and trained by SGD on L(φ(t)) with t ~ U(0, 1) drawn afresh
 *    for every mini-batch (∂L/∂θ = 2t(1−t)·∇L(φ(t))), then evaluated at 61 points t ∈ [0, 1].
 *    As an affine family, φ(t) = w₁ + 2t(1−t)(θ − w₁) + t²(w₂ − w₁): the batched evaluator serves it.
 */
import { fail } from '../errors.js';
import type { Mlp } from '../model/mlp.js';
import { Rng } from '../model/rng.js';
import { type Weights, difference } from './directions.js';
import type { PointResults } from './evaluate.js';

/** n evenly spaced values on [lo, hi], both included. */
export function linspace(lo: number, hi: number, n: number): number[] {
  if (n === 1) return [lo];
  return Array.from({ length: n }, (_, i) => (i === n - 1 ? hi : lo + ((hi - lo) * i) / (n - 1)));
}

/** The barrier of losses L at coordinates α: max over α ∈ [0, 1] of L(α) − ½(L(0) + L(1)); null without α = 0 and 1. */
export function barrier(alpha: readonly number[], loss: ArrayLike<number>): { value: number; at: number; endpoints: [number, number] } | null {
  const i0 = alpha.findIndex((a) => a === 0);
  const i1 = alpha.findIndex((a) => a === 1);
  if (i0 < 0 || i1 < 0) return null;
  const mid = 0.5 * (loss[i0]! + loss[i1]!);
  let best = -Infinity;
  let at = 0;
  alpha.forEach((a, i) => {
    if (a >= 0 && a <= 1 && loss[i]! - mid > best) {
      best = loss[i]! - mid;
      at = a;
    }
  });
  return { value: best, at, endpoints: [loss[i0]!, loss[i1]!] };
}

/** The same for accuracy: ½(A(0) + A(1)) − min A (a drop is positive). */
export function accuracyBarrier(alpha: readonly number[], acc: ArrayLike<number>): number | null {
  const i0 = alpha.findIndex((a) => a === 0);
  const i1 = alpha.findIndex((a) => a === 1);
  if (i0 < 0 || i1 < 0) return null;
  let min = Infinity;
  alpha.forEach((a, i) => {
    if (a >= 0 && a <= 1) min = Math.min(min, acc[i]!);
  });
  return 0.5 * (acc[i0]! + acc[i1]!) - min;
}

/** Coefficients of the line family {base w₁, dir w₂ − w₁}: [P, 1]. */
export function lineCoefs(alpha: readonly number[]): Float64Array {
  return Float64Array.from(alpha);
}

/** Coefficients of the Bézier family {base w₁, dirs [θ − w₁, w₂ − w₁]}: [P, 2] = (2t(1−t), t²). */
export function bezierCoefs(t: readonly number[]): Float64Array {
  const out = new Float64Array(2 * t.length);
  t.forEach((v, i) => {
    out[2 * i] = 2 * v * (1 - v);
    out[2 * i + 1] = v * v;
  });
  return out;
}

/** φ(t) on the host (float64 sums, one rounding). */
export function bezierPoint(w1: Weights, theta: Weights, w2: Weights, t: number): Weights {
  const a = (1 - t) * (1 - t);
  const b = 2 * t * (1 - t);
  const c = t * t;
  const out: Weights = new Map();
  for (const [name, x] of w1) {
    const th = theta.get(name)!;
    const y = w2.get(name)!;
    const v = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) v[i] = a * x[i]! + b * th[i]! + c * y[i]!;
    out.set(name, v);
  }
  return out;
}

export interface CurveTraining {
  epochs: number;
  batchSize: number;
  lr: number;
  momentum: number;
  seed: number;
  onEpoch?: (epoch: number, meanLoss: number) => void;
}

/**
 * Trains the bend θ of the Bézier curve between w₁ and w₂ on the samples (host arrays), starting
 * at the midpoint; returns θ and the mean training loss of every epoch. The model's weights are
 * restored to w₁ afterwards.
 */
export async function trainBezier(
  model: Mlp,
  w1: Weights,
  w2: Weights,
  data: { inputs: Float32Array; labels: Int32Array; count: number; features: number },
  o: CurveTraining,
): Promise<{ theta: Weights; epochLoss: number[]; steps: number }> {
  if (!(o.lr > 0) || !(o.momentum >= 0 && o.momentum < 1) || !(o.epochs >= 1) || !(o.batchSize >= 1)) fail('E_ARG', 'curve training needs lr > 0, momentum in [0, 1), epochs ≥ 1, batch size ≥ 1');
  const b = model.backend;
  const theta: Weights = new Map();
  const velocity: Weights = new Map();
  for (const [name, x] of w1) {
    const y = w2.get(name)!;
    theta.set(name, Float32Array.from(x, (v, i) => 0.5 * (v + y[i]!)));
    velocity.set(name, new Float32Array(x.length));
  }
  const rng = Rng.derive(o.seed, 'landscape:curve');
  const epochLoss: number[] = [];
  let steps = 0;
  const F = data.features;
  for (let e = 0; e < o.epochs; e++) {
    const order = rng.permutation(data.count);
    let sum = 0;
    for (let s = 0; s < data.count; s += o.batchSize) {
      const rowsN = Math.min(o.batchSize, data.count - s);
      const xb = new Float32Array(rowsN * F);
      const yb = new Int32Array(rowsN);
      for (let r = 0; r < rowsN; r++) {
        const i = order[s + r]!;
        xb.set(data.inputs.subarray(i * F, (i + 1) * F), r * F);
        yb[r] = data.labels[i]!;
      }
      const t = rng.next();
      model.setWeights(bezierPoint(w1, theta, w2, t));
      const x = b.upload(xb, [rowsN, F]);
      const y = b.uploadInt(yb, [rowsN]);
      const { loss, grads } = model.lossAndGradients(x, y);
      const coef = 2 * t * (1 - t);
      try {
        const l = await b.read(loss);
        for (let i = 0; i < l.length; i++) sum += l[i]!;
        for (let k = 0; k < model.params.length; k++) {
          const name = model.params[k]!.name;
          const g = await b.read(grads[k]!);
          const th = theta.get(name)!;
          const v = velocity.get(name)!;
          // SGD with momentum (PyTorch's form) on θ, the gradient through φ(t): 2t(1−t)·∇L.
          for (let i = 0; i < th.length; i++) {
            v[i] = o.momentum * v[i]! + coef * g[i]!;
            th[i] = th[i]! - o.lr * v[i]!;
          }
        }
      } finally {
        b.free(x);
        b.free(y);
        b.free(loss);
        for (const g of grads) b.free(g);
      }
      steps++;
    }
    epochLoss.push(sum / data.count);
    o.onEpoch?.(e + 1, sum / data.count);
  }
  model.setWeights(w1);
  return { theta, epochLoss, steps };
}

/** The family of the Bézier curve, for the evaluator: {w₁, [θ − w₁, w₂ − w₁]}. */
export function bezierFamily(w1: Weights, theta: Weights, w2: Weights): { base: Weights; dirs: Weights[] } {
  return { base: w1, dirs: [difference(theta, w1), difference(w2, w1)] };
}

export type { PointResults };
