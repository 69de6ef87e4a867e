/**
 * What the `landscape` commands share: the data options (--inputs/--labels, or --dataset mnist
 * with --samples), the model description (--model, or the `riverbed.model` metadata that
 * riverbed writes into its safetensors), the evaluation options, the progress bar, and writing a
 * result (JSON + .npy + plot, all together or nothing).
 */
import type { Command } from 'commander';
import type { Backend } from '../backends/backend.js';
import { parseBackendChoice, selectBackend } from '../backends/select.js';
import { loadNpyDataset } from '../data/dataset.js';
import { fail } from '../errors.js';
import { type PendingFile, writeFilesAtomic } from '../io/atomic.js';
import { encodeNpy } from '../io/npy.js';
import type { PlanFile, PlanInput } from '../io/output-plan.js';
import { readSafetensors } from '../io/safetensors.js';
import { type ModelDescription, inputMismatch, loadModelDescription, outputSize, parseModelDescription } from '../model/description.js';
import { Mlp } from '../model/mlp.js';
import { type DeviceBatches, uploadData } from '../landscape/evaluate.js';
import type { LandscapeResult } from '../landscape/result.js';
import { intOption, progressBar } from './options.js';

export interface DataCliOptions {
  inputs?: string;
  labels?: string;
  dataset?: string;
  samples?: number;
  batchSize: number;
  perDispatch?: number;
  memory: number;
  backend: string;
  json?: boolean;
}

export function addDataOptions(cmd: Command): Command {
  return cmd
    .option('--inputs <X.npy>', 'inputs [N, D] or images [N, C, H, W], float32/float64')
    .option('--labels <Y.npy>', 'integer labels [N]')
    .option('--dataset <name>', 'instead of --inputs/--labels: mnist (the first --samples digits of the t10k test split)')
    .option('--samples <n>', 'use the first n samples (default: all; mnist: 2000)', intOption('--samples'))
    .option('--batch-size <B>', 'samples per forward pass', intOption('--batch-size'), 4096)
    .option('--per-dispatch <P>', 'grid points per dispatch (default: as many as --memory allows, at most 64)', intOption('--per-dispatch'))
    .option('--memory <MiB>', 'device memory for activations and per-point weights', intOption('--memory'), 512)
    .option('--backend <name>', 'auto | js | native | webgpu', 'auto')
    .option('--json', 'print the result as JSON on stdout');
}

export function dataInputs(o: DataCliOptions): PlanInput[] {
  return [
    { flag: '--inputs', path: o.inputs },
    { flag: '--labels', path: o.labels },
  ];
}

export interface LandscapeData {
  name: string;
  inputs: Float32Array;
  labels: Int32Array;
  count: number;
  features: number;
  shape?: number[];
}

export async function loadData(o: DataCliOptions): Promise<LandscapeData> {
  if (o.dataset !== undefined) {
    if (o.inputs !== undefined || o.labels !== undefined) fail('E_ARG', 'give either --dataset or --inputs/--labels, not both', { field: '--dataset' });
    if (o.dataset !== 'mnist') fail('E_ARG', `unknown dataset "${o.dataset}"; expected mnist`, { field: '--dataset' });
    const { loadMnistPart } = await import('../data/mnist.js');
    const t = await loadMnistPart('t10k');
    const n = Math.min(o.samples ?? 2000, t.count);
    return { name: `mnist/t10k[:${n}]`, inputs: t.inputs.subarray(0, n * t.features), labels: t.labels.subarray(0, n), count: n, features: t.features, shape: t.shape };
  }
  if (o.inputs === undefined || o.labels === undefined) fail('E_ARG', 'give --inputs X.npy and --labels Y.npy, or --dataset mnist', { field: o.inputs === undefined ? '--inputs' : '--labels' });
  const d = await loadNpyDataset(o.inputs, o.labels);
  const n = Math.min(o.samples ?? d.count, d.count);
  return { name: o.inputs, inputs: d.inputs.subarray(0, n * d.features), labels: d.labels.subarray(0, n), count: n, features: d.features, shape: d.shape };
}

