/**
 * EL2N — Paul, Ganguli, Dziugaite, "Deep Learning on a Data Diet: Finding Important Examples Early
 * in Training" (NeurIPS 2021).
 *
 *   EL2N_i = mean over checkpoints t = 1..k of ‖softmax(f_t(x_i)) − onehot(y_i)‖₂
 *
 * The paper averages the error norm at one early epoch over 10 independently initialised runs.
 * A recorded run holds one initialisation, so "mean over runs" becomes the mean over the first k
 * epochs of that run (k = `--epochs`); `el2nScores` also accepts several runs' error norms
 * (`runs`), averaged over runs and epochs, for the paper's version. Kept end: the HIGHEST
 * (hardest) — the paper prunes the easy, low-EL2N samples.
 */
import { fail } from '../../errors.js';

export function el2nScores(errorNorm: Float32Array | Float64Array | readonly (Float32Array | Float64Array)[], epochs: number, samples: number, firstEpochs: number): Float32Array {
  const runs = Array.isArray(errorNorm) ? (errorNorm as (Float32Array | Float64Array)[]) : [errorNorm as Float32Array | Float64Array];
  if (!Number.isInteger(firstEpochs) || firstEpochs < 1 || firstEpochs > epochs) {
    fail('E_ARG', `EL2N epochs must be an integer in 1..${epochs} (the recorded epochs), got ${firstEpochs}`, { field: '--epochs' });
  }
  const acc = new Float64Array(samples);
  for (const [r, run] of runs.entries()) {
    if (run.length !== epochs * samples) fail('E_SHAPE', `error norms of run ${r} have ${run.length} values, expected ${epochs} × ${samples}`, { field: 'error_norm' });
    for (let t = 0; t < firstEpochs; t++) {
      const base = t * samples;
      for (let i = 0; i < samples; i++) acc[i]! += run[base + i]!;
    }
  }
  const out = new Float32Array(samples);
  const div = firstEpochs * runs.length;
  for (let i = 0; i < samples; i++) out[i] = acc[i]! / div;
  return out;
}
