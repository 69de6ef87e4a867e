/**
 * Optimizers as the Backend runs them: every update is one registered op (`sgdStep`, `adamStep`,
 * `adagradStep`, `classpStep`) in place on the device, with state tensors kept beside each parameter.
 *
 *   sgd:     PyTorch's SGD (momentum, nesterov, L2 weight decay added to the gradient)
 *   adam:    PyTorch's Adam (L2 weight decay added to the gradient)
 *   adamw:   PyTorch's AdamW (decoupled weight decay p ← p·(1 − lr·wd))
 *   adagrad: PyTorch's Adagrad (lr decay, L2 weight decay in the gradient, initial accumulator 0)
 *   classp:  CLASSP as its paper states it (docs/optimizers.md): every step A ← A + |g|^p for every
 *            coordinate; only where g² > threshold, w ← w − α·g/(ε + A)^{1/p}. The number of
 *            coordinates each step moves is counted on the device (`classpGate` → sum, kept in a
 *            device buffer) and read back with the epoch's loss: `takeUpdateFractions()`.
 */
import type { Backend, Tensor } from '../backends/backend.js';
import { fail } from '../errors.js';
import type { NamedTensor } from '../io/safetensors.js';

export type OptimizerName = 'sgd' | 'adam' | 'adamw' | 'adagrad' | 'classp';
export const OPTIMIZERS: readonly OptimizerName[] = ['sgd', 'adam', 'adamw', 'adagrad', 'classp'];

/**
 * CLASSP's default gate, g² > 1e-6 (|g| > 1e-3). The paper gives no number; the official code's
 * default 0.5 is compared with a boolean there (docs/optimizers.md), so it only skips a tensor whose
 * gradient is all zero. Measured on MNIST (10 000 digits, 784-128-10, batch 128, 2 epochs;
 * docs/optimizers.md): it moves ~28 % of the coordinates per step against ~56 % at 0, at the same
 * test accuracy (88.4 % vs 88.7 %); 1e-4 moves ~1 % and loses 9 points.
 */
export const CLASSP_DEFAULT_THRESHOLD = 1e-6;

/** The state tensors each optimizer keeps per parameter, by PyTorch's state-dict names. */
export const OPTIMIZER_STATE_NAMES: Record<OptimizerName, readonly string[]> = {
  sgd: ['momentum_buffer'],
  adam: ['exp_avg', 'exp_avg_sq'],
  adamw: ['exp_avg', 'exp_avg_sq'],
  adagrad: ['sum'],
  classp: ['grad_sum'],
};

export interface OptimizerConfig {
  name: OptimizerName;
  lr: number;
  weightDecay: number;
  /** sgd only. */
  momentum: number;
  nesterov: boolean;
  /** adam / adamw only. */
  beta1: number;
  beta2: number;
  /** adam, adamw, adagrad: added to the denominator's root; classp: ε of (ε + A)^{1/p}. */
  eps: number;
  /** adagrad only: PyTorch's lr_decay, lr / (1 + (t − 1)·lrDecay) at 1-based step t. */
  lrDecay?: number;
  /** classp only: p of A ← A + |g|^p and of the 1/p root. */
  power?: number;
  /** classp only: a coordinate moves only where g² > threshold. */
  threshold?: number;
}

/**
 * Defaults: sgd lr 0.05 momentum 0.9; adam/adamw lr 1e-3, betas (0.9, 0.999), eps 1e-8; adamw wd
 * 0.01; adagrad lr 0.01, eps 1e-10, lr decay 0 (PyTorch's); classp α = 0.2, ε = 1e-5, p = 1 (the
 * paper's) and threshold CLASSP_DEFAULT_THRESHOLD.
 */
