/**
 * AUM, area under the margin — Pleiss, Zhang, Elenberg, Weinberger, "Identifying Mislabeled Data
 * using the Area Under the Margin Ranking" (NeurIPS 2020).
 *
 *   M_i(t) = z_{y_i}(t) − max_{j≠y_i} z_j(t)        (the recorder's train_margin)
 *   AUM_i  = (1/T) Σ_{t=1..T} M_i(t)                  over ALL T recorded epochs
 *
 * The sum runs over every epoch in one float64 accumulator per sample — it is never reset
 * between epochs (a peer implementation resets it each epoch, which leaves the last margin only).
 * Kept end: the LOWEST (small or negative AUM = hard or mislabeled; DeepCore keeps the lowest).
 */
import { fail } from '../../errors.js';

export function aumScores(margin: Float32Array | Float64Array, epochs: number, samples: number): Float32Array {
  if (margin.length !== epochs * samples) fail('E_SHAPE', `margins have ${margin.length} values, expected ${epochs} × ${samples}`, { field: 'margin' });
  if (epochs < 1) fail('E_ARG', 'AUM needs at least one epoch', { field: 'epochs' });
  const sum = new Float64Array(samples);
  for (let t = 0; t < epochs; t++) {
    const base = t * samples;
    for (let i = 0; i < samples; i++) sum[i]! += margin[base + i]!;
  }
  const out = new Float32Array(samples);
  for (let i = 0; i < samples; i++) out[i] = sum[i]! / epochs;
  return out;
}
