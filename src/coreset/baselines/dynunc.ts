/**
 * Dynamic uncertainty — He, Yang, Chang, Xie, "Large-scale Dataset Pruning with Dynamic
 * Uncertainty" (CVPR 2024 workshops / arXiv 2306.05175, 2023).
 *
 *   p_i(t)  = P(y_i | x_i, θ_t) = exp(−loss_i(t))      (exact for softmax cross-entropy)
 *   U_i(k)  = std_{t = k..k+J−1} p_i(t)               sample std (J − 1 in the denominator), as in the paper
 *   DU_i    = (1/(T−J+1)) Σ_{k=1..T−J+1} U_i(k)      the window SLIDES by one epoch
 *
 * (A peer implementation steps the window by J — disjoint blocks — which is a different score.)
 * Kept end: the HIGHEST (most uncertain over training).
 */
import { fail } from '../../errors.js';

export function dynUncScores(loss: Float32Array | Float64Array, epochs: number, samples: number, window: number): Float32Array {
  if (loss.length !== epochs * samples) fail('E_SHAPE', `losses have ${loss.length} values, expected ${epochs} × ${samples}`, { field: 'loss' });
  if (!Number.isInteger(window) || window < 2 || window > epochs) {
    fail('E_ARG', `the window J must be an integer in 2..${epochs} (the recorded epochs), got ${window}`, { field: '--window' });
  }
  const W = epochs - window + 1;
  const p = new Float64Array(epochs);
  const out = new Float32Array(samples);
  for (let i = 0; i < samples; i++) {
    for (let t = 0; t < epochs; t++) p[t] = Math.exp(-loss[t * samples + i]!);
    let total = 0;
    // two passes per window: exact even when p is ≈ 1 throughout (no Σp² − n·mean² cancellation)
    for (let k = 0; k < W; k++) {
      let mean = 0;
      for (let t = k; t < k + window; t++) mean += p[t]!;
      mean /= window;
      let ss = 0;
      for (let t = k; t < k + window; t++) ss += (p[t]! - mean) ** 2;
      total += Math.sqrt(ss / (window - 1));
    }
    out[i] = total / W;
  }
  return out;
}
