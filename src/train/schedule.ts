/**
 * Learning-rate schedules: pure functions of the step, in closed form (formulas, sources and
 * examples: docs/schedules.md).
 *
 * Steps are 0-based: t = 0 … T−1 is the t-th optimizer update and T ≥ 1 the number of updates;
 * `learningRate(η, t, T, s)` is the rate update t uses, η > 0 the base (peak) rate. A fraction of
 * the run becomes a step count by Math.round(f·T) (halves round up). A phase of D steps starting
 * at step s has progress p = (t − s)/D ∈ [0, 1): its first step uses the start value, and the end
 * value (p = 1) is reached at step s + D, the first step after the phase — the convention of
 * EPFL's schedules-and-scaling code, and of linear/cosine here.
 *
 * Warm-up, W = warmupSteps (every schedule but cyclic and custom): t < W → η·(t + 1)/W (never 0,
 * η at t = W − 1). After it, with M = minFactor:
 *   constant      η
 *   linear        p = (t − W)/(T − W):  η·(M + (1 − M)(1 − p))
 *   cosine        p = (t − W)/(T − W):  η·(M + (1 − M)·½(1 + cos πp))
 *   rex           z = (t − W)/(T − W):  η·(1 − z)/(1 − β·z/2)                       (Chen et al. 2021)
 *   inverse-sqrt  η·√(τ/(t − W + τ)), τ = timescale (default max(1, W))
 *   wsd           constant η, then the last D = round(F·T) steps decay with shape S from η to M·η:
 *                 p = (t − (T − D))/D, η·g_S(p) (g below)                      (Hägele et al. 2024)
 *   wsd-s         as wsd, but a decay of D steps ends at each e_k = round(f_k·T) of decayPoints
 *                 f_1 < f_2 < … ≤ 1; at e_k the rate is back at η (no new warm-up)
 *   infinite      cosine cooldown from η to R·η over round(C·T) steps, constant R·η, then the last
 *                 D = round(F·T) steps anneal exponentially: R·η·(M/R)^p  (Ibrahim et al. 2024)
 *   cyclic        triangular (Smith 2017), half cycle h: x = |t/h − 2·⌊1 + t/(2h)⌋ + 1|,
 *                 η·(M + (1 − M)·max(0, 1 − x)); starts at M·η, peaks η at t = h, 3h, …
 *   custom        fn(t, T, η), checked to be finite and ≥ 0
 * Decay shapes g_S(p), from 1 at p = 0 to M at p = 1:
 *   linear M + (1 − M)(1 − p)   cosine M + (1 − M)·½(1 + cos πp)   square M + (1 − M)(1 − p²)
 *   1-sqrt M + (1 − M)(1 − √p)  exp M^p (M > 0)   inverse-sqrt (harmonic) 1/((1 − p) + p/M) (M > 0)
 */
import { fail } from '../errors.js';

export type ScheduleName = 'constant' | 'linear' | 'cosine' | 'wsd' | 'wsd-s' | 'rex' | 'infinite' | 'cyclic' | 'inverse-sqrt';
export const SCHEDULES: readonly ScheduleName[] = ['constant', 'linear', 'cosine', 'wsd', 'wsd-s', 'rex', 'infinite', 'cyclic', 'inverse-sqrt'];

/** Shapes of a WSD decay (EPFL schedules-and-scaling's decay types; `1-sqrt` is their `sqrt`). */
export type DecayShape = 'linear' | 'cosine' | 'square' | '1-sqrt' | 'exp' | 'inverse-sqrt';
export const DECAY_SHAPES: readonly DecayShape[] = ['linear', 'cosine', 'square', '1-sqrt', 'exp', 'inverse-sqrt'];

/** A user schedule: the learning rate of 0-based step t of `total`, given the base rate. */
export type ScheduleFunction = (t: number, total: number, base: number) => number;

export interface ScheduleConfig {
  /** A named schedule, or 'custom' with `fn`. */
  name: ScheduleName | 'custom';
  /** Number of linear-warmup steps (0 = none). */
  warmupSteps: number;
  /** M: the final (or, for cyclic, the lowest) rate as a fraction of the base. Default 0; infinite 0.01; cyclic 0.25. */
  minFactor?: number;
  /** F: wsd / wsd-s decay length, infinite's final anneal, as a fraction of the steps (default 0.1). */
  decayFraction?: number;
  /** wsd / wsd-s decay shape (default linear). */
  decayShape?: DecayShape;
  /** wsd-s: where each decay ends, as fractions of the steps, increasing, in (0, 1]. */
  decayPoints?: readonly number[];
  /** rex: β in [0, 2] (default 1; 0 = linear, 2 = constant). */
  beta?: number;
  /** infinite: length of the cosine cooldown after warm-up, as a fraction of the steps (default 0.1). */
  cooldownFraction?: number;
  /** infinite: R, the constant rate as a fraction of the base, in (0, 1] (default 0.1). */
  constantFactor?: number;
  /** cyclic: steps per half cycle, ≥ 1 (default max(1, round(T/8)): four cycles). */
  halfCycle?: number;
  /** inverse-sqrt: τ > 0 in steps (default max(1, warmupSteps)). */
  timescale?: number;
  /** custom: the schedule itself. */
  fn?: ScheduleFunction;
}

