/**
 * `riverbed coreset cld …`: CLD coreset selection from loss trajectories in `.npy` files.
 *
 * The trajectory is streamed in column tiles under `--max-memory` when it does not fit (see
 * src/coreset/stream.ts); `--shard i/n` scores one contiguous slice and writes a part for
 * `riverbed coreset merge` (src/coreset/shard.ts). Everything that can be checked before reading
 * the trajectory is checked before a backend opens; all outputs (selection JSON, optional scores
 * and indices `.npy`, or a shard part) are committed together through temp files + rename, so bad
 * input — including a trajectory that changes while it is read — leaves no output at all.
 * Progress goes to stderr only when stderr is a terminal.
 */
import { type Command, Option } from 'commander';
import type { Backend, BackendChoice } from '../backends/backend.js';
import { parseBackendChoice, selectBackend } from '../backends/select.js';
import type { Budget } from '../coreset/cld.js';
import type { BudgetOptions } from '../coreset/select.js';
// coreset/shard.js is imported only with --shard: most runs never need it (start-up time is part
// of the CLI benchmark).
import { type MemoryPlan, type StreamProgress, defaultMaxMemory, parseSize, planCldScoring, prepareCldFiles, selectFromScores } from '../coreset/stream.js';
import { fail } from '../errors.js';
import { writeFilesAtomic } from '../io/atomic.js';
import { runManifest } from '../io/manifest.js';
import { checkOutputPlan } from '../io/output-plan.js';
import { type BudgetCliOptions, addBudgetOptions, parseBudgetOptions, requireSelection } from './budget-options.js';
import { parseInteger, progressEveryFromEnv } from './numbers.js';
import { progressLines } from './progress-lines.js';
import { writeSelection } from './coreset-output.js';

export interface CldCommandOptions extends BudgetCliOptions {
  trainLoss?: string;
  trainLabels?: string;
  valLoss?: string;
  valLabels?: string;
  out?: string;
  scores?: string;
  indicesNpy?: string;
  backend: string;
  maxMemory?: string;
  tileSamples?: string;
  shard?: string;
  json?: boolean;
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') fail('E_ARG', `${flag} is required`, { field: flag });
  return value;
}

interface Progress {
  update(step: number, label: string): void;
  /** Streaming: samples done, with throughput. */
  stream(p: StreamProgress): void;
  stop(): void;
}

function streamRate(p: StreamProgress): string {
  const s = Math.max(p.elapsedMs, 1) / 1000;
  return `${(p.samplesDone / s / 1e6).toFixed(2)} M samples/s, ${(p.bytesRead / s / 1e9).toFixed(2)} GB/s`;
}

