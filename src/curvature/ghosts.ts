/**
 * The "ghosts of softmax" radius (Sao 2026, arXiv:2603.13552): along a step direction u (unit),
 * the cross-entropy's Taylor series converges only within a radius set by the complex zeros of the
 * softmax partition function. Linearising the logits along u, a_k = ∇z_k·u, the multiclass lower
 * bound is ρ_a = π/Δ_a with Δ_a = max_k a_k − min_k a_k; over a batch the binding sample is the
 * one with the largest spread, so ρ = π / max_i Δ_a(i). A step of length τ is "safe" for r = τ/ρ < 1
 * (the paper sees no failures below 1 and collapses at r ≥ 1).
 *
 * For an optimizer update Δθ = θ_t − θ_{t−1}: one forward-mode JVP J·Δθ at θ_{t−1} (the point the
 * step starts from and the Taylor expansion is taken at), by the R-forward pass of model/hvp.ts.
 * With a = J·Δθ (not normalised), max_i spread_i(a) = ‖Δθ‖·max_i Δ_a(i), so
 *   ρ = π·‖Δθ‖ / max_i spread_i(J·Δθ),    r = ‖Δθ‖/ρ = max_i spread_i(J·Δθ) / π.
 */
import { fail } from '../errors.js';
import { logitsJvp, parameterLayout } from '../model/hvp.js';
import { Mlp } from '../model/mlp.js';
import type { Tensor } from '../backends/backend.js';

export interface UpdateRadius {
  /** ρ = π/Δ_a in parameter-space distance; undefined when the update does not move the logits' spread (Δθ = 0, or a spread of 0): no limit. */
  rho: number | undefined;
  /** ‖Δθ‖₂ over all parameters (float64). */
  updateNorm: number;
  /** r = ‖Δθ‖/ρ (0 when ρ is undefined). */
  ratio: number;
  /** ‖Δθ‖ > ρ. */
  exceeded: boolean;
  /** Δ_a = max over the batch of (max − min over classes) of ∇z·u, u = Δθ/‖Δθ‖ (0 for Δθ = 0). */
  spread: number;
  /** The batch row with the largest spread (the sample that binds ρ). */
  sample: number;
}

/**
 * ρ and r from the logits' JVP along the (unnormalised) update, a = J·Δθ (row-major [batch, classes]),
 * and ‖Δθ‖. Pure: the hand computation the tests check.
 */
export function radiusFromJvp(a: ArrayLike<number>, batch: number, classes: number, updateNorm: number): UpdateRadius {
  if (a.length !== batch * classes || batch < 1 || classes < 1) fail('E_SHAPE', `${a.length} directional derivatives for ${batch} samples × ${classes} classes`, { field: 'jvp' });
  if (!(updateNorm >= 0) || !Number.isFinite(updateNorm)) fail('E_VALUE', `update norm is ${updateNorm}; expected a finite number ≥ 0`, { field: 'updateNorm' });
  let worst = 0;
  let sample = 0;
  for (let i = 0; i < batch; i++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let c = 0; c < classes; c++) {
      const v = a[i * classes + c]!;
      if (!Number.isFinite(v)) fail('E_VALUE', `the directional derivative of sample ${i}, class ${c} is ${v}`, { field: 'jvp' });
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (hi - lo > worst) {
      worst = hi - lo;
      sample = i;
    }
  }
  if (updateNorm === 0 || worst === 0) return { rho: undefined, updateNorm, ratio: 0, exceeded: false, spread: updateNorm === 0 ? 0 : worst / updateNorm, sample };
  const rho = (Math.PI * updateNorm) / worst;
  return { rho, updateNorm, ratio: worst / Math.PI, exceeded: updateNorm > rho, spread: worst / updateNorm, sample };
}

/**
 * The radius of the update from the weights `before` (host arrays named `i.weight`/`i.bias`, as
 * `Mlp.toHost` gives them) to `model`'s current weights, on the inputs x (any batch on the model's
 * backend): Δθ in float64 on the host, one JVP at `before` along Δθ.
 */
export async function updateRadius(model: Mlp, before: ReadonlyMap<string, Float32Array>, x: Tensor): Promise<UpdateRadius> {
  const b = model.backend;
  const layout = parameterLayout(model);
  const now = await model.toHost();
  const delta = new Float32Array(layout.size);
  let sq = 0;
  for (const blk of layout.blocks) {
    const cur = now[blk.paramIndex]!.data;
    const old = before.get(blk.name);
    if (!old || old.length !== cur.length) fail('E_ARG', `the weights before the update have no ${blk.name} of ${cur.length} values`, { field: 'before' });
    for (let k = 0; k < cur.length; k++) {
      const d = cur[k]! - old[k]!; // exact in float64
      delta[blk.offset + k] = d;
      sq += d * d;
    }
  }
  // The JVP at θ_{t−1}: a model of its own holds the old weights (the trained model is not touched).
  const start = Mlp.fromHost(b, model.description, new Map(before), '<weights before the update>');
  const v = b.upload(delta, [layout.size]);
  try {
    const jv = logitsJvp(start, x, v);
    const a = await b.read(jv);
    b.free(jv);
    return radiusFromJvp(a, jv.shape[0]!, jv.shape[1]!, Math.sqrt(sq));
  } finally {
    b.free(v);
    start.dispose();
  }
}

/** The model's weights as `updateRadius` takes them (a copy on the host). */
export async function weightsOnHost(model: Mlp): Promise<Map<string, Float32Array>> {
  return new Map((await model.toHost()).map((t) => [t.name, t.data]));
}