export function optimizerConfig(name: OptimizerName, overrides: Partial<Omit<OptimizerConfig, 'name'>> = {}): OptimizerConfig {
  const common = { weightDecay: 0, momentum: 0, nesterov: false, beta1: 0.9, beta2: 0.999 };
  const base: OptimizerConfig =
    name === 'sgd'
      ? { name, lr: 0.05, weightDecay: 0, momentum: 0.9, nesterov: false, beta1: 0.9, beta2: 0.999, eps: 1e-8 }
      : name === 'adagrad'
        ? { name, lr: 0.01, ...common, eps: 1e-10, lrDecay: 0 }
        : name === 'classp'
          ? { name, lr: 0.2, ...common, eps: 1e-5, power: 1, threshold: CLASSP_DEFAULT_THRESHOLD }
          : { name, lr: 1e-3, weightDecay: name === 'adamw' ? 0.01 : 0, momentum: 0, nesterov: false, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
  const c = { ...base, ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) } as OptimizerConfig;
  validate(c);
  return c;
}

export function parseOptimizer(value: string, field = '--optimizer'): OptimizerName {
  if ((OPTIMIZERS as readonly string[]).includes(value)) return value as OptimizerName;
  return fail('E_ARG', `expected one of ${OPTIMIZERS.join(', ')}; got "${value}"`, { field });
}

function validate(c: OptimizerConfig): void {
  const check = (ok: boolean, field: string, what: string, v: number) => {
    if (!ok) fail('E_ARG', `expected ${what}, got ${v}`, { field });
  };
  check(Number.isFinite(c.lr) && c.lr > 0, 'lr', 'a positive learning rate', c.lr);
  check(Number.isFinite(c.weightDecay) && c.weightDecay >= 0, 'weight-decay', 'a non-negative number', c.weightDecay);
  check(Number.isFinite(c.momentum) && c.momentum >= 0 && c.momentum < 1, 'momentum', 'a number in [0, 1)', c.momentum);
  check(c.beta1 >= 0 && c.beta1 < 1, 'beta1', 'a number in [0, 1)', c.beta1);
  check(c.beta2 >= 0 && c.beta2 < 1, 'beta2', 'a number in [0, 1)', c.beta2);
  check(Number.isFinite(c.eps) && c.eps > 0, 'eps', 'a positive number', c.eps);
  if (c.nesterov && c.momentum === 0) fail('E_ARG', 'nesterov needs momentum > 0', { field: 'nesterov' });
  if ((c.name === 'adagrad' || c.name === 'classp') && (c.momentum !== 0 || c.nesterov)) fail('E_ARG', `${c.name} has no momentum; got ${c.momentum}`, { field: 'momentum' });
  if (c.name === 'adagrad') check(c.lrDecay !== undefined && Number.isFinite(c.lrDecay) && c.lrDecay >= 0, 'lr-decay', 'a non-negative number', c.lrDecay ?? NaN);
  else if (c.lrDecay !== undefined) fail('E_ARG', `only adagrad takes a learning-rate decay; got it with ${c.name}`, { field: 'lr-decay' });
  if (c.name === 'classp') {
    check(c.power !== undefined && Number.isFinite(c.power) && c.power > 0, 'classp-power', 'a positive number', c.power ?? NaN);
    check(c.threshold !== undefined && Number.isFinite(c.threshold) && c.threshold >= 0, 'classp-threshold', 'a number ≥ 0', c.threshold ?? NaN);
    // The paper's rule has no weight decay; an L2 term would move every coordinate the gate holds.
    if (c.weightDecay !== 0) fail('E_ARG', `classp has no weight decay; got ${c.weightDecay}`, { field: 'weight-decay' });
  } else if (c.power !== undefined || c.threshold !== undefined) fail('E_ARG', `only classp takes a power and a threshold; got them with ${c.name}`, { field: c.power !== undefined ? 'classp-power' : 'classp-threshold' });
}

/**
 * A model whose parameters an optimizer updates (`Mlp` is one): each step marks them changed, so
 * caches derived from the weights (curvature operators) are rebuilt.
 */
