/**
 * SAF, sharpness-aware training for free (Du et al., NeurIPS 2022, arXiv:2205.14083): a trajectory
 * loss that penalises how far each sample's softmax output moved since E epochs earlier, added to
 * the cross-entropy of every training batch:
 *
 *   L = (1/B) Σ_i ℓ_CE(z_i, y_i) + λ·(1/B) Σ_i τ²·KL_i,     z_i the logits of sample i now,
 *
 * with q_i = softmax(z_i/τ) and p_i = softmax(z_i^(e−E)/τ) the output recorded for the same sample
 * while it was trained on E epochs earlier (each sample is visited once per epoch). The term starts
 * in epoch E + 1, when every sample has a recorded output.
 *
 * Choices against the paper and its code (github.com/AngusDujw/SAF, SAF_train.py):
 *  - direction: the issue asks for KL(current ‖ recorded) = Σ q(log q − log p), the default
 *    (`current-recorded`). The official code computes F.kl_div(log q, p) = KL(recorded ‖ current) =
 *    Σ p(log p − log q); `recorded-current` gives that one.
 *  - temperature: both outputs at temperature τ (default 1) and the term multiplied by τ², as the
 *    code does (so the gradient's scale does not shrink as 1/τ, as in distillation).
 *  - what is stored: the code keeps the raw logits of the last E + 1 epochs; here each sample's
 *    log q at temperature τ (float32) is kept for the last E epochs — E·N·C floats — written after
 *    that sample's term was computed, so slot (e mod E) holds epoch e − E's output until it is read.
 *  - the code's kl_start_epoch/kl_end_epoch window is not exposed: the term runs from epoch E + 1.
 *
 * The term's gradient with respect to the logits is computed on the host in float64 from the batch's
 * logits (one read per step) and added to the cross-entropy's at the logits; the backward is the
 * model's own (Mlp.lossAndGradients' sequence of kernels), so λ = 0 trains bit for bit as without SAF
 * (on the composed path: SAF needs the logits, so a run with it never takes the fused step).
 */
import type { Tensor } from '../backends/backend.js';
import { fail } from '../errors.js';
import type { Mlp } from '../model/mlp.js';

export type SafDirection = 'current-recorded' | 'recorded-current';
export const SAF_DIRECTIONS: readonly SafDirection[] = ['current-recorded', 'recorded-current'];

export interface SafConfig {
  /** λ ≥ 0, the weight of the trajectory term. */
  lambda: number;
  /** E ≥ 1: compare with the outputs recorded this many epochs earlier. */
  epochs: number;
  /** τ > 0 (default 1). */
  temperature?: number;
  /** Default 'current-recorded' (KL(current ‖ recorded), as the issue states). */
  direction?: SafDirection;
}

/** The config with its defaults, checked (field names the CLI's). */
export function checkSafConfig(c: SafConfig, field = '--saf'): Required<SafConfig> {
  if (!(Number.isFinite(c.lambda) && c.lambda >= 0)) fail('E_ARG', `lambda must be a finite number ≥ 0, got ${c.lambda}`, { field });
  if (!(Number.isSafeInteger(c.epochs) && c.epochs >= 1)) fail('E_ARG', `epochs must be a positive integer (compare with the outputs of E epochs earlier), got ${c.epochs}`, { field });
  const temperature = c.temperature ?? 1;
  if (!(Number.isFinite(temperature) && temperature > 0)) fail('E_ARG', `tau must be a positive number, got ${temperature}`, { field });
  const direction = c.direction ?? 'current-recorded';
  if (!SAF_DIRECTIONS.includes(direction)) fail('E_ARG', `direction must be ${SAF_DIRECTIONS.join(' or ')}, got ${JSON.stringify(direction)}`, { field });
  return { lambda: c.lambda, epochs: c.epochs, temperature, direction };
}

