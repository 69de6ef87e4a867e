/**
 * Learning-rate schedules, per optimizer step, in closed form.
 *
 * Step t = 0 … total−1 is the t-th update. With W warmup steps:
 *   t < W:   lr = base · (t + 1) / W                      (linear warmup, never 0)
 *   t ≥ W:   p = (t − W) / (total − W)  ∈ [0, 1)
 *            constant: base
 *            linear:   min + (base − min) · (1 − p)
 *            cosine:   min + (base − min) · ½ (1 + cos(π p))
 * where min = base · minFactor (default 0).
 */
import { fail } from '../errors.js';

export type ScheduleName = 'constant' | 'linear' | 'cosine';
export const SCHEDULES: readonly ScheduleName[] = ['constant', 'linear', 'cosine'];

export interface ScheduleConfig {
  name: ScheduleName;
  /** Number of linear-warmup steps (0 = none). */
  warmupSteps: number;
  /** Final learning rate as a fraction of the base (default 0). */
  minFactor?: number;
}

export function parseSchedule(value: string, field = '--schedule'): ScheduleName {
  if ((SCHEDULES as readonly string[]).includes(value)) return value as ScheduleName;
  return fail('E_ARG', `expected one of ${SCHEDULES.join(', ')}; got "${value}"`, { field });
}

/** The learning rate of step `t` out of `total`. */
export function learningRate(base: number, t: number, total: number, s: ScheduleConfig): number {
  const W = Math.max(0, Math.floor(s.warmupSteps));
  if (t < W) return (base * (t + 1)) / W;
  const min = base * (s.minFactor ?? 0);
  const span = Math.max(1, total - W);
  const p = Math.min(1, Math.max(0, (t - W) / span));
  switch (s.name) {
    case 'constant':
      return base;
    case 'linear':
      return min + (base - min) * (1 - p);
    case 'cosine':
      return min + (base - min) * 0.5 * (1 + Math.cos(Math.PI * p));
  }
}
