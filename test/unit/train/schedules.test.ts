/**
 * Every schedule against its closed form, written out here step by step with the phase
 * boundaries computed by hand (not with the module's helpers), at every step and at the edges
 * W = 0, F = 0, F = 1, T = 1; and bad input → one E_ARG naming the field.
 */
import { describe, expect, it } from 'vitest';
import { RiverbedError } from '../../../src/errors.js';
import {
  type ScheduleConfig,
  compileSchedule,
  customSchedule,
  learningRate,
  scheduleValues,
} from '../../../src/train/schedule.js';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Relative agreement to ~1e-12 (the closed forms are evaluated in a different order here). */
function expectClose(got: number[], want: number[]): void {
  expect(got.length).toBe(want.length);
  got.forEach((g, t) => {
    const w = want[t]!;
    if (Math.abs(g - w) > 1e-12 * Math.max(1, Math.abs(w))) throw new Error(`step ${t}: got ${g}, want ${w}`);
  });
}

function expectArgError(f: () => unknown, field: string, ...parts: (string | RegExp)[]): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a RiverbedError').toBeInstanceOf(RiverbedError);
  const e = err as RiverbedError;
  expect(e.code).toBe('E_ARG');
  expect(e.field).toBe(field);
  expect(e.message).not.toContain('\n');
  for (const p of parts) expect(e.message).toMatch(p);
}

const wsd = (extra: Partial<ScheduleConfig> = {}): ScheduleConfig => ({ name: 'wsd', warmupSteps: 0, ...extra });

describe('existing schedules keep their exact arithmetic', () => {
  it('constant, linear and cosine equal the former implementation bit for bit', () => {
    // The former learningRate, verbatim in substance: recorded runs must not move.
    const former = (base: number, t: number, total: number, name: string, W: number, minFactor = 0) => {
      if (t < W) return (base * (t + 1)) / W;
      const min = base * minFactor;
      const p = Math.min(1, Math.max(0, (t - W) / Math.max(1, total - W)));
      if (name === 'constant') return base;
      if (name === 'linear') return min + (base - min) * (1 - p);
      return min + (base - min) * 0.5 * (1 + Math.cos(Math.PI * p));
    };
    for (const name of ['constant', 'linear', 'cosine'] as const) {
      for (const [T, W, M] of [[100, 0, 0], [100, 7, 0.1], [37, 36, 0.5], [5, 9, 0], [1, 0, 0]] as const) {
        const cfg: ScheduleConfig = name === 'constant' ? { name, warmupSteps: W } : { name, warmupSteps: W, minFactor: M };
        const got = scheduleValues(0.05, T, cfg);
        for (const t of range(T)) expect(got[t]).toBe(former(0.05, t, T, name, W, name === 'constant' ? 0 : M));
      }
    }
  });
});

