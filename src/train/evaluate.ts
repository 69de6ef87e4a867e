/**
 * Per-sample metrics of a model on device-resident data: loss (the backend's softmax cross-entropy),
 * correctness (argmax == label, first maximum wins as in numpy), logit margin (logit of the true
 * class minus the largest other logit) and ‖softmax − onehot‖₂ (the EL2N score).
 *
 * The contract has no argmax/margin kernel, so logits are read back per chunk and these three are
 * computed on the host in float64 — one readback per chunk of `batchSize` rows, never per sample.
 */
import type { Backend, Tensor } from '../backends/backend.js';
import type { Mlp } from '../model/mlp.js';

export interface SampleMetrics {
  loss: Float32Array;
  /** 1 where argmax(logits) == label, else 0. */
  correct: Uint8Array;
  margin: Float32Array;
  errorNorm: Float32Array;
}

/**
 * Metrics of rows `rows` (default: all) of x [M, D] with labels given per row of x.
 * Results are in the order of `rows`.
 */
export async function evaluateSamples(
  model: Mlp,
  x: Tensor,
  labels: Int32Array,
  options: { rows?: Int32Array; batchSize?: number } = {},
): Promise<SampleMetrics> {
  const b: Backend = model.backend;
  const rows = options.rows ?? arange(x.shape[0]!);
  const n = rows.length;
  const bs = Math.max(1, options.batchSize ?? 2048);
  const out: SampleMetrics = {
    loss: new Float32Array(n),
    correct: new Uint8Array(n),
    margin: new Float32Array(n),
    errorNorm: new Float32Array(n),
  };
  for (let start = 0; start < n; start += bs) {
    const idx = rows.subarray(start, Math.min(n, start + bs));
    const k = idx.length;
    const idxT = b.uploadInt(idx, [k]);
    const xb = b.gatherRows(x, idxT);
    b.free(idxT);
    const yHost = new Int32Array(k);
    for (let r = 0; r < k; r++) yHost[r] = labels[idx[r]!]!;
    const yb = b.uploadInt(yHost, [k]);
    const logits = model.forward(xb);
    b.free(xb);
    const ce = b.softmaxCrossEntropy(logits, yb);
    b.free(ce.grad);
    b.free(yb);
    const [loss, z] = await Promise.all([b.read(ce.loss), b.read(logits)]);
    b.free(ce.loss);
    b.free(logits);
    out.loss.set(loss, start);
    hostMetrics(z, yHost, logits.shape[1]!, out, start);
  }
  return out;
}

/** correct / margin / errorNorm of logits z [k, C] into `out` at `offset`. */
export function hostMetrics(z: Float32Array, y: Int32Array, C: number, out: SampleMetrics, offset: number): void {
  const k = y.length;
  for (let r = 0; r < k; r++) {
    const row = r * C;
    const label = y[r]!;
    let arg = 0;
    let mx = -Infinity;
    let other = -Infinity;
    for (let j = 0; j < C; j++) {
      const v = z[row + j]!;
      if (v > mx) {
        mx = v;
        arg = j;
      }
      if (j !== label && v > other) other = v;
    }
    let s = 0;
    for (let j = 0; j < C; j++) s += Math.exp(z[row + j]! - mx);
    let e2 = 0;
    for (let j = 0; j < C; j++) {
      const d = Math.exp(z[row + j]! - mx) / s - (j === label ? 1 : 0);
      e2 += d * d;
    }
    out.correct[offset + r] = arg === label ? 1 : 0;
    out.margin[offset + r] = z[row + label]! - other;
    out.errorNorm[offset + r] = Math.sqrt(e2);
  }
}

/** Fraction of rows predicted correctly. */
export function accuracy(m: SampleMetrics): number {
  let c = 0;
  for (let i = 0; i < m.correct.length; i++) c += m.correct[i]!;
  return m.correct.length ? c / m.correct.length : NaN;
}

export function meanLoss(m: SampleMetrics): number {
  let s = 0;
  for (let i = 0; i < m.loss.length; i++) s += m.loss[i]!;
  return m.loss.length ? s / m.loss.length : NaN;
}

export function arange(n: number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  return a;
}
