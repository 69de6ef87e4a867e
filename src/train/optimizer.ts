/**
 * Optimizers as the Backend runs them: every update is `backend.sgdStep` / `backend.adamStep` in
 * place on the device, with state tensors (velocity; first/second moments) kept beside each parameter.
 *
 *   sgd:   PyTorch's SGD (momentum, nesterov, L2 weight decay added to the gradient)
 *   adam:  PyTorch's Adam (L2 weight decay added to the gradient)
 *   adamw: PyTorch's AdamW (decoupled weight decay p ← p·(1 − lr·wd))
 */
import type { Backend, Tensor } from '../backends/backend.js';
import { fail } from '../errors.js';

export type OptimizerName = 'sgd' | 'adam' | 'adamw';
export const OPTIMIZERS: readonly OptimizerName[] = ['sgd', 'adam', 'adamw'];

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
  eps: number;
}

/** Defaults: sgd lr 0.05 momentum 0.9; adam/adamw lr 1e-3, betas (0.9, 0.999), eps 1e-8; adamw wd 0.01. */
export function optimizerConfig(name: OptimizerName, overrides: Partial<Omit<OptimizerConfig, 'name'>> = {}): OptimizerConfig {
  const base: OptimizerConfig =
    name === 'sgd'
      ? { name, lr: 0.05, weightDecay: 0, momentum: 0.9, nesterov: false, beta1: 0.9, beta2: 0.999, eps: 1e-8 }
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
  check(c.eps > 0, 'eps', 'a positive number', c.eps);
  if (c.nesterov && c.momentum === 0) fail('E_ARG', 'nesterov needs momentum > 0', { field: 'nesterov' });
}

/**
 * A model whose parameters an optimizer updates (`Mlp` is one): each step marks them changed, so
 * caches derived from the weights (curvature operators) are rebuilt.
 */
export interface ParameterOwner {
  readonly params: readonly { readonly tensor: Tensor }[];
  markParametersChanged(): void;
}

export class Optimizer {
  private readonly state: Tensor[][];
  readonly params: readonly Tensor[];
  private readonly owner: ParameterOwner | undefined;
  /** Number of steps taken so far. */
  steps = 0;

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
    this.state = this.params.map((p) => (config.name === 'sgd' ? [backend.zeros(p.shape)] : [backend.zeros(p.shape), backend.zeros(p.shape)]));
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
  }

  /** The state tensors of every parameter, in parameter order: [velocity] (sgd) or [m, v] (adam, adamw). */
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
  }
}

function isOwner(p: ParameterOwner | readonly Tensor[]): p is ParameterOwner {
  return !Array.isArray(p);
}