describe('wsd', () => {
  const base = 0.3;
  it('hand values: T = 10, F = 0.2 → the last 2 steps decay linearly to 0', () => {
    expectClose(scheduleValues(1, 10, wsd({ decayFraction: 0.2 })), [1, 1, 1, 1, 1, 1, 1, 1, 1, 0.5]);
    // Warm-up 4: 1/4, 2/4, 3/4, 1, then stable.
    expectClose(scheduleValues(1, 10, wsd({ warmupSteps: 4, decayFraction: 0.2 })), [0.25, 0.5, 0.75, 1, 1, 1, 1, 1, 1, 0.5]);
  });

  it('every shape at every step (T = 200, W = 15, F = 0.25 → decay on steps 150…199, M = 0.1)', () => {
    const M = 0.1;
    const shapes: Record<string, (p: number) => number> = {
      linear: (p) => M + (1 - M) * (1 - p),
      cosine: (p) => M + ((1 - M) * (1 + Math.cos(Math.PI * p))) / 2,
      square: (p) => M + (1 - M) * (1 - p ** 2),
      '1-sqrt': (p) => M + (1 - M) * (1 - p ** 0.5),
      exp: (p) => Math.exp(p * Math.log(M)),
      'inverse-sqrt': (p) => 1 / ((1 - p) / 1 + p / M),
    };
    for (const [shape, g] of Object.entries(shapes)) {
      const want = range(200).map((t) => (t < 15 ? (base * (t + 1)) / 15 : t < 150 ? base : base * g((t - 150) / 50)));
      expectClose(scheduleValues(base, 200, wsd({ warmupSteps: 15, decayFraction: 0.25, decayShape: shape as never, minFactor: M })), want);
    }
  });

  it('the default is F = 0.1, linear, to 0', () => {
    const want = range(50).map((t) => (t < 45 ? base : base * (1 - (t - 45) / 5)));
    expectClose(scheduleValues(base, 50, wsd()), want);
  });

  it('edges: F = 0 is constant, F = 1 decays from step 0, T = 1 is the base rate', () => {
    expectClose(scheduleValues(base, 30, wsd({ decayFraction: 0 })), range(30).map(() => base));
    expectClose(scheduleValues(base, 30, wsd({ decayFraction: 0, warmupSteps: 3 })), range(30).map((t) => (t < 3 ? (base * (t + 1)) / 3 : base)));
    expectClose(scheduleValues(base, 8, wsd({ decayFraction: 1, decayShape: 'cosine' })), range(8).map((t) => (base * (1 + Math.cos((Math.PI * t) / 8))) / 2));
    for (const F of [0, 0.1, 0.5, 1]) expect(scheduleValues(base, 1, wsd({ decayFraction: F }))).toEqual([base]);
    // W = T − D exactly: the decay starts right after warm-up.
    expectClose(scheduleValues(1, 6, wsd({ warmupSteps: 3, decayFraction: 0.5 })), [1 / 3, 2 / 3, 1, 1, 2 / 3, 1 / 3]);
  });

  it('round(F·T) rounds halves up: F = 0.25, T = 10 → 3 decay steps (2.5 → 3)', () => {
    expectClose(scheduleValues(1, 10, wsd({ decayFraction: 0.25 })), [1, 1, 1, 1, 1, 1, 1, 1, 2 / 3, 1 / 3]);
  });
});

describe('wsd-s', () => {
  it('hand values: decays of 4 steps end at 0.5·20 and 1·20; at step 10 the rate is back at the peak', () => {
    const v = scheduleValues(1, 20, { name: 'wsd-s', warmupSteps: 0, decayFraction: 0.2, decayPoints: [0.5, 1] });
    expectClose(v, [1, 1, 1, 1, 1, 1, 1, 0.75, 0.5, 0.25, 1, 1, 1, 1, 1, 1, 1, 0.75, 0.5, 0.25]);
  });

  it('every step: T = 300, W = 10, F = 0.1, points 0.3, 0.6, 0.9, cosine to M = 0.2; steps after the last decay are at the peak', () => {
    const b = 0.02;
    const M = 0.2;
    const decays = [[60, 90], [150, 180], [240, 270]];
    const want = range(300).map((t) => {
      if (t < 10) return (b * (t + 1)) / 10;
      for (const [s, e] of decays) if (t >= s! && t < e!) return b * (M + ((1 - M) * (1 + Math.cos((Math.PI * (t - s!)) / 30))) / 2);
      return b;
    });
    expectClose(scheduleValues(b, 300, { name: 'wsd-s', warmupSteps: 10, decayFraction: 0.1, decayShape: 'cosine', minFactor: M, decayPoints: [0.3, 0.6, 0.9] }), want);
  });

  it('with one point at 1 it is wsd; decays may touch', () => {
    const a = scheduleValues(1, 40, { name: 'wsd-s', warmupSteps: 2, decayFraction: 0.3, decayShape: 'square', decayPoints: [1] });
    expect(a).toEqual(scheduleValues(1, 40, wsd({ warmupSteps: 2, decayFraction: 0.3, decayShape: 'square' })));
    // Decay 1 on [0, 5), decay 2 on [5, 10): back to 1 at step 5, then down again.
    expectClose(scheduleValues(1, 10, { name: 'wsd-s', warmupSteps: 0, decayFraction: 0.5, decayPoints: [0.5, 1] }), [1, 0.8, 0.6, 0.4, 0.2, 1, 0.8, 0.6, 0.4, 0.2]);
  });

  it('edges: F = 0 is constant; T = 1', () => {
    expect(scheduleValues(2, 12, { name: 'wsd-s', warmupSteps: 0, decayFraction: 0, decayPoints: [0.25, 0.5, 1] })).toEqual(range(12).map(() => 2));
    expect(scheduleValues(2, 1, { name: 'wsd-s', warmupSteps: 0, decayFraction: 1, decayPoints: [1] })).toEqual([2]);
  });
});