/** `lambda=X,epochs=E[,tau=T][,direction=current-recorded|recorded-current]` (the CLI's --saf). */
export function parseSaf(text: string, field = '--saf'): Required<SafConfig> {
  const out: Partial<Record<string, string>> = {};
  for (const part of text.split(',')) {
    const m = /^\s*([a-z]+)\s*=\s*(\S+)\s*$/.exec(part);
    if (!m) fail('E_ARG', `expected lambda=X,epochs=E[,tau=T][,direction=D], got "${text}"`, { field });
    const [, k, v] = m as unknown as [string, string, string];
    if (!['lambda', 'epochs', 'tau', 'direction'].includes(k)) fail('E_ARG', `unknown key "${k}"; expected lambda, epochs, tau, direction`, { field });
    if (out[k] !== undefined) fail('E_ARG', `${k} is given twice in "${text}"`, { field });
    out[k] = v;
  }
  if (out.lambda === undefined || out.epochs === undefined) fail('E_ARG', `lambda and epochs are required: lambda=X,epochs=E; got "${text}"`, { field });
  const num = (k: string, v: string) => {
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v)) fail('E_ARG', `${k} must be a decimal number, got "${v}"`, { field });
    return Number(v);
  };
  return checkSafConfig(
    {
      lambda: num('lambda', out.lambda),
      epochs: num('epochs', out.epochs),
      ...(out.tau !== undefined ? { temperature: num('tau', out.tau) } : {}),
      ...(out.direction !== undefined ? { direction: out.direction as SafDirection } : {}),
    },
    field,
  );
}

/**
 * One sample's τ²·KL and its gradient with respect to the logits z (float64), and log q = log
 * softmax(z/τ) (what is recorded). With s = z/τ:
 *   current-recorded  KL = Σ q(log q − log p),  ∂KL/∂s_j = q_j·((log q_j − log p_j) − KL)
 *   recorded-current  KL = Σ p(log p − log q),  ∂KL/∂s_j = q_j − p_j
 * and ∂(τ²·KL)/∂z = τ·∂KL/∂s.
 */
export function safTerm(z: ArrayLike<number>, logP: ArrayLike<number>, temperature: number, direction: SafDirection): { kl: number; grad: Float64Array; logq: Float64Array } {
  const C = z.length;
  if (logP.length !== C) fail('E_SHAPE', `${logP.length} recorded log-probabilities for ${C} classes`, { field: 'recorded' });
  let m = -Infinity;
  for (let c = 0; c < C; c++) m = Math.max(m, z[c]! / temperature);
  let sum = 0;
  for (let c = 0; c < C; c++) sum += Math.exp(z[c]! / temperature - m);
  const lse = m + Math.log(sum);
  const logq = new Float64Array(C);
  const q = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    logq[c] = z[c]! / temperature - lse;
    q[c] = Math.exp(logq[c]!);
  }
  let kl = 0;
  const grad = new Float64Array(C);
  if (direction === 'current-recorded') {
    for (let c = 0; c < C; c++) kl += q[c]! * (logq[c]! - logP[c]!);
    for (let c = 0; c < C; c++) grad[c] = temperature * q[c]! * (logq[c]! - logP[c]! - kl);
  } else {
    for (let c = 0; c < C; c++) {
      const p = Math.exp(logP[c]!);
      kl += p === 0 ? 0 : p * (logP[c]! - logq[c]!);
      grad[c] = temperature * (q[c]! - p);
    }
  }
  return { kl, grad, logq };
}

export interface SafBatchResult {
  /** Per-sample cross-entropy [B] (as Mlp.lossAndGradients gives it; the epoch loss stays the cross-entropy). */
  loss: Tensor;
  /** Gradients of (1/B)Σℓ_CE + λ·(1/B)Σ τ²·KL_i (rows without a recorded output contribute no term), parameter order. */
  grads: Tensor[];
  /** log softmax(z/τ) of every row [B·C] (float32), to be recorded. */
  logq: Float32Array;
  /** Mean KL over the rows that had a recorded output (without λ and τ²); undefined when none had. */
  kl: number | undefined;
}

/**
 * The batch's loss and gradients with the SAF term, `recorded` giving each row's recorded log-probabilities
 * (row-major [B, C]) or undefined for a row without one. The backward is Mlp.lossAndGradients' own
 * sequence of kernels with the term's logits gradient added (axpy) where a row has one.
 */