/** The parameters of a ScheduleConfig, plus the two arguments, that an error can name. */
export type ScheduleField = keyof ScheduleConfig | 'base' | 'total';
/** How errors name each field (the CLI passes its flags); default: the API names. */
export type ScheduleFieldNames = Partial<Record<ScheduleField, string>>;

type Param = Exclude<keyof ScheduleConfig, 'name' | 'warmupSteps'>;

/** The parameters each schedule reads; giving it another is an error (it would be silently ignored). */
const PARAMS: Record<ScheduleName | 'custom', readonly Param[]> = {
  constant: [],
  linear: ['minFactor'],
  cosine: ['minFactor'],
  wsd: ['minFactor', 'decayFraction', 'decayShape'],
  'wsd-s': ['minFactor', 'decayFraction', 'decayShape', 'decayPoints'],
  rex: ['beta'],
  infinite: ['minFactor', 'decayFraction', 'cooldownFraction', 'constantFactor'],
  cyclic: ['minFactor', 'halfCycle'],
  'inverse-sqrt': ['timescale'],
  custom: ['fn'],
};

/** Schedules whose rate starts low by itself (or is the user's): no warm-up phase. */
const NO_WARMUP = new Set<string>(['cyclic', 'custom']);

export const SCHEDULE_DEFAULTS = {
  decayFraction: 0.1,
  decayShape: 'linear' as DecayShape,
  beta: 1,
  cooldownFraction: 0.1,
  constantFactor: 0.1,
  /** M by schedule; 0 elsewhere. infinite: 0.01 (its anneal is exponential, so M > 0); cyclic: 0.25 (Smith: the low bound a third to a quarter of the peak). */
  minFactor: { infinite: 0.01, cyclic: 0.25 } as Partial<Record<ScheduleName, number>>,
};

export function parseSchedule(value: string, field = '--schedule'): ScheduleName {
  if ((SCHEDULES as readonly string[]).includes(value)) return value as ScheduleName;
  return fail('E_ARG', `expected one of ${SCHEDULES.join(', ')}; got "${value}"`, { field });
}

export function parseDecayShape(value: string, field = '--decay-shape'): DecayShape {
  if ((DECAY_SHAPES as readonly string[]).includes(value)) return value as DecayShape;
  return fail('E_ARG', `expected one of ${DECAY_SHAPES.join(', ')}; got "${value}"`, { field });
}

/** A custom schedule (the API's user function): fn(t, T, base) for 0-based t, checked finite and ≥ 0 at every step. */
export function customSchedule(fn: ScheduleFunction): ScheduleConfig {
  return { name: 'custom', warmupSteps: 0, fn };
}

const show = (x: unknown) => (typeof x === 'number' ? String(x) : JSON.stringify(x));

/**
 * Checks everything that does not depend on the number of steps: the name, that only the
 * schedule's own parameters are given, and their ranges. Throws one E_ARG naming the field.
 */