export interface ParameterOwner {
  readonly params: readonly { readonly tensor: Tensor }[];
  markParametersChanged(): void;
}

/** Steps whose moved-coordinate counts one device buffer holds before the next is started. */
const GATE_CHUNK = 1024;

export class Optimizer {
  private readonly state: Tensor[][];
  readonly params: readonly Tensor[];
  private readonly owner: ParameterOwner | undefined;
  /** Number of steps taken so far. */
  steps = 0;
  /** classp: device buffers of per-step moved-coordinate counts not yet read, and the fill of the last. */
  private gateChunks: Tensor[] = [];
  private gateFilled = 0;

  /** Updates a model's parameters (preferred: its version is bumped every step) or bare tensors. */
  constructor(
    readonly backend: Backend,
    params: ParameterOwner | readonly Tensor[],
    readonly config: OptimizerConfig,
  ) {
    validate(config);
    if (isOwner(params)) {
      this.owner = params;
      this.params = params.params.map((p) => p.tensor);
    } else this.params = params;
    const n = OPTIMIZER_STATE_NAMES[config.name].length;
    this.state = this.params.map((p) => Array.from({ length: n }, () => backend.zeros(p.shape)));
  }

  /** Total number of scalar parameters updated. */
  get parameterCount(): number {
    return this.params.reduce((a, p) => a + p.size, 0);
  }

  /** One update of every parameter with its gradient, at learning rate `lr`. */
  step(grads: readonly Tensor[], lr: number): void {
    if (grads.length !== this.params.length) fail('E_INTERNAL', `optimizer got ${grads.length} gradients for ${this.params.length} parameters`);
    this.steps++;
    this.owner?.markParametersChanged();
    const c = this.config;
    for (let i = 0; i < this.params.length; i++) {
      const s = this.state[i]!;
      if (c.name === 'sgd') {
        this.backend.sgdStep(this.params[i]!, grads[i]!, s[0]!, { lr, weightDecay: c.weightDecay, momentum: c.momentum, nesterov: c.nesterov });
      } else if (c.name === 'adagrad') {
        this.backend.adagradStep(this.params[i]!, grads[i]!, s[0]!, { lr, weightDecay: c.weightDecay, lrDecay: c.lrDecay!, eps: c.eps, step: this.steps });
      } else if (c.name === 'classp') {
        this.backend.classpStep(this.params[i]!, grads[i]!, s[0]!, { lr, eps: c.eps, power: c.power!, threshold: c.threshold! });
      } else {
        this.backend.adamStep(this.params[i]!, grads[i]!, s[0]!, s[1]!, {
          lr,
          weightDecay: c.weightDecay,
          beta1: c.beta1,
          beta2: c.beta2,
          eps: c.eps,
          step: this.steps,
          decoupled: c.name === 'adamw',
        });
      }
    }
    if (c.name === 'classp') this.countMoved(grads, c.threshold!);
  }

  /** classp: the coordinates this step moved, summed on the device into the current count buffer. */
  private countMoved(grads: readonly Tensor[], threshold: number): void {
    const b = this.backend;
    let total: Tensor | undefined;
    for (const g of grads) {
      const mask = b.classpGate(g, { threshold });
      const s = b.sum(mask);
      b.free(mask);
      if (total) {
        const t2 = b.axpy(1, s, total);
        b.free(s);
        b.free(total);
        total = t2;
      } else total = s;
    }
    if (!total) return;
    if (this.gateChunks.length === 0 || this.gateFilled === GATE_CHUNK) {
      this.gateChunks.push(b.zeros([GATE_CHUNK]));
      this.gateFilled = 0;
    }
    b.copyInto(this.gateChunks[this.gateChunks.length - 1]!, this.gateFilled++, total);
    b.free(total);
  }