/** --model, or the description riverbed stored in the weights file's metadata. */
export async function loadDescription(model: string | undefined, weights: string): Promise<ModelDescription> {
  if (model !== undefined) return loadModelDescription(model);
  const meta = (await readSafetensors(weights)).metadata['riverbed.model'];
  if (meta === undefined) fail('E_ARG', `${weights} carries no model description (riverbed.model metadata): give --model M.json`, { field: '--model' });
  let parsed: unknown;
  try {
    parsed = JSON.parse(meta);
  } catch {
    fail('E_FORMAT', 'the riverbed.model metadata is not JSON', { file: weights, field: 'riverbed.model' });
  }
  return parseModelDescription(parsed, `${weights} (riverbed.model metadata)`);
}

/** Data that fit the model (features, image shape, labels < classes). */
export function checkData(d: ModelDescription, data: LandscapeData, file: string): void {
  const why = inputMismatch(d, data.features, data.shape);
  if (why) fail('E_SHAPE', why, { file, field: 'shape' });
  const C = outputSize(d);
  const bad = data.labels.findIndex((y) => y < 0 || y >= C);
  if (bad >= 0) fail('E_LABEL', `labels[${bad}] is ${data.labels[bad]}; the model has ${C} classes`, { file });
}

export interface Opened {
  backend: Backend;
  reason: string;
  model: Mlp;
  data: DeviceBatches;
}

export async function openModel(d: ModelDescription, weights: string, data: LandscapeData, o: DataCliOptions): Promise<Opened> {
  const { backend, reason } = await selectBackend(parseBackendChoice(o.backend));
  try {
    const model = await Mlp.load(backend, d, weights);
    return { backend, reason, model, data: uploadData(backend, data.inputs, data.labels, data.count, data.features, o.batchSize) };
  } catch (e) {
    backend.dispose();
    throw e;
  }
}

/** A progress bar over points (plain lines off a terminal, none with --json). */
export function pointsBar(label: string, o: { json?: boolean }): { start(total: number): void; update(v: number): void; stop(): void } {
  const bar = progressBar(label, o.json);
  return { start: (t) => bar.start(t), update: (v) => bar.update(v), stop: () => bar.stop() };
}

/** `out.json` → `out` (the stem the .npy files take). */
export function stem(path: string): string {
  return path.replace(/\.json$/i, '');
}

/** The files a result with --out/--plot writes, for the output plan. */
export function resultFiles(out: string | undefined, plot: string | undefined, extra: PlanFile[] = []): PlanFile[] {
  const files: PlanFile[] = [{ flag: '--out', path: out }];
  if (out !== undefined && out !== '') files.push({ flag: '--out', path: `${stem(out)}.loss.npy` }, { flag: '--out', path: `${stem(out)}.accuracy.npy` });
  if (plot !== undefined) {
    files.push({ flag: '--plot', path: plot === '' ? plot : `${plot}.png` }, { flag: '--plot', path: plot === '' ? plot : `${plot}.svg` });
  }
  return [...files, ...extra];
}

/** Writes the result JSON, its .npy arrays and the pictures together (all or nothing). */
export function writeResult(result: LandscapeResult, out: string | undefined, pictures: PendingFile[] = [], extra: PendingFile[] = []): void {
  const pending: PendingFile[] = [...pictures, ...extra];
  if (out !== undefined) {
    const ny = result.loss.length;
    const nx = result.loss[0]!.length;
    const flat = (a: number[][]) => Float64Array.from(a.flat());
    result.files = { ...(result.files as object), loss: `${stem(out)}.loss.npy`, accuracy: `${stem(out)}.accuracy.npy` };
    pending.push(
      { path: `${stem(out)}.loss.npy`, data: encodeNpy(flat(result.loss), [ny, nx]) },
      { path: `${stem(out)}.accuracy.npy`, data: encodeNpy(flat(result.accuracy), [ny, nx]) },
    );
    pending.unshift({ path: out, data: Buffer.from(JSON.stringify(result, null, 1) + '\n', 'utf8') });
  }
  writeFilesAtomic(pending);
}
