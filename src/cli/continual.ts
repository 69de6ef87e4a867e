/**
 * `riverbed continual --tasks mnist,fashion-mnist | permuted-mnist:K --methods sgd,adagrad,classp,ewc
 * --seeds 3 --out DIR`: the accuracy matrix on the test splits after each task, average final
 * accuracy and forgetting per method (mean ± std over seeds), two plots and a JSON result with a
 * run manifest (src/train/continual.ts has the definitions).
 */
import type { Command } from 'commander';
import { parseBackendChoice, selectBackend } from '../backends/select.js';
import { fail } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { runManifest } from '../io/manifest.js';
import { checkOutputPlan, makeOutputDir } from '../io/output-plan.js';
import { type Series, writePlot } from '../plot/index.js';
import { CONTINUAL_DEFAULT_LR, CONTINUAL_METHODS, type ContinualMethod, type ContinualRun, loadTasks, methodOptimizer, parseMethods, parseTasks, runContinual } from '../train/continual.js';
import { EWC_DEFAULT_LAMBDA } from '../train/ewc.js';
import { disposeQuietly, intOption, numberOption } from './options.js';
import { join } from 'node:path';

interface ContinualCliOptions {
  tasks: string;
  methods: string;
  seeds: number;
  trainSize: number;
  epochs: number;
  batchSize: number;
  hidden: number;
  lr?: string;
  ewcLambda: number;
  classpThreshold?: number;
  classpPower?: number;
  out: string;
  force?: boolean;
  backend: string;
  json?: boolean;
}

export const CONTINUAL_FILES = ['continual.json', 'accuracy.svg', 'accuracy.png', 'first-task.svg', 'first-task.png'] as const;

export function registerContinual(program: Command): void {
  program
    .command('continual')
    .description('Continual learning: train one MLP on a sequence of tasks with each method; accuracy on every task’s test split after each task, average final accuracy and forgetting (docs/continual.md).')
    .requiredOption('--tasks <spec>', 'mnist,fashion-mnist (a list of mnist | fashion-mnist) or permuted-mnist:K')
    .option('--methods <list>', `comma-separated: ${CONTINUAL_METHODS.join(', ')}`, CONTINUAL_METHODS.join(','))
    .option('--seeds <n>', 'seeds 0..n−1 (initialisation and shuffling; the data are the same)', intOption('--seeds', 1), 3)
    .option('--train-size <n>', 'training samples per task', intOption('--train-size', 1), 10_000)
    .option('--epochs <n>', 'epochs per task', intOption('--epochs', 1), 1)
    .option('--batch-size <n>', 'mini-batch size', intOption('--batch-size', 1), 32)
    .option('--hidden <n>', 'hidden width of the D-n(relu)-10 MLP', intOption('--hidden', 1), 100)
    .option('--lr <method=x,…>', `learning rates (default ${Object.entries(CONTINUAL_DEFAULT_LR).map(([k, v]) => `${k}=${v}`).join(',')}; constant)`)
    .option('--ewc-lambda <λ>', 'EWC penalty weight', numberOption('--ewc-lambda', (n) => n >= 0, 'a number ≥ 0'), EWC_DEFAULT_LAMBDA)
    .option('--classp-threshold <t>', 'classp: a coordinate moves only where g² > t (default: the optimizer’s)', numberOption('--classp-threshold', (n) => n >= 0, 'a number ≥ 0'))
    .option('--classp-power <p>', 'classp: p (default 1)', numberOption('--classp-power', (n) => n > 0, 'a positive number'))
    .requiredOption('--out <DIR>', `write ${CONTINUAL_FILES.join(', ')} into DIR`)
    .option('--force', 'let --out overwrite an earlier result in DIR')
    .option('--backend <name>', 'auto | js | native | webgpu', 'auto')
    .option('--json', 'print the result as JSON on stdout')
    .action(async (o: ContinualCliOptions) => {
      const r = await continualCommand(o);
      if (o.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      else process.stdout.write(formatTable(r) + '\n');
    });
}

function parseLrs(spec: string | undefined, methods: readonly ContinualMethod[]): Partial<Record<ContinualMethod, number>> {
  if (spec === undefined) return {};
  const out: Partial<Record<ContinualMethod, number>> = {};
  for (const part of spec.split(',')) {
    const [k, v, extra] = part.split('=');
    const n = Number(v);
    if (extra !== undefined || !(CONTINUAL_METHODS as readonly string[]).includes(k ?? '') || !(n > 0 && Number.isFinite(n)) || v!.trim() === '') {
      fail('E_ARG', `expected method=rate with a positive rate (e.g. classp=0.05), got "${part}"`, { field: '--lr' });
    }
    if (!methods.includes(k as ContinualMethod)) fail('E_ARG', `a rate for ${k}, which is not among --methods`, { field: '--lr' });
    out[k as ContinualMethod] = n;
  }
  return out;
}

interface Stat {
  mean: number;
  std: number;
}
const stat = (v: readonly number[]): Stat => {
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)) : 0;
  return { mean, std };
};

