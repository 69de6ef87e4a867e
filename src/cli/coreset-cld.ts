/**
 * `riverbed coreset cld …`: CLD coreset selection from loss trajectories in `.npy` files.
 *
 * Everything is read and validated before anything is written; all outputs (selection JSON,
 * optional scores and indices `.npy`) are committed together through temp files + rename, so bad
 * input leaves no output at all. Progress goes to stderr only when stderr is a terminal.
 */
import { resolve, dirname } from 'node:path';
import { statSync } from 'node:fs';
import type { Command } from 'commander';
import type { Backend, BackendChoice } from '../backends/backend.js';
import { parseBackendChoice, selectBackend } from '../backends/select.js';
import { type Budget, type CldInputs, type CldSelection, checkCldInputs, cldCoresetChecked } from '../coreset/cld.js';
import { fail } from '../errors.js';
import { type PendingFile, writeFilesAtomic } from '../io/atomic.js';
import { encodeNpy } from '../io/npy.js';
import { loadLabels, loadTrajectory } from '../io/trajectory.js';

export interface CldCommandOptions {
  trainLoss?: string;
  trainLabels?: string;
  valLoss?: string;
  valLabels?: string;
  perClass?: string;
  fraction?: string;
  out?: string;
  scores?: string;
  indicesNpy?: string;
  backend: string;
  json?: boolean;
}

export function parseBudget(perClass: string | undefined, fraction: string | undefined): Budget {
  if (perClass !== undefined && fraction !== undefined) fail('E_ARG', 'give either --per-class K or --fraction F, not both', { field: '--per-class' });
  if (perClass !== undefined) {
    const k = /^\s*\d+\s*$/.test(perClass) ? Number(perClass) : NaN;
    if (!Number.isSafeInteger(k) || k < 1) fail('E_ARG', `K must be an integer ≥ 1, got "${perClass}"`, { field: '--per-class' });
    return { perClass: k };
  }
  if (fraction !== undefined) {
    const f = fraction.trim() === '' ? NaN : Number(fraction);
    if (!(f > 0 && f <= 1)) fail('E_ARG', `F must be a number with 0 < F ≤ 1, got "${fraction}"`, { field: '--fraction' });
    return { fraction: f };
  }
  return fail('E_ARG', 'a budget is required: --per-class K or --fraction F', { field: '--per-class' });
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') fail('E_ARG', `${flag} is required`, { field: flag });
  return value;
}

function checkOutputs(outputs: [string, string][], inputs: string[]): void {
  const seen = new Map<string, string>();
  const ins = new Set(inputs.map((p) => resolve(p)));
  for (const [flag, path] of outputs) {
    const abs = resolve(path);
    if (ins.has(abs)) fail('E_ARG', `output ${path} would overwrite an input file`, { field: flag });
    const other = seen.get(abs);
    if (other) fail('E_ARG', `${path} is given for both ${other} and ${flag}`, { field: flag });
    seen.set(abs, flag);
    let dirOk = false;
    try {
      dirOk = statSync(dirname(abs)).isDirectory();
    } catch {
      dirOk = false;
    }
    if (!dirOk) fail('E_FILE', `output directory ${dirname(abs)} does not exist`, { file: path, field: flag });
    try {
      if (statSync(abs).isDirectory()) fail('E_FILE', 'is a directory, expected a file path', { file: path, field: flag });
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOENT') throw err;
    }
  }
}

interface Progress {
  update(step: number, label: string): void;
  stop(): void;
}

async function makeProgress(total: number): Promise<Progress> {
  if (!process.stderr.isTTY) return { update: () => {}, stop: () => {} };
  const { default: cliProgress } = await import('cli-progress');
  const bar = new cliProgress.SingleBar(
    { format: 'coreset cld [{bar}] {value}/{total} {step}', stream: process.stderr, clearOnComplete: true, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { step: 'loading' });
  return { update: (step, label) => bar.update(step, { step: label }), stop: () => bar.stop() };
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
    let d = 1;
    while (d * 10 <= v) d *= 10;
    while (d >= 1) {
      const q = Math.floor(v / d);
      buf[p++] = 48 + q;
      v -= q * d;
      d = Math.floor(d / 10);
    }
  }
  return buf.subarray(0, p);
}

