/**
 * Random baseline: every sample gets a score uniform in [0, 1) from the seeded stream
 * `Rng.derive(seed, "coreset.random")`; keeping the highest scores of each class is then a
 * uniformly random subset of each class's budget. Same seed, same N → same scores.
 */
import { Rng } from '../../model/rng.js';

export function randomScores(samples: number, seed: number): Float32Array {
  const rng = Rng.derive(seed, 'coreset.random');
  const out = new Float32Array(samples);
  for (let i = 0; i < samples; i++) out[i] = rng.next();
  return out;
}