export interface ContinualResult {
  format: 'riverbed.continual';
  version: 1;
  tasks: string[];
  backend: string;
  samples: { trainPerTask: number; test: number[] };
  model: string;
  epochs: number;
  batchSize: number;
  methods: ContinualMethod[];
  seeds: number[];
  runs: ContinualRun[];
  /** Per method, mean ± sample std over seeds; accuracy = the mean matrix. */
  summary: Record<string, { averageFinal: Stat; forgetting: Stat; accuracy: number[][]; movedFraction?: number[]; seconds: number }>;
  files: string[];
  manifest: ReturnType<typeof runManifest>;
}

async function continualCommand(o: ContinualCliOptions): Promise<ContinualResult> {
  const spec = parseTasks(o.tasks);
  const methods = parseMethods(o.methods);
  const lr = parseLrs(o.lr, methods);
  const backendChoice = parseBackendChoice(o.backend);
  if (o.classpThreshold !== undefined || o.classpPower !== undefined) {
    if (!methods.includes('classp')) fail('E_ARG', 'classp options without classp among --methods', { field: o.classpThreshold !== undefined ? '--classp-threshold' : '--classp-power' });
  }
  const classp = { ...(o.classpThreshold !== undefined ? { threshold: o.classpThreshold } : {}), ...(o.classpPower !== undefined ? { power: o.classpPower } : {}) };
  const opts = { hidden: [o.hidden], epochs: o.epochs, batchSize: o.batchSize, lr, ewcLambda: o.ewcLambda, classp };
  for (const m of methods) methodOptimizer(m, opts); // every configuration checked before any work
  checkOutputPlan({ inputs: [], dirs: [{ flag: '--out', path: o.out, files: CONTINUAL_FILES, guard: { what: 'a continual-learning result', force: o.force === true } }] });
  const tasks = await loadTasks(spec, o.trainSize);
  const seeds = Array.from({ length: o.seeds }, (_, i) => i);
  const { backend } = await selectBackend(backendChoice);
  const backendUsed = backend.name;
  const runs: ContinualRun[] = [];
  try {
    for (const m of methods) {
      for (const seed of seeds) {
        const r = await runContinual(backend, tasks, m, seed, opts);
        runs.push(r);
        if (!o.json) process.stderr.write(`${m} seed ${seed}: average final accuracy ${(100 * r.averageFinal).toFixed(2)} %, forgetting ${(100 * r.forgetting).toFixed(2)} points (${r.seconds.toFixed(1)} s)\n`);
      }
    }
  } finally {
    disposeQuietly(backend);
  }
  const T = tasks.length;
  const summary: ContinualResult['summary'] = {};
  for (const m of methods) {
    const rs = runs.filter((r) => r.method === m);
    summary[m] = {
      averageFinal: stat(rs.map((r) => r.averageFinal)),
      forgetting: stat(rs.map((r) => r.forgetting)),
      accuracy: Array.from({ length: T }, (_, i) => Array.from({ length: T }, (_, j) => stat(rs.map((r) => r.accuracy[i]![j]!)).mean)),
      ...(rs[0]!.movedFraction ? { movedFraction: Array.from({ length: T }, (_, i) => stat(rs.map((r) => r.movedFraction![i]!)).mean) } : {}),
      seconds: rs.reduce((a, r) => a + r.seconds, 0),
    };
  }
  const result: ContinualResult = {
    format: 'riverbed.continual',
    version: 1,
    tasks: tasks.map((t) => t.name),
    backend: backendUsed,
    samples: { trainPerTask: o.trainSize, test: tasks.map((t) => t.test.count) },
    model: `784-${o.hidden}(relu)-10`,
    epochs: o.epochs,
    batchSize: o.batchSize,
    methods,
    seeds,
    runs,
    summary,
    files: [...CONTINUAL_FILES],
    manifest: runManifest({ parameters: { tasks: o.tasks, methods, trainSize: o.trainSize, epochs: o.epochs, batchSize: o.batchSize, hidden: o.hidden, lr: Object.fromEntries(methods.map((m) => [m, methodOptimizer(m, opts).lr])), ewcLambda: o.ewcLambda, classp }, backend: backendUsed, seeds }),
  };
  const made = makeOutputDir(o.out, '--out');
  try {
    const x = Array.from({ length: T }, (_, i) => i + 1);
    const seen = (acc: number[][], i: number) => acc[i]!.slice(0, i + 1).reduce((a, b) => a + b, 0) / (i + 1);
    const series = (f: (r: ContinualRun, i: number) => number): Series[] =>
      methods.map((m) => {
        const rs = runs.filter((r) => r.method === m);
        const s = x.map((_, i) => stat(rs.map((r) => f(r, i))));
        return { name: m, x, y: s.map((v) => v.mean), yErr: s.map((v) => v.std) };
      });
    await writePlot({ title: `Average test accuracy on the tasks seen so far (${o.tasks}, ${seeds.length} seeds, ± std)`, xLabel: 'tasks trained', yLabel: 'accuracy', series: series((r, i) => seen(r.accuracy, i)) }, join(o.out, 'accuracy'));
    await writePlot({ title: `Test accuracy on task 1 (${tasks[0]!.name}) after each task`, xLabel: 'tasks trained', yLabel: 'accuracy', series: series((r, i) => r.accuracy[i]![0]!) }, join(o.out, 'first-task'));
    writeFileAtomic(join(o.out, 'continual.json'), JSON.stringify(result, null, 2) + '\n');
  } catch (e) {
    made.undo();
    throw e;
  }
  return result;
}