async function makeProgress(total: number): Promise<Progress> {
  if (!process.stderr.isTTY) {
    // a log (Slurm, CI): a line now and then while streaming, the only phase that takes long
    const lines = progressLines('coreset cld', process.stderr, progressEveryFromEnv());
    let started = false;
    return {
      update: () => {},
      stream: (p) => {
        if (!started) {
          started = true;
          lines.start(p.samples);
        }
        lines.update(p.samplesDone, { info: `samples, ${streamRate(p)}` });
      },
      stop: () => lines.stop(),
    };
  }
  const { default: cliProgress } = await import('cli-progress');
  const bar = new cliProgress.SingleBar(
    { format: 'coreset cld [{bar}] {value}/{total} {step}', stream: process.stderr, clearOnComplete: true, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  let streaming = false;
  bar.start(total, 0, { step: 'loading' });
  return {
    update: (step, label) => {
      if (!streaming) bar.update(step, { step: label });
    },
    stream: (p) => {
      if (!streaming) {
        streaming = true;
        bar.setTotal(p.samples);
      }
      bar.update(p.samplesDone, { step: `samples (${streamRate(p)})` });
    },
    stop: () => bar.stop(),
  };
}

/** "a,b,c" of an Int32Array as latin1 bytes, without building 100 k+ JS strings. */
export function formatIntList(a: Int32Array): Buffer {
  const buf = Buffer.allocUnsafe(a.length * 12 + 1);
  let p = 0;
  for (let i = 0; i < a.length; i++) {
    if (i > 0) buf[p++] = 44; // ,
    let v = a[i]!;
    if (v < 0) {
      buf[p++] = 45; // -
      v = -v;
    }
    // Digits from the right (one integer division each), then the run reversed in place.
    const start = p;
    do {
      const q = (v / 10) >>> 0; // v ≤ 2^31: exact
      buf[p++] = 48 + v - q * 10;
      v = q;
    } while (v > 0);
    for (let l = start, r = p - 1; l < r; l++, r--) {
      const t = buf[l]!;
      buf[l] = buf[r]!;
      buf[r] = t;
    }
  }
  return buf.subarray(0, p);
}

/** RIVERBED_PROFILE=1: one line of phase timings on stderr (for the benchmark's breakdown). */
function phaseTimer(): ((phase: string) => void) | undefined {
  if (!process.env.RIVERBED_PROFILE) return undefined;
  let last = performance.now();
  const parts: string[] = [`start ${last.toFixed(1)}`];
  process.once('exit', () => process.stderr.write(`riverbed: profile (ms): ${parts.join(', ')}\n`));
  return (phase) => {
    const now = performance.now();
    parts.push(`${phase} ${(now - last).toFixed(1)}`);
    last = now;
  };
}

function memoryOf(plan: MemoryPlan): Record<string, unknown> {
  return { mode: plan.mode, maxMemory: plan.maxMemory, tiles: plan.tiles, tileSamples: plan.tileSamples, bufferBytes: plan.bufferBytes };
}

export async function runCoresetCld(o: CldCommandOptions): Promise<void> {
  const files = {
    trainLoss: required(o.trainLoss, '--train-loss'),
    trainLabels: required(o.trainLabels, '--train-labels'),
    valLoss: required(o.valLoss, '--val-loss'),
    valLabels: required(o.valLabels, '--val-labels'),
  };
  const outPath = required(o.out, '--out');
  const shardMod = o.shard !== undefined ? await import('../coreset/shard.js') : undefined;
  const shard = o.shard !== undefined ? shardMod!.parseShard(o.shard) : undefined;
  if (shard && (o.scores !== undefined || o.indicesNpy !== undefined)) {
    fail('E_ARG', '--scores and --indices-npy are written by `coreset merge`, not by a shard', { field: o.scores !== undefined ? '--scores' : '--indices-npy' });
  }
  checkOutputPlan({
    inputs: [
      { flag: '--train-loss', path: files.trainLoss },
      { flag: '--train-labels', path: files.trainLabels },
      { flag: '--val-loss', path: files.valLoss },
      { flag: '--val-labels', path: files.valLabels },
      { flag: '--exclude', path: o.exclude },
    ],
    files: [
      { flag: '--out', path: outPath },
      { flag: '--scores', path: o.scores },
      { flag: '--indices-npy', path: o.indicesNpy },
    ],
  });
  // a shard may keep every score (no budget): the merge then takes any budget
  const hasBudget = o.perClass !== undefined || o.fraction !== undefined;
  const parsed = hasBudget || !shard ? await parseBudgetOptions(o) : { ...(await parseBudgetOptions({ ...o, perClass: '1' })), budget: undefined };
  const budget: Budget | undefined = parsed.budget;
  const budgetOptions: BudgetOptions = parsed.options;
  const choice: BackendChoice = parseBackendChoice(o.backend);
  const maxMemory = o.maxMemory !== undefined ? parseSize(o.maxMemory) : defaultMaxMemory();
  const tileSamples = o.tileSamples !== undefined ? parseInteger(o.tileSamples, '--tile-samples', 1) : undefined;
  const inputPaths = [files.trainLoss, files.trainLabels, files.valLoss, files.valLabels];

  const progress = await makeProgress(5);
  const timing = phaseTimer();
  let backend: Backend | undefined;
  const params: Record<string, unknown> = {
    ...(budget ?? {}),
    budget: budgetOptions.mode ?? 'proportional',
    ...(budgetOptions.minPerClass !== undefined ? { minPerClass: budgetOptions.minPerClass } : {}),
    ...(parsed.excludeFile ? { exclude: parsed.excludeFile, excluded: budgetOptions.exclude?.length ?? 0 } : {}),
    ...files,
    ...(shard ? { shard: `${shard.index}/${shard.count}` } : {}),
  };
  try {
    if (shard) {
      // parts carry their own input identity; only the budget options are validated up front
      const selected = await selectBackend(choice);
      backend = selected.backend;
      progress.update(2, `scoring shard ${shard.index}/${shard.count} on ${backend.name}`);
      const part = await shardMod!.cldShard(files, shard, {
        backend,
        maxMemory,
        tileSamples,
        budget,
        budgetOptions,
        parameters: params,
        onProgress: (p) => progress.stream(p),
      });
      writeFilesAtomic([{ path: outPath, data: [Buffer.from(shardMod!.encodeShardPart(part), 'utf8')] }]);
      progress.stop();
      const summary = { out: outPath, shard: part.shard, backend: part.backend, candidates: part.indices.length, keep: part.keep, inputId: part.inputId };
      if (o.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
      else {
        process.stdout.write(
          `shard ${shard.index}/${shard.count}: samples [${part.shard.start}, ${part.shard.end}) scored on ${part.backend}, ${part.indices.length} candidates → ${outPath}\n`,
        );
      }
      return;
    }
    const prep = await prepareCldFiles(files);
    try {
      // Every check before the backend opens (whole-file mode checks NaN/Inf here too).
      const job = await planCldScoring(prep, { maxMemory, tileSamples, onProgress: (p) => progress.stream(p) });
      timing?.('load+validate');
      progress.update(1, 'opening backend');
      const selected = await selectBackend(choice);
      backend = selected.backend;
      timing?.(`backend ${backend.name}`);
      progress.update(2, `scoring on ${backend.name}`);
      const res = await job.run(backend);
      timing?.('score');
      const sel = selectFromScores(prep, res.scores, budget!, backend.name, budgetOptions);
      requireSelection(sel.indices.length, prep.train.samples, { budget: budget!, options: budgetOptions, allowEmpty: parsed.allowEmpty });
      timing?.('select');
      progress.update(4, 'writing');
      const N = prep.train.samples;
      const E = prep.train.epochs;
      const parameters = { ...params, epochs: E, valSamples: prep.meta.valSamples };
      const manifest = runManifest({ parameters, inputs: parsed.excludeFile ? [...inputPaths, parsed.excludeFile] : inputPaths, backend: sel.backend });
      timing?.('manifest');
      writeSelection(
        outPath,
        { method: 'cld', parameters, backend: sel.backend, n: N, numClasses: sel.numClasses, perClass: sel.perClassSelected, absentClasses: sel.absentClasses, manifest },
        sel.indices,
        o.scores ? { path: o.scores, data: sel.scores } : undefined,
        o.indicesNpy,
      );
      timing?.('write');
      progress.update(5, 'done');
      progress.stop();

      if (sel.absentClasses.length > 0) {
        const list = sel.absentClasses.length > 20 ? `${sel.absentClasses.slice(0, 20).join(', ')}, …` : sel.absentClasses.join(', ');
        process.stderr.write(
          `riverbed: warning: ${sel.absentClasses.length} class(es) have training samples but no validation samples and select nothing: ${list}\n`,
        );
      }
      const summary = {
        out: outPath,
        scores: o.scores ?? null,
        indicesNpy: o.indicesNpy ?? null,
        backend: sel.backend,
        backendReason: selected.reason,
        n: N,
        epochs: E,
        selected: sel.indices.length,
        numClasses: sel.numClasses,
        perClass: sel.perClassSelected,
        absentClasses: sel.absentClasses,
        memory: memoryOf(res.plan),
        scoreMs: res.ms,
      };
      if (o.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
      else {
        process.stdout.write(`selected ${sel.indices.length} of ${N} samples (${sel.numClasses} classes, ${E} epochs) on ${sel.backend} → ${outPath}\n`);
      }
    } finally {
      prep.close();
    }
  } finally {
    progress.stop();
    backend?.dispose();
  }
}

export function registerCoresetCld(coreset: Command): void {
  const cmd = coreset
    .command('cld')
    .description('CLD: rank samples by the correlation of their loss differences with their class\'s validation loss differences')
    .option('--train-loss <path>', 'train loss trajectory [epochs, samples] .npy (float32/float64), or a directory of one 1-D .npy per epoch')
    .option('--train-labels <path>', 'train labels, 1-D .npy of integers')
    .option('--val-loss <path>', 'validation loss trajectory [epochs, valSamples] .npy, or a directory of per-epoch .npy')
    .option('--val-labels <path>', 'validation labels, 1-D .npy of integers');
  addBudgetOptions(cmd)
    .option('--out <path>', 'selection JSON (format riverbed.selection, version 1, with a run manifest); with --shard, the part JSON (riverbed.cld-shard)')
    .option('--scores <path>', 'also write float32 r for every sample (original order; NaN for classes without validation samples)')
    .option('--indices-npy <path>', 'also write the selected indices as int64 .npy (grouped by class, by rank)')
    .option('--max-memory <size>', 'peak memory budget, e.g. 1GB, 512MiB, 2G (default: half the available memory); larger trajectories are streamed in column tiles')
    .addOption(new Option('--tile-samples <n>', 'force column tiles of n samples (a multiple of 16; testing and tuning)').hideHelp())
    .option('--shard <i/n>', 'score only shard i of n (contiguous samples) and write a part for `riverbed coreset merge`; the budget is optional (without one the part keeps every score)')
    .option('--backend <name>', 'auto | js | native | webgpu', 'auto')
    .option('--json', 'print a machine-readable summary on stdout')
    .action(async (opts: CldCommandOptions) => {
      await runCoresetCld(opts);
    });
}