export function checkScheduleConfig(s: ScheduleConfig, names: ScheduleFieldNames = {}): void {
  const nameOf = (f: ScheduleField) => names[f] ?? f;
  const bad = (f: ScheduleField, what: string, got: unknown): never => fail('E_ARG', `expected ${what}, got ${show(got)}`, { field: nameOf(f) });
  if (s === null || typeof s !== 'object') fail('E_ARG', 'expected a schedule object', { field: 'schedule' });
  if (s.name !== 'custom' && !(SCHEDULES as readonly string[]).includes(s.name)) {
    fail('E_ARG', `expected one of ${SCHEDULES.join(', ')} (or custom with fn); got ${show(s.name)}`, { field: nameOf('name') });
  }
  const own = PARAMS[s.name];
  for (const p of new Set(Object.values(PARAMS).flat())) {
    if (s[p] !== undefined && !own.includes(p)) {
      const users = (Object.keys(PARAMS) as (ScheduleName | 'custom')[]).filter((k) => PARAMS[k].includes(p));
      fail('E_ARG', `does not apply to the ${s.name} schedule (used by ${users.join(', ')})`, { field: nameOf(p) });
    }
  }
  const W = s.warmupSteps;
  if (!Number.isSafeInteger(W) || W < 0) bad('warmupSteps', 'an integer ≥ 0', W);
  if (NO_WARMUP.has(s.name) && W !== 0) {
    fail('E_ARG', s.name === 'cyclic' ? 'cyclic has no warm-up: each cycle rises from the low rate by itself; give 0' : 'a custom schedule has no separate warm-up: put it in fn; give 0', { field: nameOf('warmupSteps') });
  }
  const fraction = (f: 'decayFraction' | 'cooldownFraction') => {
    const v = s[f];
    if (v !== undefined && !(Number.isFinite(v) && v >= 0 && v <= 1)) bad(f, 'a fraction in [0, 1]', v);
  };
  fraction('decayFraction');
  fraction('cooldownFraction');
  const M = s.minFactor;
  if (M !== undefined && !(Number.isFinite(M) && M >= 0 && M <= 1)) bad('minFactor', 'a ratio in [0, 1]', M);
  if (s.decayShape !== undefined && !(DECAY_SHAPES as readonly string[]).includes(s.decayShape)) {
    bad('decayShape', `one of ${DECAY_SHAPES.join(', ')}`, s.decayShape);
  }
  const shape = s.decayShape ?? SCHEDULE_DEFAULTS.decayShape;
  const m = M ?? SCHEDULE_DEFAULTS.minFactor[s.name as ScheduleName] ?? 0;
  if ((s.name === 'wsd' || s.name === 'wsd-s') && (shape === 'exp' || shape === 'inverse-sqrt') && m === 0) {
    fail('E_ARG', `the ${shape} decay shape needs a final ratio > 0 (${shape === 'exp' ? 'M^p' : '1/((1 − p) + p/M)'} is 0 or undefined with M = 0); got ${m}`, { field: nameOf('minFactor') });
  }
  if (s.name === 'wsd-s') {
    const pts = s.decayPoints;
    if (pts === undefined) fail('E_ARG', 'wsd-s needs the fractions of the run where its decays end (e.g. 0.5,1)', { field: nameOf('decayPoints') });
    if (!Array.isArray(pts) || pts.length === 0) bad('decayPoints', 'a non-empty list of fractions', pts);
    pts.forEach((f, k) => {
      if (typeof f !== 'number' || !(Number.isFinite(f) && f > 0 && f <= 1)) bad('decayPoints', `fractions in (0, 1]; entry ${k + 1}`, f);
      if (k > 0 && !(f > pts[k - 1]!)) fail('E_ARG', `expected strictly increasing fractions; entry ${k + 1} (${f}) is not after entry ${k} (${pts[k - 1]})`, { field: nameOf('decayPoints') });
    });
  }
  if (s.beta !== undefined && !(Number.isFinite(s.beta) && s.beta >= 0 && s.beta <= 2)) bad('beta', 'β in [0, 2] (0 = linear, 2 = constant; above 2 the rate turns negative)', s.beta);
  const R = s.constantFactor;
  if (R !== undefined && !(Number.isFinite(R) && R > 0 && R <= 1)) bad('constantFactor', 'a ratio in (0, 1]', R);
  if (s.name === 'infinite') {
    const r = R ?? SCHEDULE_DEFAULTS.constantFactor;
    if (!(m > 0 && m <= r)) fail('E_ARG', `the final exponential anneal goes from the constant rate R·lr to M·lr: expected 0 < M ≤ R = ${r}, got M = ${m}`, { field: nameOf('minFactor') });
  }
  if (s.halfCycle !== undefined && !(Number.isSafeInteger(s.halfCycle) && s.halfCycle >= 1)) bad('halfCycle', 'an integer ≥ 1', s.halfCycle);
  if (s.timescale !== undefined && !(Number.isFinite(s.timescale) && s.timescale > 0)) bad('timescale', 'a number > 0', s.timescale);
  if (s.name === 'custom' && typeof s.fn !== 'function') bad('fn', 'a function (t, total, base) => learning rate', s.fn === undefined ? 'nothing' : typeof s.fn);
}

/** A phase of a compiled schedule: steps [start, end). */
export interface SchedulePhase {
  name: string;
  start: number;
  end: number;
}

