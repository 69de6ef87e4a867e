/**
 * `riverbed bench [cld|matmul|hvp|train|all]`: times the kernels on this machine and backend
 * (src/bench/), prints each against the limits it measures here, and writes the report as JSON
 * (`--json` on stdout, `--out FILE`). docs/bench.md says what each benchmark runs.
 */
import type { Command } from 'commander';
import type { BackendChoice } from '../backends/backend.js';
import { parseBackendChoice } from '../backends/select.js';
import { fail } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { checkOutputPlan } from '../io/output-plan.js';
import { intOption, numberOption } from './options.js';

interface BenchCmdOptions {
  backend: string;
  json?: boolean;
  out?: string;
  size: string;
  time: number;
  minSamples: number;
}

const CHOICES = ['cld', 'matmul', 'hvp', 'train', 'all'] as const;

export async function runBenchCommand(which: string, o: BenchCmdOptions): Promise<void> {
  if (!(CHOICES as readonly string[]).includes(which)) fail('E_ARG', `unknown benchmark "${which}"; expected ${CHOICES.join(', ')}`, { field: 'benchmark' });
  const choice: BackendChoice = parseBackendChoice(o.backend);
  const { BENCH_NAMES, BENCH_SIZES, formatLimits, formatResult, runBench } = await import('../bench/index.js');
  if (!(BENCH_SIZES as readonly string[]).includes(o.size)) fail('E_ARG', `expected ${BENCH_SIZES.join(' or ')}, got "${o.size}"`, { field: '--size' });
  if (o.out !== undefined) checkOutputPlan({ inputs: [], files: [{ flag: '--out', path: o.out }] });
  const text = !o.json;
  const report = await runBench({
    which: which === 'all' ? BENCH_NAMES : [which as (typeof BENCH_NAMES)[number]],
    backend: choice,
    size: o.size as (typeof BENCH_SIZES)[number],
    timing: { maxTime: o.time, minSamples: o.minSamples },
    onLimits: text ? (l, m) => process.stdout.write(`${formatLimits(l, m)}\n`) : undefined,
    onResult: text ? (r) => process.stdout.write(`${formatResult(r)}\n`) : undefined,
  });
  const json = `${JSON.stringify(report, null, 2)}\n`;
  if (o.out !== undefined) {
    writeFileAtomic(o.out, json);
    if (text) process.stdout.write(`report → ${o.out}\n`);
  }
  if (o.json) process.stdout.write(json);
}

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('time the kernels on this machine and backend against limits measured here (streaming read, GEMM peak); JSON to compare machines')
    .argument('[benchmark]', CHOICES.join(' | '), 'all')
    .option('--backend <name>', 'auto | js | native | webgpu', 'auto')
    .option('--size <size>', 'tiny (seconds, for a first look or a test) | default (sizes that reach the limits)', 'default')
    .option('--time <seconds>', 'most seconds spent sampling each measurement', numberOption('--time', (n) => n > 0 && n <= 600, 'a number of seconds in (0, 600]'), 2)
    .option('--min-samples <n>', 'fewest samples per measurement', intOption('--min-samples', 1), 5)
    .option('--json', 'print the report as JSON on stdout (instead of one line per result)')
    .option('--out <file>', 'also write the report (JSON, format riverbed.bench v1) to FILE')
    .action(async (which: string, opts: BenchCmdOptions) => {
      await runBenchCommand(which, opts);
    });
}
