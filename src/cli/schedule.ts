/**
 * `riverbed schedule values NAME --steps T …` prints the learning rate of every step (0-based);
 * `riverbed schedule plot NAME --steps T … --out FILE.png|FILE.svg` draws it. The schedules and
 * their formulas: src/train/schedule.ts, docs/schedules.md.
 */
import type { Command } from 'commander';
import { fail } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { checkOutputPlan } from '../io/output-plan.js';
import { type CompiledSchedule, SCHEDULES, compileSchedule } from '../train/schedule.js';
import { intOption, numberOption } from './options.js';
import { SCHEDULE_FLAGS, type ScheduleCliOptions, addScheduleOptions, scheduleFromOptions } from './schedule-options.js';

interface ScheduleCmdOptions extends ScheduleCliOptions {
  steps?: number;
  lr: number;
  warmup: number;
  json?: boolean;
  out?: string;
}

/** All steps up to this many are listed; longer schedules get phase boundaries and ~20 samples. */
const FULL_TABLE_MAX = 40;

function common(cmd: Command): Command {
  return addScheduleOptions(
    cmd
      .argument('<NAME>', SCHEDULES.join(' | '))
      .option('--steps <T>', 'number of optimizer steps T ≥ 1 (steps are t = 0 … T−1) — required', intOption('--steps', 1))
      .option('--lr <x>', 'base (peak) learning rate; with 1 the values are multiples of it', numberOption('--lr', (n) => n > 0, 'a positive number'), 1)
      .option('--warmup <W>', 'linear warm-up steps: lr·(t+1)/W for t < W (not for cyclic)', intOption('--warmup', 0), 0),
  );
}

/** Parses and validates everything (no output yet). */
function compile(name: string, o: ScheduleCmdOptions): CompiledSchedule {
  if (o.steps === undefined) fail('E_ARG', 'required: the number of steps T (an integer ≥ 1)', { field: '--steps' });
  const s = scheduleFromOptions(name, o.warmup, o, 'NAME');
  return compileSchedule(o.lr, o.steps, s, { ...SCHEDULE_FLAGS, name: 'NAME' });
}

const FLAG_OF: Record<string, string> = Object.fromEntries(Object.entries(SCHEDULE_FLAGS).map(([k, v]) => [k, v!]));

/** The parameters in effect (defaults included), as flags: `--decay-fraction 0.1 --decay-shape linear`. */
function describe(c: CompiledSchedule): string {
  return Object.entries(c.config)
    .filter(([k, v]) => k !== 'name' && k !== 'fn' && v !== undefined)
    .map(([k, v]) => `${FLAG_OF[k] ?? k} ${Array.isArray(v) ? v.join(',') : String(v)}`)
    .join(' ');
}

const fmt = (x: number) => Number(x.toPrecision(6)).toString();

export function registerSchedule(program: Command): void {
  const group = program.command('schedule').description('learning-rate schedules: print or plot the rate of every step (docs/schedules.md)');

  common(group.command('values').description('print the learning rate of every step: {"lr": [T numbers]} with --json, else a summary table'))
    .option('--json', 'print {"lr": [rate of step 0, …, rate of step T−1]}')
    .action((name: string, o: ScheduleCmdOptions) => {
      const c = compile(name, o);
      const lr = Array.from({ length: c.total }, (_, t) => c.rate(t));
      if (o.json) {
        process.stdout.write(JSON.stringify({ lr }) + '\n');
        return;
      }
      process.stdout.write(table(name, c, lr));
    });

  common(group.command('plot').description('draw the schedule (learning rate against the step) as PNG or SVG'))
    .option('--out <FILE>', 'FILE.png or FILE.svg (the format follows the extension) — required')
    .action(async (name: string, o: ScheduleCmdOptions) => {
      const c = compile(name, o);
      const out = o.out;
      if (out === undefined) fail('E_ARG', 'required: the image to write, FILE.png or FILE.svg', { field: '--out' });
      const kind = /\.(png|svg)$/i.exec(out)?.[1]?.toLowerCase();
      if (kind === undefined) fail('E_ARG', `expected a file name ending in .png or .svg, got "${out}"`, { field: '--out' });
      checkOutputPlan({ inputs: [], files: [{ flag: '--out', path: out }] });
      const steps = Array.from({ length: c.total }, (_, t) => t);
      const lr = steps.map((t) => c.rate(t));
      // The plotting layer (Vega, resvg) loads only here: `schedule values` does not pay for it.
      const { renderSvg, svgToPng } = await import('../plot/index.js');
      const svg = await renderSvg({
        title: `${name} schedule, T = ${c.total}, lr ${fmt(c.base)}`,
        xLabel: 'step t (0-based)',
        yLabel: 'learning rate',
        series: [{ name, x: steps, y: lr }],
        width: 640,
        height: 320,
      });
      writeFileAtomic(out, kind === 'png' ? svgToPng(svg) : Buffer.from(svg, 'utf8'));
      process.stdout.write(`${name} schedule (${describe(c) || 'no parameters'}), ${c.total} steps → ${out}\n`);
    });
}

/** The readable summary: parameters, phases, a table of steps and the range of the rate. */
function table(name: string, c: CompiledSchedule, lr: number[]): string {
  const T = c.total;
  const lines = [`${name} schedule: T = ${T} steps (t = 0 … ${T - 1}), lr ${fmt(c.base)}${describe(c) ? `, ${describe(c)}` : ''}`];
  lines.push(`phases      ${c.phases.map((p) => `${p.name} ${p.start}–${p.end - 1}`).join(', ')}`);
  const rows = new Set<number>();
  if (T <= FULL_TABLE_MAX) for (let t = 0; t < T; t++) rows.add(t);
  else {
    for (let i = 0; i <= 20; i++) rows.add(Math.round((i * (T - 1)) / 20));
    for (const p of c.phases) rows.add(p.start).add(p.end - 1);
  }
  const width = String(T - 1).length;
  lines.push(`${'step'.padStart(Math.max(4, width))}  lr`);
  for (const t of [...rows].sort((a, b) => a - b)) lines.push(`${String(t).padStart(Math.max(4, width))}  ${fmt(lr[t]!)}`);
  let lo = 0;
  let hi = 0;
  let sum = 0;
  lr.forEach((v, t) => {
    if (v < lr[lo]!) lo = t;
    if (v > lr[hi]!) hi = t;
    sum += v;
  });
  lines.push(`min ${fmt(lr[lo]!)} at step ${lo}, max ${fmt(lr[hi]!)} at step ${hi}, mean ${fmt(sum / T)}`);
  return lines.join('\n') + '\n';
}