describe('rex', () => {
  it('hand values at T = 4, β = 1: (1 − z)/(1 − z/2)', () => {
    expectClose(scheduleValues(1, 4, { name: 'rex', warmupSteps: 0 }), [1, 0.75 / 0.875, 0.5 / 0.75, 0.25 / 0.625]);
  });
  it('every step for several β, with and without warm-up; β = 0 is linear to 0, β = 2 constant', () => {
    for (const beta of [0, 0.5, 1, 1.5, 2]) {
      for (const W of [0, 12]) {
        const T = 120;
        const want = range(T).map((t) => {
          if (t < W) return (0.1 * (t + 1)) / W;
          const z = (t - W) / (T - W);
          return (0.1 * (1 - z)) / (1 - (beta * z) / 2);
        });
        expectClose(scheduleValues(0.1, T, { name: 'rex', warmupSteps: W, beta }), want);
      }
    }
    expectClose(scheduleValues(1, 5, { name: 'rex', warmupSteps: 0, beta: 0 }), [1, 0.8, 0.6, 0.4, 0.2]);
    expectClose(scheduleValues(1, 5, { name: 'rex', warmupSteps: 0, beta: 2 }), [1, 1, 1, 1, 1]);
    expect(scheduleValues(0.7, 1, { name: 'rex', warmupSteps: 0 })).toEqual([0.7]);
  });
});

describe('infinite', () => {
  it('every step: T = 100, W = 5, cooldown 10 steps to R = 0.1, constant, exponential anneal over the last 20 to M = 0.01', () => {
    const b = 1e-3;
    const want = range(100).map((t) => {
      if (t < 5) return (b * (t + 1)) / 5;
      if (t < 15) return b * 0.1 + (b - b * 0.1) * 0.5 * (1 + Math.cos((Math.PI * (t - 5)) / 10));
      if (t < 80) return b * 0.1;
      return b * 0.1 * Math.exp(((t - 80) / 20) * Math.log(0.01 / 0.1));
    });
    expectClose(scheduleValues(b, 100, { name: 'infinite', warmupSteps: 5, cooldownFraction: 0.1, decayFraction: 0.2, constantFactor: 0.1, minFactor: 0.01 }), want);
  });
  it('defaults (C = 0.1, F = 0.1, R = 0.1, M = 0.01) and edges F = 0, T = 1', () => {
    const want = range(40).map((t) => (t < 4 ? 0.1 + 0.9 * 0.5 * (1 + Math.cos((Math.PI * t) / 4)) : t < 36 ? 0.1 : 0.1 * 0.1 ** ((t - 36) / 4)));
    expectClose(scheduleValues(1, 40, { name: 'infinite', warmupSteps: 0 }), want);
    expectClose(scheduleValues(1, 20, { name: 'infinite', warmupSteps: 0, decayFraction: 0, cooldownFraction: 0.5 }), range(20).map((t) => (t < 10 ? 0.1 + 0.45 * (1 + Math.cos((Math.PI * t) / 10)) : 0.1)));
    // T = 1: no room for a cooldown (round(0.1) = 0): the constant rate.
    expectClose(scheduleValues(1, 1, { name: 'infinite', warmupSteps: 0 }), [0.1]);
  });
});