  /**
   * classp: the fraction of coordinates each step since the last call moved (g² > threshold), in
   * step order — one read per 1024 steps; empty for the other optimizers.
   */
  async takeUpdateFractions(): Promise<number[]> {
    const chunks = this.gateChunks;
    const filled = this.gateFilled;
    this.gateChunks = [];
    this.gateFilled = 0;
    const out: number[] = [];
    const total = this.parameterCount;
    for (let k = 0; k < chunks.length; k++) {
      const v = await this.backend.read(chunks[k]!);
      this.backend.free(chunks[k]!);
      const n = k === chunks.length - 1 ? filled : GATE_CHUNK;
      for (let j = 0; j < n; j++) out.push(v[j]! / total);
    }
    return out;
  }

  /**
   * The state as named host tensors, `<parameter name>.<PyTorch state name>` (e.g.
   * `0.weight.momentum_buffer`, `0.bias.exp_avg_sq`, `1.weight.grad_sum`), in parameter order.
   */
  async stateToHost(paramNames: readonly string[]): Promise<NamedTensor[]> {
    if (paramNames.length !== this.params.length) fail('E_INTERNAL', `optimizer state: ${paramNames.length} names for ${this.params.length} parameters`);
    const kinds = OPTIMIZER_STATE_NAMES[this.config.name];
    const out: NamedTensor[] = [];
    for (let i = 0; i < this.params.length; i++) {
      for (let k = 0; k < kinds.length; k++) out.push({ name: `${paramNames[i]}.${kinds[k]}`, shape: [...this.params[i]!.shape], data: await this.backend.read(this.state[i]![k]!) });
    }
    return out;
  }

  /**
   * Restores the state written by `stateToHost` and the step count. Every tensor is checked
   * (present, same size) before the first write; a missing one names the file and the tensor.
   */
  loadState(values: ReadonlyMap<string, { data: Float32Array }>, paramNames: readonly string[], steps: number, file = '<optimizer state>'): void {
    if (!Number.isSafeInteger(steps) || steps < 0) fail('E_FORMAT', `optimizer step count must be an integer ≥ 0, got ${steps}`, { file });
    const kinds = OPTIMIZER_STATE_NAMES[this.config.name];
    const names = paramNames.flatMap((p) => kinds.map((k) => `${p}.${k}`));
    for (const [i, name] of names.entries()) {
      const v = values.get(name);
      const want = this.params[Math.floor(i / kinds.length)]!;
      if (!v) fail('E_FORMAT', `missing ${this.config.name} state tensor (expected ${kinds.join(', ')} for every parameter)`, { file, field: name });
      if (v.data.length !== want.size) fail('E_FORMAT', `has ${v.data.length} values; expected ${want.size} ([${want.shape.join(', ')}])`, { file, field: name });
    }
    for (const [i, name] of names.entries()) {
      const t = this.backend.upload(values.get(name)!.data, this.params[Math.floor(i / kinds.length)]!.shape);
      this.backend.copyInto(this.state[Math.floor(i / kinds.length)]![i % kinds.length]!, 0, t);
      this.backend.free(t);
    }
    this.steps = steps;
  }

  /** The state tensors of every parameter, in parameter order: [velocity] (sgd), [m, v] (adam, adamw), [Σg²] (adagrad), [Σ|g|^p] (classp). */
  get stateTensors(): readonly (readonly Tensor[])[] {
    return this.state;
  }

  /**
   * Records `n` steps that a backend's fused training call took on these parameters and this
   * state (Backend.mlpTrainSteps): the step count moves on and the model is marked changed.
   */
  advance(n: number): void {
    if (!Number.isInteger(n) || n < 0) fail('E_INTERNAL', `optimizer advance by ${n}`);
    this.steps += n;
    if (n > 0) this.owner?.markParametersChanged();
  }

  dispose(): void {
    for (const s of this.state) for (const t of s) this.backend.free(t);
    for (const t of this.gateChunks) this.backend.free(t);
    this.gateChunks = [];
  }
}

function isOwner(p: ParameterOwner | readonly Tensor[]): p is ParameterOwner {
  return !Array.isArray(p);
}