export async function safLossAndGradients(
  model: Mlp,
  x: Tensor,
  labels: Tensor,
  recorded: (row: number) => ArrayLike<number> | undefined,
  config: Required<SafConfig>,
): Promise<SafBatchResult> {
  const b = model.backend;
  const batch = x.shape[0]!;
  const cache = model.forwardWithCache(x);
  const { logits } = cache;
  let ce: { loss: Tensor; grad: Tensor };
  let z: Float32Array;
  try {
    ce = b.softmaxCrossEntropy(logits, labels);
    z = await b.read(logits);
  } catch (e) {
    model.freeCache(cache, true);
    throw e;
  }
  b.free(logits);
  const C = logits.shape[1]!;
  const logq = new Float32Array(batch * C);
  const term = new Float32Array(batch * C);
  let klSum = 0;
  let active = 0;
  for (let i = 0; i < batch; i++) {
    const row = z.subarray(i * C, (i + 1) * C);
    const p = recorded(i);
    const t = safTerm(row, p ?? new Float64Array(C), config.temperature, config.direction);
    logq.set(t.logq, i * C);
    if (p === undefined) continue;
    active++;
    klSum += t.kl;
    for (let c = 0; c < C; c++) term[i * C + c] = t.grad[c]! / batch;
  }
  let g: Tensor | undefined;
  try {
    // As Mlp.lossAndGradients: the mean's gradient at the logits (plus the term), then back through the layers.
    g = b.scale(1 / batch, ce.grad);
    if (active > 0) {
      const tt = b.upload(term, [batch, C]);
      const sum = b.axpy(config.lambda, tt, g);
      b.free(tt);
      b.free(g);
      g = sum;
    }
  } catch (e) {
    if (g) b.free(g);
    b.free(ce.loss);
    model.freeCache(cache, false);
    throw e;
  } finally {
    b.free(ce.grad);
  }
  try {
    const { grads } = model.backwardFromLogits(cache, g);
    return { loss: ce.loss, grads, logq, kl: active > 0 ? klSum / active : undefined };
  } catch (e) {
    b.free(ce.loss);
    throw e;
  }
}

/** A stamp no epoch − E equals. */
export const SAF_NEVER = -(2 ** 31);
const NEVER = SAF_NEVER;

/**
 * SafState as a checkpoint keeps it: the recorded outputs [E·rows·C], the epoch that wrote each
 * (slot, row) [E·rows] (SAF_NEVER: not yet), and the running epoch's KL sum and batch count with
 * the finished epochs' means — with the weights and optimizer state, all that the rest of the run
 * reads from SAF, so a resume repeats the run bit for bit.
 */
export interface SafSnapshot {
  outputs: Float32Array;
  stamp: Int32Array;
  klSum: number;
  klBatches: number;
  meanKl: number[];
}

/**
 * SAF across a run: the recorded outputs of the last E epochs (E·rows·C float32) and which epoch
 * wrote each, and the mean KL of every epoch that had the term. `train()` builds one per call.
 */
export class SafState {
  readonly config: Required<SafConfig>;
  private readonly store: Float32Array;
  /** The epoch that wrote each (slot, row), NEVER before the first write. */
  private readonly stamp: Int32Array;
  private klSum = 0;
  private klBatches = 0;
  /** Mean KL (without λ, τ²) of each epoch from `firstEpoch` on. */
  readonly meanKl: number[] = [];

  constructor(
    readonly rows: number,
    readonly classes: number,
    config: SafConfig,
  ) {
    this.config = checkSafConfig(config);
    const n = this.config.epochs * rows * classes;
    if (!Number.isSafeInteger(n) || n > 2 ** 32) fail('E_ARG', `SAF would keep ${this.config.epochs} × ${rows} × ${classes} outputs, more than a typed array holds`, { field: '--saf' });
    this.store = new Float32Array(n);
    this.stamp = new Int32Array(this.config.epochs * rows).fill(NEVER);
  }