describe('cyclic (triangular, Smith 2017)', () => {
  it('hand values: half cycle 4, low bound 0.25', () => {
    const v = scheduleValues(1, 17, { name: 'cyclic', warmupSteps: 0, halfCycle: 4, minFactor: 0.25 });
    expectClose(v, [0.25, 0.4375, 0.625, 0.8125, 1, 0.8125, 0.625, 0.4375, 0.25, 0.4375, 0.625, 0.8125, 1, 0.8125, 0.625, 0.4375, 0.25]);
  });
  it('every step against the triangle wave, default half cycle round(T/8) and M = 0.25; T = 1', () => {
    const T = 203; // round(203/8) = 25
    const want = range(T).map((t) => {
      const inCycle = t % 50;
      const up = inCycle <= 25 ? inCycle / 25 : (50 - inCycle) / 25;
      return 0.04 * (0.25 + 0.75 * up);
    });
    expectClose(scheduleValues(0.04, T, { name: 'cyclic', warmupSteps: 0 }), want);
    expectClose(scheduleValues(0.04, 1, { name: 'cyclic', warmupSteps: 0 }), [0.01]);
  });
});

describe('inverse-sqrt', () => {
  it('with warm-up W, τ = W by default: η·√(W/t) after it (fairseq)', () => {
    const want = range(64).map((t) => (t < 4 ? (0.5 * (t + 1)) / 4 : 0.5 * Math.sqrt(4 / t)));
    expectClose(scheduleValues(0.5, 64, { name: 'inverse-sqrt', warmupSteps: 4 }), want);
    expect(scheduleValues(1, 17, { name: 'inverse-sqrt', warmupSteps: 4 })[16]).toBeCloseTo(0.5, 15);
  });
  it('W = 0: η/√(1 + t/τ); T = 1', () => {
    expectClose(scheduleValues(2, 30, { name: 'inverse-sqrt', warmupSteps: 0 }), range(30).map((t) => 2 / Math.sqrt(t + 1)));
    expectClose(scheduleValues(2, 30, { name: 'inverse-sqrt', warmupSteps: 0, timescale: 10 }), range(30).map((t) => 2 / Math.sqrt(1 + t / 10)));
    expect(scheduleValues(2, 1, { name: 'inverse-sqrt', warmupSteps: 0 })).toEqual([2]);
  });
});

describe('custom (user function)', () => {
  it('is called with (t, T, base) for 0-based t', () => {
    const seen: number[][] = [];
    const v = scheduleValues(0.2, 5, customSchedule((t, T, b) => (seen.push([t, T, b]), b * 0.5 ** t)));
    expectClose(v, [0.2, 0.1, 0.05, 0.025, 0.0125]);
    expect(seen).toEqual(range(5).map((t) => [t, 5, 0.2]));
    expect(learningRate(0.2, 3, 5, customSchedule((t) => t / 10))).toBeCloseTo(0.3, 15);
  });
  it('a value that is NaN, infinite or negative is an E_VALUE naming the step', () => {
    for (const bad of [NaN, Infinity, -1]) {
      expect(() => scheduleValues(1, 4, customSchedule((t) => (t === 2 ? bad : 1)))).toThrow(/fn: the schedule function returned .* at step 2 of 4; expected a finite number ≥ 0/);
    }
  });
});