export interface CompiledSchedule {
  base: number;
  total: number;
  /** The configuration with every default filled in (what `rate` computes). */
  config: ScheduleConfig;
  /** The phases in order, empty ones left out. */
  phases: SchedulePhase[];
  /** The rate of 0-based step t ∈ [0, total). */
  rate(t: number): number;
}

/**
 * Validates a schedule for `total` steps from base rate `base` (everything, including what needs
 * T: phases that would overlap, decay points that round to the same step) and returns it as a
 * function of the step. Throws one E_ARG naming the field.
 */
export function compileSchedule(base: number, total: number, s: ScheduleConfig, names: ScheduleFieldNames = {}): CompiledSchedule {
  const nameOf = (f: ScheduleField) => names[f] ?? f;
  if (typeof base !== 'number' || !Number.isFinite(base) || base <= 0) fail('E_ARG', `expected a positive finite learning rate, got ${show(base)}`, { field: nameOf('base') });
  if (!Number.isSafeInteger(total) || total < 1) fail('E_ARG', `expected an integer number of steps ≥ 1, got ${show(total)}`, { field: nameOf('total') });
  checkScheduleConfig(s, names);
  const T = total;
  const W = s.warmupSteps;
  const M = s.minFactor ?? SCHEDULE_DEFAULTS.minFactor[s.name as ScheduleName] ?? 0;
  const F = s.decayFraction ?? SCHEDULE_DEFAULTS.decayFraction;
  const D = Math.round(F * T);
  const phases: SchedulePhase[] = [];
  const phase = (name: string, start: number, end: number) => {
    if (end > start) phases.push({ name, start, end });
  };
  const warm = Math.min(W, T);
  phase('warmup', 0, warm);
  const config: ScheduleConfig = { ...s };
  let after: (t: number) => number;

  switch (s.name) {
    case 'constant':
    case 'linear':
    case 'cosine': {
      // Bit for bit the arithmetic these three always had (recorded runs stay reproducible).
      const min = base * M;
      const span = Math.max(1, T - W);
      if (s.name !== 'constant') config.minFactor = M;
      phase(s.name === 'constant' ? 'constant' : 'decay', warm, T);
      after = (t) => {
        const p = Math.min(1, Math.max(0, (t - W) / span));
        if (s.name === 'constant') return base;
        if (s.name === 'linear') return min + (base - min) * (1 - p);
        return min + (base - min) * 0.5 * (1 + Math.cos(Math.PI * p));
      };
      break;
    }
    case 'rex': {
      const beta = s.beta ?? SCHEDULE_DEFAULTS.beta;
      const span = Math.max(1, T - W);
      config.beta = beta;
      phase('decay', warm, T);
      after = (t) => {
        const z = (t - W) / span;
        return (base * (1 - z)) / (1 - (beta * z) / 2);
      };
      break;
    }
    case 'inverse-sqrt': {
      const tau = s.timescale ?? Math.max(1, W);
      config.timescale = tau;
      phase('decay', warm, T);
      after = (t) => base * Math.sqrt(tau / (t - W + tau));
      break;
    }
    case 'wsd':
    case 'wsd-s': {
      const shape = s.decayShape ?? SCHEDULE_DEFAULTS.decayShape;
      const g = decayShape(shape, M);
      Object.assign(config, { minFactor: M, decayFraction: F, decayShape: shape });
      // Decay k covers [ends[k] − D, ends[k]).
      const ends = s.name === 'wsd' ? [T] : s.decayPoints!.map((f) => Math.round(f * T));
      ends.forEach((e, k) => {
        const f = s.name === 'wsd' ? 1 : s.decayPoints![k]!;
        if (e < 1) fail('E_ARG', `decay point ${f} ends at step round(${f}·${T}) = 0: no step before it; expected a later point or more steps`, { field: nameOf('decayPoints') });
        if (k > 0 && e <= ends[k - 1]!) {
          fail('E_ARG', `decay points ${s.decayPoints![k - 1]} and ${f} both end at step ${e} of T = ${T}; expected points at least one step apart`, { field: nameOf('decayPoints') });
        }
        const startK = e - D;
        const prev = k > 0 ? ends[k - 1]! : 0;
        if (D > 0 && k > 0 && startK < prev) {
          fail('E_ARG', `the decay ending at step ${e} (point ${f}) would start at step ${startK}, before the previous decay ends at step ${prev}: decays of round(F·T) = ${D} steps overlap; expected points further apart or a smaller ${nameOf('decayFraction')}`, { field: nameOf('decayPoints') });
        }
        if (k === 0 && D > 0 && startK < W) {
          const what = s.name === 'wsd' ? `the decay over the last round(F·T) = ${D} of T = ${T} steps starts at step ${startK}` : `the first decay (round(F·T) = ${D} steps ending at step ${e}) starts at step ${startK}`;
          if (W > 0) fail('E_ARG', `${what}, inside the ${W}-step warm-up; expected warm-up + decay ≤ T`, { field: nameOf('warmupSteps') });
          fail('E_ARG', `${what}, before step 0; expected a decay point ≥ ${nameOf('decayFraction')}`, { field: nameOf('decayPoints') });
        }
      });
      if (s.name === 'wsd-s') config.decayPoints = [...s.decayPoints!];
      let at = warm;
      for (const e of ends) {
        phase('stable', at, e - D);
        phase('decay', e - D, e);
        at = e;
      }
      phase('stable', at, T);
      after = (t) => {
        for (const e of ends) if (t >= e - D && t < e) return base * g((t - (e - D)) / D);
        return base;
      };
      break;
    }
    case 'infinite': {
      const R = s.constantFactor ?? SCHEDULE_DEFAULTS.constantFactor;
      const C = s.cooldownFraction ?? SCHEDULE_DEFAULTS.cooldownFraction;
      const Dc = Math.round(C * T);
      const annealStart = T - D;
      Object.assign(config, { minFactor: M, decayFraction: F, cooldownFraction: C, constantFactor: R });
      if (W + Dc > annealStart) {
        fail('E_ARG', `warm-up ${W} + cooldown round(C·T) = ${Dc} + anneal round(F·T) = ${D} steps exceed T = ${T}; expected the phases to fit one after another`, { field: nameOf('cooldownFraction') });
      }
      phase('cooldown', W, W + Dc);
      phase('constant', W + Dc, annealStart);
      phase('anneal', annealStart, T);
      after = (t) => {
        if (t < W + Dc) return base * (R + (1 - R) * 0.5 * (1 + Math.cos((Math.PI * (t - W)) / Dc)));
        if (t < annealStart) return base * R;
        return base * R * Math.pow(M / R, (t - annealStart) / D);
      };
      break;
    }
    case 'cyclic': {
      const h = s.halfCycle ?? Math.max(1, Math.round(T / 8));
      Object.assign(config, { minFactor: M, halfCycle: h });
      phase('cycles', 0, T); // rising on [2kh, (2k+1)h), falling on [(2k+1)h, (2k+2)h)
      after = (t) => {
        const cycle = Math.floor(1 + t / (2 * h));
        const x = Math.abs(t / h - 2 * cycle + 1);
        return base * (M + (1 - M) * Math.max(0, 1 - x));
      };
      break;
    }
    case 'custom': {
      const fn = s.fn!;
      phase('custom', 0, T);
      after = (t) => {
        const v = fn(t, T, base);
        if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail('E_VALUE', `the schedule function returned ${show(v)} at step ${t} of ${T}; expected a finite number ≥ 0`, { field: nameOf('fn') });
        return v;
      };
      break;
    }
  }
  const rate = (t: number): number => {
    if (!Number.isSafeInteger(t) || t < 0 || t >= T) fail('E_ARG', `expected a step t in 0 … ${T - 1} (0-based, T = ${T}), got ${show(t)}`, { field: 't' });
    return t < W ? (base * (t + 1)) / W : after(t);
  };
  return { base, total: T, config, phases, rate };
}

/** g_S(p): the decay shape from 1 (p = 0) to M (p = 1). */
function decayShape(shape: DecayShape, M: number): (p: number) => number {
  switch (shape) {
    case 'linear':
      return (p) => M + (1 - M) * (1 - p);
    case 'cosine':
      return (p) => M + (1 - M) * 0.5 * (1 + Math.cos(Math.PI * p));
    case 'square':
      return (p) => M + (1 - M) * (1 - p * p);
    case '1-sqrt':
      return (p) => M + (1 - M) * (1 - Math.sqrt(p));
    case 'exp':
      return (p) => Math.pow(M, p);
    case 'inverse-sqrt':
      return (p) => 1 / (1 - p + p / M);
  }
}

/** The learning rate of 0-based step `t` out of `total` (validates the schedule: prefer compileSchedule in loops). */
export function learningRate(base: number, t: number, total: number, s: ScheduleConfig): number {
  return compileSchedule(base, total, s).rate(t);
}

/** The rates of steps 0 … total−1. */
export function scheduleValues(base: number, total: number, s: ScheduleConfig, names?: ScheduleFieldNames): number[] {
  const c = compileSchedule(base, total, s, names);
  return Array.from({ length: total }, (_, t) => c.rate(t));
}