/** The README-style table: one row per method. */
export function formatTable(r: ContinualResult): string {
  const pct = (s: Stat) => `${(100 * s.mean).toFixed(1)} ± ${(100 * s.std).toFixed(1)}`;
  const T = r.tasks.length;
  const lines = [
    `tasks ${r.tasks.join(' → ')}; ${r.model} on ${r.backend}, ${r.samples.trainPerTask} training samples and ${r.epochs} epoch(s) per task, batch ${r.batchSize}, seeds ${r.seeds.join(', ')}; accuracy on the test splits`,
    '',
    '| method | average final accuracy (%) | forgetting (points) | final accuracy on the last task (%) | first task after the last (%) | seconds |',
    '|---|---|---|---|---|---|',
  ];
  for (const m of r.methods) {
    const s = r.summary[m]!;
    const runs = r.runs.filter((x) => x.method === m);
    const lastTask = stat(runs.map((x) => x.accuracy[T - 1]![T - 1]!));
    const first = stat(runs.map((x) => x.accuracy[T - 1]![0]!));
    lines.push(`| ${m}${s.movedFraction ? ` (moved ${(100 * s.movedFraction.reduce((a, b) => a + b, 0) / T).toFixed(0)} %/step)` : ''} | ${pct(s.averageFinal)} | ${pct(s.forgetting)} | ${pct(lastTask)} | ${pct(first)} | ${s.seconds.toFixed(0)} |`);
  }
  lines.push('', `written: ${r.files.join(', ')}`);
  return lines.join('\n');
}
