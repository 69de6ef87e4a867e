import { describe, expect, it } from 'vitest';
import { learningRate, parseSchedule } from '../../../src/train/schedule.js';

describe('learning-rate schedules (closed forms)', () => {
  const base = 0.1;
  const T = 100;
  it('warms up linearly, never at 0', () => {
    for (const name of ['constant', 'linear', 'cosine'] as const) {
      expect(learningRate(base, 0, T, { name, warmupSteps: 10 })).toBeCloseTo(0.01, 15);
      expect(learningRate(base, 4, T, { name, warmupSteps: 10 })).toBeCloseTo(0.05, 15);
      expect(learningRate(base, 9, T, { name, warmupSteps: 10 })).toBeCloseTo(0.1, 15);
    }
  });
  it('constant', () => {
    for (const t of [0, 50, 99]) expect(learningRate(base, t, T, { name: 'constant', warmupSteps: 0 })).toBe(base);
  });
  it('linear decay after warmup', () => {
    const s = { name: 'linear' as const, warmupSteps: 20 };
    expect(learningRate(base, 20, T, s)).toBeCloseTo(0.1, 15);
    expect(learningRate(base, 60, T, s)).toBeCloseTo(0.1 * (1 - 40 / 80), 15);
    expect(learningRate(base, 99, T, s)).toBeCloseTo(0.1 * (1 / 80), 15);
    expect(learningRate(base, 60, T, { ...s, minFactor: 0.1 })).toBeCloseTo(0.01 + 0.09 * 0.5, 15);
  });
  it('cosine decay after warmup', () => {
    const s = { name: 'cosine' as const, warmupSteps: 0 };
    expect(learningRate(base, 0, T, s)).toBeCloseTo(0.1, 15);
    expect(learningRate(base, 50, T, s)).toBeCloseTo(0.05, 15);
    expect(learningRate(base, 25, T, s)).toBeCloseTo(0.05 * (1 + Math.cos(Math.PI / 4)), 15);
    expect(learningRate(base, 75, T, { ...s, minFactor: 0.2 })).toBeCloseTo(0.02 + 0.08 * 0.5 * (1 + Math.cos((3 * Math.PI) / 4)), 15);
  });
  it('rejects unknown schedules', () => {
    expect(() => parseSchedule('step')).toThrow(/--schedule: expected one of constant, linear, cosine, wsd, wsd-s, rex, infinite, cyclic, inverse-sqrt; got "step"/);
  });
});