describe('bad input: one E_ARG naming the field', () => {
  it('learning rate negative, zero, NaN or infinite; T < 1 or fractional; a step outside [0, T)', () => {
    for (const b of [-0.1, 0, NaN, Infinity]) expectArgError(() => scheduleValues(b, 10, wsd()), 'base', /positive finite learning rate/);
    for (const T of [0, -3, 2.5, NaN]) expectArgError(() => scheduleValues(1, T, wsd()), 'total', /steps ≥ 1/);
    expectArgError(() => learningRate(1, 10, 10, wsd()), 't', /0 … 9/);
    expectArgError(() => learningRate(1, -1, 10, wsd()), 't');
  });
  it('fractions outside [0, 1], ratios out of range, shapes and names unknown', () => {
    for (const F of [-0.1, 1.5, NaN]) expectArgError(() => scheduleValues(1, 10, wsd({ decayFraction: F })), 'decayFraction', /fraction in \[0, 1\]/);
    expectArgError(() => scheduleValues(1, 10, { name: 'infinite', warmupSteps: 0, cooldownFraction: 2 }), 'cooldownFraction');
    expectArgError(() => scheduleValues(1, 10, wsd({ minFactor: -0.5 })), 'minFactor', /\[0, 1\]/);
    expectArgError(() => scheduleValues(1, 10, wsd({ decayShape: 'sqrt' as never })), 'decayShape', /linear, cosine, square, 1-sqrt, exp, inverse-sqrt/);
    expectArgError(() => scheduleValues(1, 10, { name: 'step' as never, warmupSteps: 0 }), 'name', /constant, linear, cosine, wsd, wsd-s, rex, infinite, cyclic, inverse-sqrt/);
    expectArgError(() => scheduleValues(1, 10, { name: 'rex', warmupSteps: 0, beta: 2.5 }), 'beta');
    expectArgError(() => scheduleValues(1, 10, { name: 'cyclic', warmupSteps: 0, halfCycle: 0 }), 'halfCycle');
    expectArgError(() => scheduleValues(1, 10, { name: 'inverse-sqrt', warmupSteps: 0, timescale: 0 }), 'timescale');
    expectArgError(() => scheduleValues(1, 10, wsd({ warmupSteps: -1 })), 'warmupSteps');
    expectArgError(() => scheduleValues(1, 10, wsd({ warmupSteps: 1.5 })), 'warmupSteps');
  });
  it('exp and harmonic shapes with M = 0; infinite with M = 0 or M > R', () => {
    expectArgError(() => scheduleValues(1, 10, wsd({ decayShape: 'exp' })), 'minFactor', /exp decay shape needs a final ratio > 0/);
    expectArgError(() => scheduleValues(1, 10, wsd({ decayShape: 'exp', minFactor: 0 })), 'minFactor');
    expectArgError(() => scheduleValues(1, 10, { name: 'wsd-s', warmupSteps: 0, decayShape: 'inverse-sqrt', decayPoints: [1] }), 'minFactor');
    expectArgError(() => scheduleValues(1, 10, { name: 'infinite', warmupSteps: 0, minFactor: 0 }), 'minFactor', /0 < M ≤ R/);
    expectArgError(() => scheduleValues(1, 10, { name: 'infinite', warmupSteps: 0, minFactor: 0.5, constantFactor: 0.2 }), 'minFactor');
  });
  it('decay points out of order, outside (0, 1], missing, rounding to one step, overlapping', () => {
    const s = (decayPoints: number[], extra: Partial<ScheduleConfig> = {}): ScheduleConfig => ({ name: 'wsd-s', warmupSteps: 0, decayFraction: 0.1, decayPoints, ...extra });
    expectArgError(() => scheduleValues(1, 100, s([0.6, 0.3])), 'decayPoints', /strictly increasing/);
    expectArgError(() => scheduleValues(1, 100, s([0.5, 0.5])), 'decayPoints', /strictly increasing/);
    for (const bad of [[0], [1.2], [-0.5, 1], [NaN]]) expectArgError(() => scheduleValues(1, 100, s(bad)), 'decayPoints', /\(0, 1\]/);
    expectArgError(() => scheduleValues(1, 100, s([])), 'decayPoints', /non-empty/);
    expectArgError(() => scheduleValues(1, 100, { name: 'wsd-s', warmupSteps: 0 }), 'decayPoints', /needs the fractions/);
    expectArgError(() => scheduleValues(1, 10, s([0.5, 0.52])), 'decayPoints', /both end at step 5 of T = 10/);
    expectArgError(() => scheduleValues(1, 100, s([0.5, 0.55], { decayFraction: 0.1 })), 'decayPoints', /overlap/);
    expectArgError(() => scheduleValues(1, 100, s([0.05, 1], { decayFraction: 0.1 })), 'decayPoints', /before step 0/);
    expectArgError(() => scheduleValues(1, 100, s([0.004, 1], { decayFraction: 0 })), 'decayPoints', /ends at step round/);
  });
  it('phases that do not fit: warm-up into the decay; infinite phases longer than T', () => {
    expectArgError(() => scheduleValues(1, 10, wsd({ warmupSteps: 5, decayFraction: 0.6 })), 'warmupSteps', /starts at step 4, inside the 5-step warm-up/);
    expectArgError(() => scheduleValues(1, 100, { name: 'wsd-s', warmupSteps: 30, decayFraction: 0.1, decayPoints: [0.35, 1] }), 'warmupSteps');
    expectArgError(() => scheduleValues(1, 10, { name: 'infinite', warmupSteps: 3, cooldownFraction: 0.5, decayFraction: 0.3 }), 'cooldownFraction', /exceed T = 10/);
  });
  it('a parameter the schedule does not read; warm-up on cyclic and custom', () => {
    expectArgError(() => scheduleValues(1, 10, { name: 'cosine', warmupSteps: 0, decayFraction: 0.2 }), 'decayFraction', /does not apply to the cosine schedule \(used by wsd, wsd-s, infinite\)/);
    expectArgError(() => scheduleValues(1, 10, wsd({ beta: 1 })), 'beta', /used by rex/);
    expectArgError(() => scheduleValues(1, 10, { name: 'constant', warmupSteps: 0, minFactor: 0.1 }), 'minFactor');
    expectArgError(() => scheduleValues(1, 10, { name: 'cyclic', warmupSteps: 2 }), 'warmupSteps', /no warm-up/);
    expectArgError(() => scheduleValues(1, 10, { ...customSchedule(() => 1), warmupSteps: 2 }), 'warmupSteps');
    expectArgError(() => scheduleValues(1, 10, { name: 'custom', warmupSteps: 0 }), 'fn', /a function/);
  });
  it('errors name the fields as the caller spells them (the CLI passes its flags)', () => {
    expectArgError(() => compileSchedule(1, 10, wsd({ decayFraction: 2 }), { decayFraction: '--decay-fraction' }), '--decay-fraction');
    expectArgError(() => compileSchedule(-1, 10, wsd(), { base: '--lr' }), '--lr');
  });
});

describe('compileSchedule', () => {
  it('reports the phases and the configuration with its defaults', () => {
    const c = compileSchedule(0.1, 100, { name: 'wsd-s', warmupSteps: 5, decayPoints: [0.5, 1] });
    expect(c.phases).toEqual([
      { name: 'warmup', start: 0, end: 5 },
      { name: 'stable', start: 5, end: 40 },
      { name: 'decay', start: 40, end: 50 },
      { name: 'stable', start: 50, end: 90 },
      { name: 'decay', start: 90, end: 100 },
    ]);
    expect(c.config).toMatchObject({ minFactor: 0, decayFraction: 0.1, decayShape: 'linear', decayPoints: [0.5, 1] });
    expect(compileSchedule(1, 50, { name: 'infinite', warmupSteps: 0 }).phases.map((p) => [p.name, p.start, p.end])).toEqual([['cooldown', 0, 5], ['constant', 5, 45], ['anneal', 45, 50]]);
  });
});
