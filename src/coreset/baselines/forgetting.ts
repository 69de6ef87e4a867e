/**
 * Forgetting events — Toneva et al., "An Empirical Study of Example Forgetting during Deep Neural
 * Network Learning" (ICLR 2019).
 *
 *   events_i = #{ t : correct_i[t] = 1 and correct_i[t+1] = 0 },  t over consecutive checkpoints
 *
 * A sample never classified correctly at any checkpoint ("never learned") counts as forgotten
 * infinitely often in the paper; here it scores E (the number of checkpoints), more than any
 * learned sample can reach (at most ⌈(E−1)/2⌉ events), so it ranks as the most forgotten while
 * the scores stay finite (CCS strata need a finite range). Kept end: the HIGHEST (the paper
 * prunes unforgettable samples, i.e. zero events, first).
 *
 * Correctness is read at the recorded checkpoints (the recorder evaluates after every epoch), not
 * at every mini-batch presentation as in the paper: a forgetting event is counted between epochs.
 */
import { fail } from '../../errors.js';

export function forgettingScores(correct: Uint8Array, epochs: number, samples: number): Float32Array {
  if (correct.length !== epochs * samples) fail('E_SHAPE', `correct has ${correct.length} values, expected ${epochs} × ${samples}`, { field: 'correct' });
  if (epochs < 1) fail('E_ARG', 'forgetting needs at least one checkpoint', { field: 'epochs' });
  const events = new Float32Array(samples);
  const learned = new Uint8Array(samples);
  for (let i = 0; i < samples; i++) learned[i] = correct[i]! ? 1 : 0;
  for (let t = 0; t + 1 < epochs; t++) {
    const a = t * samples;
    const b = a + samples;
    for (let i = 0; i < samples; i++) {
      const next = correct[b + i]!;
      if (correct[a + i]! && !next) events[i]!++;
      if (next) learned[i] = 1;
    }
  }
  for (let i = 0; i < samples; i++) if (!learned[i]) events[i] = epochs;
  return events;
}