function selectionJson(sel: CldSelection, params: Record<string, unknown>, n: number): Buffer[] {
  const head = {
    format: 'riverbed.selection',
    version: 1,
    method: 'cld',
    parameters: params,
    backend: sel.backend,
    n,
    selected: sel.indices.length,
    numClasses: sel.numClasses,
    perClass: sel.perClassSelected,
    absentClasses: sel.absentClasses,
  };
  const text = JSON.stringify(head, null, 2);
  // indices on one line, written as bytes directly (100 k+ entries)
  return [Buffer.from(`${text.slice(0, -2)},\n  "indices": [`, 'utf8'), formatIntList(sel.indices), Buffer.from(']\n}\n', 'latin1')];
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

export async function runCoresetCld(o: CldCommandOptions): Promise<void> {
  const trainLossPath = required(o.trainLoss, '--train-loss');
  const trainLabelsPath = required(o.trainLabels, '--train-labels');
  const valLossPath = required(o.valLoss, '--val-loss');
  const valLabelsPath = required(o.valLabels, '--val-labels');
  const outPath = required(o.out, '--out');
  const budget = parseBudget(o.perClass, o.fraction);
  const choice: BackendChoice = parseBackendChoice(o.backend);
  const outputs: [string, string][] = [['--out', outPath]];
  if (o.scores) outputs.push(['--scores', o.scores]);
  if (o.indicesNpy) outputs.push(['--indices-npy', o.indicesNpy]);
  checkOutputs(outputs, [trainLossPath, trainLabelsPath, valLossPath, valLabelsPath]);

  const progress = await makeProgress(5);
  const timing = phaseTimer();
  let backend: Backend | undefined;
  try {
    const train = await loadTrajectory(trainLossPath, 'train loss');
    const trainLabels = await loadLabels(trainLabelsPath, 'train labels');
    const val = await loadTrajectory(valLossPath, 'val loss');
    const valLabels = await loadLabels(valLabelsPath, 'val labels');
    if (val.epochs !== train.epochs) {
      fail('E_SHAPE', `has ${val.epochs} epochs but the train loss ${trainLossPath} has ${train.epochs}`, { file: valLossPath, field: 'val loss' });
    }
    const inputs: CldInputs = {
      trainLoss: train.data,
      epochs: train.epochs,
      samples: train.samples,
      trainLabels,
      valLoss: val.data,
      valSamples: val.samples,
      valLabels,
      sources: { trainLoss: trainLossPath, trainLabels: trainLabelsPath, valLoss: valLossPath, valLabels: valLabelsPath },
    };
    // Every check before the backend opens: bad input never pays for (or hears from) a device.
    const checked = await checkCldInputs(inputs);
    timing?.('load+validate');
    progress.update(1, 'opening backend');
    const selected = await selectBackend(choice);
    backend = selected.backend;
    timing?.(`backend ${backend.name}`);
    progress.update(2, `scoring on ${backend.name}`);
    const sel = await cldCoresetChecked(inputs, checked, budget, backend, (done) => {
      if (done === 3) timing?.('score');
      progress.update(Math.min(4, 1 + done), done >= 3 ? 'selecting' : 'scoring');
    });
    timing?.('select');
    progress.update(4, 'writing');
    const params = {
      ...budget,
      trainLoss: trainLossPath,
      trainLabels: trainLabelsPath,
      valLoss: valLossPath,
      valLabels: valLabelsPath,
      epochs: train.epochs,
      valSamples: val.samples,
    };
    const files: PendingFile[] = [{ path: outPath, data: selectionJson(sel, params, train.samples) }];
    if (o.scores) files.push({ path: o.scores, data: encodeNpy(sel.scores, [sel.scores.length]) });
    if (o.indicesNpy) files.push({ path: o.indicesNpy, data: encodeNpy(sel.indices, [sel.indices.length], { dtype: 'i8' }) });
    writeFilesAtomic(files);
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
      n: train.samples,
      epochs: train.epochs,
      selected: sel.indices.length,
      numClasses: sel.numClasses,
      perClass: sel.perClassSelected,
      absentClasses: sel.absentClasses,
    };
    if (o.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else {
      process.stdout.write(
        `selected ${sel.indices.length} of ${train.samples} samples (${sel.numClasses} classes, ${train.epochs} epochs) on ${sel.backend} → ${outPath}\n`,
      );
    }
  } finally {
    progress.stop();
    backend?.dispose();
  }
}

export function registerCoresetCld(coreset: Command): void {
  coreset
    .command('cld')
    .description('CLD: rank samples by the correlation of their loss differences with their class\'s validation loss differences')
    .option('--train-loss <path>', 'train loss trajectory [epochs, samples] .npy (float32/float64), or a directory of one 1-D .npy per epoch')
    .option('--train-labels <path>', 'train labels, 1-D .npy of integers')
    .option('--val-loss <path>', 'validation loss trajectory [epochs, valSamples] .npy, or a directory of per-epoch .npy')
    .option('--val-labels <path>', 'validation labels, 1-D .npy of integers')
    .option('--per-class <K>', 'keep the top K samples of every class (at most the class size)')
    .option('--fraction <F>', 'keep round(F·N) samples, k_c = F·n_c by largest remainder (0 < F ≤ 1)')
    .option('--out <path>', 'selection JSON (format riverbed.selection, version 1)')
    .option('--scores <path>', 'also write float32 r for every sample (original order; NaN for classes without validation samples)')
    .option('--indices-npy <path>', 'also write the selected indices as int64 .npy (grouped by class, by rank)')
    .option('--backend <name>', 'auto | js | native | webgpu', 'auto')
    .option('--json', 'print a machine-readable summary on stdout')
    .action(async (opts: CldCommandOptions) => {
      await runCoresetCld(opts);
    });
}
