/**
 * The bisimulation loss (docs/bisimulation.md): the representation loss of deep bisimulation for
 * control (DBC, Zhang et al. 2021), which "offline RL with observation histories" (Hong et al. 2023)
 * adds to offline RL. A batch is paired with itself by a permutation π (DBC pairs each sample with
 * `h[perm]`, perm = np.random.permutation(B)), j = π(i), and
 *
 *   L = mean_i (‖z_i − z_j‖₂ − (|r_i − r_j| + γ·W₂(P̂_i, P̂_j)))²,
 *   W₂ of diagonal Gaussians = √(‖μ_i − μ_j‖² + ‖σ_i − σ_j‖²),
 *
 * with the target (rewards and predicted next-state distributions) held constant, as DBC computes
 * it under torch.no_grad(): the gradient is w.r.t. the embeddings z only. One fused backend op
 * (`bisimulationLoss`) computes the per-pair terms, their mean and ∂L/∂z on the device.
 */
import type { Backend, Tensor } from '../backends/backend.js';
import { fail } from '../errors.js';
import { Rng } from '../model/rng.js';

/** DBC's discount (its `discount` argument), the default γ. */
export const BISIMULATION_DEFAULT_GAMMA = 0.99;

export interface BisimulationInputs {
  /** Embeddings [B, D]: the loss's gradient is taken w.r.t. these. */
  z: Tensor;
  /** The B rewards (any shape of B elements, e.g. [B] or [B, 1]). */
  reward: Tensor;
  /** Predicted next-state means [B, E] (a transition model's output; held constant). */
  mu: Tensor;
  /** Their standard deviations [B, E] (diagonal Gaussians); omitted: deterministic predictions (σ = 0). */
  sigma?: Tensor;
}

export interface BisimulationOptions {
  /** γ of the transition term, ≥ 0 (default 0.99). */
  gamma?: number;
  /** The pairing j = perm[i], a permutation of 0..B−1; default: a random one (see `rng`, `seed`). */
  perm?: Int32Array | readonly number[];
  /** The stream the default permutation is drawn from (a training loop passes one stream for all its steps). */
  rng?: Rng;
  /** Without `rng`: the seed of the default permutation's stream (default 0). */
  seed?: number;
}

export interface BisimulationResult {
  /** The mean over the B pairs. */
  loss: number;
  /** Per-pair terms [B] on the device (the caller frees them). */
  terms: Tensor;
  /** ∂loss/∂z [B, D] on the device, the target held constant (the caller frees it). */
  grad: Tensor;
  /** The pairing used. */
  perm: Int32Array;
}

/** The pairing as an Int32Array (values checked by the op: a permutation of 0..B−1). */
function pairing(perm: Int32Array | readonly number[]): Int32Array {
  if (perm instanceof Int32Array) return perm;
  if (!Array.isArray(perm) || !perm.every((v) => Number.isSafeInteger(v) && v >= -0x80000000 && v <= 0x7fffffff)) {
    fail('E_ARG', 'bisimulation: perm must be an Int32Array or an array of integers (a permutation of 0..B−1)', { field: 'perm' });
  }
  return Int32Array.from(perm);
}

/**
 * The bisimulation loss of a batch, its per-pair terms and ∂L/∂z (module comment). Shapes, γ and
 * the pairing are checked by the op (E_SHAPE / E_ARG naming what is wrong) before any work.
 */
export async function bisimulationLoss(backend: Backend, inputs: BisimulationInputs, options: BisimulationOptions = {}): Promise<BisimulationResult> {
  if (typeof inputs !== 'object' || inputs === null) fail('E_ARG', 'bisimulation: inputs must be an object { z, reward, mu, sigma? }');
  const { z, reward, mu, sigma } = inputs;
  const gamma = options.gamma ?? BISIMULATION_DEFAULT_GAMMA;
  const b = Array.isArray(z?.shape) ? (z.shape[0] ?? 0) : 0;
  if (options.seed !== undefined && !(Number.isSafeInteger(options.seed) && options.seed >= 0)) {
    fail('E_ARG', `bisimulation: seed must be a non-negative integer, got ${String(options.seed)}`, { field: 'seed' });
  }
  // DBC draws np.random.permutation(B) per batch; here from a seeded stream. (B = 0 is left to the op's shape check.)
  const perm = options.perm !== undefined ? pairing(options.perm) : (options.rng ?? Rng.derive(options.seed ?? 0, 'bisimulation')).permutation(Math.max(0, b));
  const out = backend.bisimulationLoss(z, reward, mu, sigma, perm, gamma);
  const loss = (await backend.read(out.loss))[0]!;
  backend.free(out.loss);
  return { loss, terms: out.terms, grad: out.grad, perm };
}