  /** The first epoch with the term (E + 1). */
  get firstEpoch(): number {
    return this.config.epochs + 1;
  }

  /** The batch of data rows `rows` (indices into the training inputs) in 1-based epoch `epoch`. */
  async lossAndGradients(model: Mlp, x: Tensor, labels: Tensor, rows: Int32Array, epoch: number): Promise<{ loss: Tensor; grads: Tensor[] }> {
    const { epochs: E } = this.config;
    const C = this.classes;
    const slot = epoch % E;
    for (const r of rows) if (!(r >= 0 && r < this.rows)) fail('E_INTERNAL', `SAF got row ${r} of ${this.rows}`);
    const r = await safLossAndGradients(
      model,
      x,
      labels,
      (i) => {
        const k = slot * this.rows + rows[i]!;
        if (this.stamp[k] !== epoch - E) return undefined;
        return this.store.subarray(k * C, (k + 1) * C);
      },
      this.config,
    );
    if (r.logq.length !== rows.length * C) fail('E_SHAPE', `the model has ${r.logq.length / rows.length} outputs; SAF was set up for ${C}`);
    rows.forEach((row, i) => {
      const k = slot * this.rows + row;
      this.store.set(r.logq.subarray(i * C, (i + 1) * C), k * C);
      this.stamp[k] = epoch;
    });
    if (r.kl !== undefined) {
      this.klSum += r.kl;
      this.klBatches++;
    }
    return { loss: r.loss, grads: r.grads };
  }

  /** A copy of everything the rest of the run reads (see SafSnapshot). */
  snapshot(): SafSnapshot {
    return { outputs: this.store.slice(), stamp: this.stamp.slice(), klSum: this.klSum, klBatches: this.klBatches, meanKl: [...this.meanKl] };
  }

  /**
   * Continues from `s` taken at 1-based epoch `epoch` of this run: sizes must match this state's,
   * and every stamp must be an epoch already trained (≤ epoch) in its slot, or SAF_NEVER.
   */
  restore(s: SafSnapshot, epoch: number, file?: string): void {
    const bad = (what: string) => fail('E_FORMAT', `cannot resume SAF: ${what}`, file !== undefined ? { file } : {});
    if (s.outputs.length !== this.store.length) bad(`${s.outputs.length} recorded outputs, expected ${this.config.epochs} × ${this.rows} × ${this.classes} = ${this.store.length}`);
    if (s.stamp.length !== this.stamp.length) bad(`${s.stamp.length} stamps, expected ${this.config.epochs} × ${this.rows} = ${this.stamp.length}`);
    const E = this.config.epochs;
    for (let k = 0; k < s.stamp.length; k++) {
      const e = s.stamp[k]!;
      if (e !== NEVER && !(e >= 1 && e <= epoch && e % E === Math.floor(k / this.rows))) bad(`stamp ${e} in slot ${Math.floor(k / this.rows)} is not an epoch ≤ ${epoch} of that slot`);
    }
    for (let i = 0; i < s.outputs.length; i++) if (Number.isNaN(s.outputs[i]!)) bad(`recorded output ${i} is NaN`);
    if (!(Number.isFinite(s.klSum) && Number.isSafeInteger(s.klBatches) && s.klBatches >= 0)) bad(`KL sum ${s.klSum} over ${s.klBatches} batches`);
    if (s.meanKl.length !== Math.max(0, epoch - 1 - E) || !s.meanKl.every(Number.isFinite)) bad(`${s.meanKl.length} epoch KL means at epoch ${epoch}, expected ${Math.max(0, epoch - 1 - E)}`);
    this.store.set(s.outputs);
    this.stamp.set(s.stamp);
    this.klSum = s.klSum;
    this.klBatches = s.klBatches;
    this.meanKl.splice(0, this.meanKl.length, ...s.meanKl);
  }

  /** Closes an epoch's KL mean (epochs with the term only). */
  endEpoch(epoch: number): void {
    if (epoch >= this.firstEpoch) this.meanKl.push(this.klBatches > 0 ? this.klSum / this.klBatches : 0);
    this.klSum = 0;
    this.klBatches = 0;
  }
}
