/**
 * The learning-rate schedule options `riverbed train` and `riverbed schedule` share
 * (docs/schedules.md): `addScheduleOptions(cmd)` declares the parameters beyond --schedule/NAME,
 * --lr and --warmup (each command declares those with its own defaults), `scheduleFromOptions`
 * builds the ScheduleConfig from what was given and checks it; errors name the flags.
 */
import type { Command } from 'commander';
import { type ScheduleConfig, type ScheduleFieldNames, checkScheduleConfig, parseDecayShape, parseSchedule } from '../train/schedule.js';
import { intOption, numberOption, parseDecimal } from './options.js';

export interface ScheduleCliOptions {
  minLrRatio?: number;
  decayFraction?: number;
  decayShape?: string;
  decayPoints?: number[];
  beta?: number;
  cooldownFraction?: number;
  constantRatio?: number;
  halfCycle?: number;
  timescale?: number;
}

/** How schedule errors name each field on the command line. */
export const SCHEDULE_FLAGS: ScheduleFieldNames = {
  name: '--schedule',
  base: '--lr',
  total: '--steps',
  warmupSteps: '--warmup',
  minFactor: '--min-lr-ratio',
  decayFraction: '--decay-fraction',
  decayShape: '--decay-shape',
  decayPoints: '--decay-points',
  beta: '--beta',
  cooldownFraction: '--cooldown-fraction',
  constantFactor: '--constant-ratio',
  halfCycle: '--half-cycle',
  timescale: '--timescale',
};

/** Any finite number; the schedule checks the range and names the flag. */
const num = (flag: string) => numberOption(flag, () => true, 'a number');

function numberList(flag: string): (v: string) => number[] {
  return (v) =>
    v.split(',').map((part, i) => {
      return parseDecimal(part, flag, `comma-separated numbers (entry ${i + 1})`);
    });
}

export function addScheduleOptions(cmd: Command): Command {
  return cmd
    .option('--decay-fraction <F>', 'wsd, wsd-s: length of each decay; infinite: of the final anneal; as a fraction of the steps, in [0, 1] (default 0.1)', num('--decay-fraction'))
    .option('--decay-shape <S>', 'wsd, wsd-s: linear | cosine | square | 1-sqrt | exp | inverse-sqrt (default linear)')
    .option('--min-lr-ratio <M>', 'final rate / lr, in [0, 1]: linear, cosine, wsd, wsd-s (default 0), infinite (default 0.01); cyclic: the low bound (default 0.25)', num('--min-lr-ratio'))
    .option('--decay-points <f,…>', 'wsd-s: the fractions of the steps where each decay ends, increasing, in (0, 1] (e.g. 0.5,1)', numberList('--decay-points'))
    .option('--beta <b>', 'rex: β in [0, 2] (default 1; 0 = linear, 2 = constant)', num('--beta'))
    .option('--cooldown-fraction <C>', 'infinite: length of the cosine cooldown after warm-up, as a fraction of the steps (default 0.1)', num('--cooldown-fraction'))
    .option('--constant-ratio <R>', 'infinite: the constant rate / lr, in (0, 1] (default 0.1)', num('--constant-ratio'))
    .option('--half-cycle <h>', 'cyclic: steps per half cycle (default round(T/8): four cycles)', intOption('--half-cycle', 1))
    .option('--timescale <tau>', 'inverse-sqrt: τ in steps, rate = lr·√(τ/(t − W + τ)) (default max(1, warm-up))', num('--timescale'));
}

/**
 * The schedule the options describe: only the parameters given (the schedule's own defaults fill
 * the rest), checked for everything that does not depend on the number of steps.
 */
export function scheduleFromOptions(name: string, warmupSteps: number, o: ScheduleCliOptions, nameField = '--schedule'): ScheduleConfig {
  const s: ScheduleConfig = { name: parseSchedule(name, nameField), warmupSteps };
  if (o.minLrRatio !== undefined) s.minFactor = o.minLrRatio;
  if (o.decayFraction !== undefined) s.decayFraction = o.decayFraction;
  if (o.decayShape !== undefined) s.decayShape = parseDecayShape(o.decayShape, '--decay-shape');
  if (o.decayPoints !== undefined) s.decayPoints = o.decayPoints;
  if (o.beta !== undefined) s.beta = o.beta;
  if (o.cooldownFraction !== undefined) s.cooldownFraction = o.cooldownFraction;
  if (o.constantRatio !== undefined) s.constantFactor = o.constantRatio;
  if (o.halfCycle !== undefined) s.halfCycle = o.halfCycle;
  if (o.timescale !== undefined) s.timescale = o.timescale;
  checkScheduleConfig(s, { ...SCHEDULE_FLAGS, name: nameField });
  return s;
}
