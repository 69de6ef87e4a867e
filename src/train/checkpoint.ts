/**
 * Checkpoints of a training run and exact resume (`riverbed train --run DIR --checkpoint-every N`,
 * `--resume DIR`). A run directory holds
 *
 *   checkpoints/step-00000300/weights.safetensors    the model (PyTorch names; `hessian --weights`, `--init` read it)
 *                             optimizer.safetensors  the optimizer's state tensors (`0.weight.exp_avg`, …)
 *                             order.npy              int32: this epoch's order of the training rows
 *                             state.json             everything else (written last: a checkpoint without it is incomplete)
 *                             saf.safetensors        with --saf: SAF's recorded outputs and the epoch that wrote each
 *   record/row-0003.safetensors                      with --record: the recorder's rows, one per recorded checkpoint
 *
 * state.json (format "riverbed.checkpoint", version 1): the step, epoch and position in it, the
 * shuffle stream's state, the epoch's partial loss sum, the finished epochs' losses, classp's moved
 * fractions, how many recorder rows belong to it, SAF's KL sums, and the run it belongs to (model,
 * optimizer, schedule, SAF settings, epochs, batch size, seed, data identity). A resume compares that run with the command's
 * and refuses any difference before doing anything.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../errors.js';
import { writeFileAtomic, writeFilesAtomic } from '../io/atomic.js';
import { readBoundedText } from '../io/files.js';
import { encodeNpy, readNpy } from '../io/npy.js';
import { makeOutputDir } from '../io/output-plan.js';
import { encodeSafetensors, readSafetensors } from '../io/safetensors.js';
import type { ModelDescription } from '../model/description.js';
import type { Mlp } from '../model/mlp.js';
import type { SampleMetrics } from './evaluate.js';
import type { OptimizerConfig } from './optimizer.js';
import type { Checkpoint, TrajectoryRecorder } from './recorder.js';
import type { ScheduleConfig } from './schedule.js';
import type { SafConfig, SafSnapshot } from './saf.js';
import type { TrainResume, TrainSnapshot } from './trainer.js';

export const CHECKPOINT_FORMAT = 'riverbed.checkpoint';
export const CHECKPOINT_VERSION = 1;
export const CHECKPOINT_FILES = ['weights.safetensors', 'optimizer.safetensors', 'order.npy', 'state.json'] as const;
/** A checkpoint's SAF state, beside the files above in a run with SAF. */
export const SAF_FILE = 'saf.safetensors';

/** The files of one checkpoint of a run with or without SAF. */
export function checkpointFiles(withSaf: boolean): string[] {
  return withSaf ? [...CHECKPOINT_FILES.slice(0, 3), SAF_FILE, 'state.json'] : [...CHECKPOINT_FILES];
}
/** state.json holds a few numbers per step and epoch (classp's fractions); 256 MiB is far beyond any run. */
const STATE_LIMIT = 256 * 2 ** 20;

/** What a checkpoint must share with the run that resumes from it. */
export interface CheckpointRun {
  dataset: { name: string; train: number; features: number; digest: string };
  model: ModelDescription;
  optimizer: OptimizerConfig;
  schedule: ScheduleConfig & { totalSteps: number };
  epochs: number;
  batchSize: number;
  seed: number;
  /** With --record: whether an "init" row was recorded first. */
  record?: { init: boolean };
  /** With --probe: the probes, their intervals (and layer options) and the probe batch size. */
  probes?: { specs: { name: string; every: number; layer?: number }[]; size: number };
  /** With --saf: its settings (saf.safetensors holds its state). */
  saf?: Required<SafConfig>;
}

/** A probe measurement as checkpoints keep it (curvature/train-probes.ts ProbeRecord). */
export interface ProbeRecordData {
  probe: string;
  step: number;
  values: Record<string, number>;
}

export interface CheckpointState {
  format: typeof CHECKPOINT_FORMAT;
  version: typeof CHECKPOINT_VERSION;
  step: number;
  epoch: number;
  position: number;
  rng: [number, number, number, number];
  lossSum: number;
  epochLoss: number[];
  updateFraction: number[];
  /** Recorder rows (record/row-k.safetensors, k < recorded) that belong to this checkpoint. */
  recorded: number;
  /** The run's checkpoint interval in steps (a resume keeps it unless told otherwise). */
  every: number;
  /** With --probe: every measurement up to this step. */
  probes?: ProbeRecordData[];
  /** With --saf: the running epoch's KL sum and batch count, and the finished epochs' means. */
  saf?: { klSum: number; klBatches: number; meanKl: number[] };
  run: CheckpointRun;
}

/** The relative path of step t's checkpoint directory in a run directory. */
export function checkpointPath(step: number): string {
  return join('checkpoints', `step-${String(step).padStart(8, '0')}`);
}
export function recordRowPath(k: number): string {
  return join('record', `row-${String(k).padStart(4, '0')}.safetensors`);
}

/** The steps in (after, last] at which a run saves: multiples of `every`, and `last` itself when it is a stop. */
export function checkpointSteps(after: number, last: number, every: number, stop?: number): number[] {
  const end = stop !== undefined ? Math.min(stop, last) : last;
  const out: number[] = [];
  for (let t = (Math.floor(after / every) + 1) * every; t <= end; t += every) out.push(t);
  if (stop !== undefined && stop > after && stop <= last && out.at(-1) !== stop) out.push(stop);
  return out;
}

/** FNV-1a over the training rows' dataset indices and labels: the data a checkpoint was trained on. */
export function dataDigest(indices: Int32Array, labels: Int32Array): string {
  let h = 0x811c9dc5;
  const eat = (a: Int32Array) => {
    const u8 = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    for (let i = 0; i < u8.length; i++) h = Math.imul(h ^ u8[i]!, 0x01000193);
  };
  eat(indices);
  eat(labels);
  return (h >>> 0).toString(16).padStart(8, '0');
}

const METRIC_NAMES: [keyof SampleMetrics, string][] = [['loss', 'loss'], ['correct', 'correct'], ['margin', 'margin'], ['errorNorm', 'error_norm']];

/** Writes checkpoint files into a run directory; recorder rows are written once each. */
export class CheckpointWriter {
  private rowsWritten: number;
  readonly written: string[] = [];

  constructor(
    readonly runDir: string,
    readonly run: CheckpointRun,
    readonly every: number,
    /** Recorder rows already on disk (a resumed run's). */
    rowsOnDisk = 0,
    /** The probe measurements so far, kept in every checkpoint. */
    private readonly probeRecords?: () => readonly ProbeRecordData[],
  ) {
    this.rowsWritten = rowsOnDisk;
  }

  async write(model: Mlp, s: TrainSnapshot, recorder?: TrajectoryRecorder): Promise<string> {
    // Recorder rows first: state.json, written last, is what makes the checkpoint count.
    const rows = recorder?.checkpoints.length ?? 0;
    for (; this.rowsWritten < rows; this.rowsWritten++) {
      const k = this.rowsWritten;
      const r = recorder!.row(k);
      const tensors = (['train', 'val'] as const).flatMap((split) =>
        METRIC_NAMES.map(([key, name]) => {
          const v = r[split][key];
          return { name: `${split}_${name}`, shape: [v.length], data: v instanceof Float32Array ? v : Float32Array.from(v) };
        }),
      );
      makeOutputDir(join(this.runDir, 'record'));
      writeFileAtomic(join(this.runDir, recordRowPath(k)), encodeSafetensors(tensors, { 'riverbed.checkpoint': String(r.checkpoint) }));
    }
    const dir = join(this.runDir, checkpointPath(s.step));
    const made = makeOutputDir(dir);
    const names = model.params.map((p) => p.name);
    const state: CheckpointState = {
      format: CHECKPOINT_FORMAT,
      version: CHECKPOINT_VERSION,
      step: s.step,
      epoch: s.epoch,
      position: s.position,
      rng: s.rng,
      lossSum: s.lossSum,
      epochLoss: s.epochLoss,
      updateFraction: s.updateFraction,
      recorded: rows,
      every: this.every,
      ...(this.probeRecords ? { probes: this.probeRecords().map((r) => ({ probe: r.probe, step: r.step, values: { ...r.values } })) } : {}),
      ...(s.saf ? { saf: { klSum: s.saf.klSum, klBatches: s.saf.klBatches, meanKl: s.saf.meanKl } } : {}),
      run: this.run,
    };
    try {
      writeFilesAtomic([
        { path: join(dir, 'weights.safetensors'), data: encodeSafetensors(await model.toHost(), { format: 'pt', 'riverbed.model': JSON.stringify(model.description), 'riverbed.step': String(s.step) }) },
        { path: join(dir, 'optimizer.safetensors'), data: encodeSafetensors(await s.optimizer.stateToHost(names), { 'riverbed.optimizer': s.optimizer.config.name, 'riverbed.step': String(s.step) }) },
        { path: join(dir, 'order.npy'), data: encodeNpy(s.order, [s.order.length]) },
        ...(s.saf ? [{ path: join(dir, SAF_FILE), data: encodeSaf(s.saf, this.run.saf!.epochs) }] : []),
      ]);
      writeFileAtomic(join(dir, 'state.json'), JSON.stringify(state) + '\n');
    } catch (e) {
      made.undo();
      throw e;
    }
    this.written.push(dir);
    return dir;
  }
}

/**
 * The checkpoint directory `path` names: a checkpoint itself (holds state.json), or a run
 * directory, whose latest complete checkpoint it means. Returns it with its run directory.
 */
export function locateCheckpoint(path: string, field = '--resume'): { dir: string; runDir: string } {
  if (existsSync(join(path, 'state.json'))) return { dir: path, runDir: join(path, '..', '..') };
  const root = join(path, 'checkpoints');
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return fail('E_FILE', 'holds no checkpoints (expected checkpoints/step-*/state.json, or a checkpoint directory)', { file: path, field });
  }
  const done = names.filter((n) => /^step-\d{8}$/.test(n) && existsSync(join(root, n, 'state.json'))).sort();
  if (done.length === 0) fail('E_FILE', 'holds no complete checkpoint (no checkpoints/step-*/state.json)', { file: path, field });
  return { dir: join(root, done.at(-1)!), runDir: path };
}

/** Reads and checks state.json (format, version, field types); nothing else yet. */
export function readCheckpointState(dir: string, field = '--resume'): CheckpointState {
  const file = join(dir, 'state.json');
  let s: CheckpointState;
  try {
    s = JSON.parse(readBoundedText(file, STATE_LIMIT, 'a checkpoint state', field)) as CheckpointState;
  } catch (e) {
    if (e instanceof SyntaxError) fail('E_FORMAT', `is not JSON (${e.message})`, { file, field });
    throw e;
  }
  const bad = (what: string) => fail('E_FORMAT', `not a riverbed checkpoint: ${what}`, { file, field });
  if (typeof s !== 'object' || s === null || s.format !== CHECKPOINT_FORMAT) bad(`format is ${JSON.stringify((s as { format?: unknown })?.format)}, expected "${CHECKPOINT_FORMAT}"`);
  if (s.version !== CHECKPOINT_VERSION) bad(`version ${JSON.stringify(s.version)}; this riverbed reads version ${CHECKPOINT_VERSION}`);
  for (const k of ['step', 'epoch', 'position', 'lossSum', 'recorded', 'every'] as const) if (typeof s[k] !== 'number') bad(`${k} is not a number`);
  for (const k of ['rng', 'epochLoss', 'updateFraction'] as const) if (!Array.isArray(s[k]) || !s[k].every((v) => typeof v === 'number')) bad(`${k} is not a list of numbers`);
  if (typeof s.run !== 'object' || s.run === null) bad('no run description');
  return s;
}

/**
 * Compares the checkpoint's run with this command's: the first difference is a one-line error
 * naming the checkpoint file and what differs (another model, optimizer, schedule, data …).
 */
export function checkSameRun(s: CheckpointState, run: CheckpointRun, dir: string, describe: (m: ModelDescription) => string): void {
  const file = join(dir, 'state.json');
  const differ = (what: string, saved: string, now: string) =>
    fail('E_ARG', `${what}: the checkpoint has ${saved}, this run ${now}; resume with the options it was started with`, { file, field: '--resume' });
  const j = (v: unknown) => JSON.stringify(v);
  // The seed first: it also draws the train/validation split, so another seed shows as other data too.
  if (s.run.seed !== run.seed) differ('another seed', String(s.run.seed), String(run.seed));
  const d0 = s.run.dataset;
  const d1 = run.dataset;
  if (d0.name !== d1.name || d0.train !== d1.train || d0.features !== d1.features || d0.digest !== d1.digest) {
    differ('other training data', `${d0.name} (${d0.train} rows × ${d0.features}, digest ${d0.digest})`, `${d1.name} (${d1.train} rows × ${d1.features}, digest ${d1.digest})`);
  }
  if (j(s.run.model) !== j(run.model)) differ('another model', describe(s.run.model), describe(run.model));
  if (s.run.optimizer.name !== run.optimizer.name) differ('another optimizer', s.run.optimizer.name, run.optimizer.name);
  for (const k of Object.keys({ ...s.run.optimizer, ...run.optimizer }) as (keyof OptimizerConfig)[]) {
    if (j(s.run.optimizer[k]) !== j(run.optimizer[k])) differ(`another optimizer setting (${k})`, `${k} ${j(s.run.optimizer[k])}`, `${j(run.optimizer[k])}`);
  }
  if (j(s.run.schedule) !== j(run.schedule)) differ('another schedule', j(s.run.schedule), j(run.schedule));
  for (const k of ['epochs', 'batchSize', 'seed'] as const) if (s.run[k] !== run[k]) differ(`another ${k === 'batchSize' ? 'batch size' : k}`, String(s.run[k]), String(run[k]));
  if (j(s.run.probes ?? null) !== j(run.probes ?? null)) {
    const p = (x: CheckpointRun['probes']) => (x ? `${x.specs.map((q) => `${q.name}${q.layer !== undefined ? `:layer=${q.layer}` : ''}:every=${q.every}`).join(' ')} on ${x.size} samples` : 'no probes');
    differ('other probes', p(s.run.probes), p(run.probes));
  }
  if (j(s.run.saf ?? null) !== j(run.saf ?? null)) {
    const f = (x: CheckpointRun['saf']) => (x ? `--saf lambda=${x.lambda},epochs=${x.epochs},tau=${x.temperature},direction=${x.direction}` : 'no --saf');
    differ('another SAF', f(s.run.saf), f(run.saf));
  }
  if (j(s.run.record ?? null) !== j(run.record ?? null)) {
    const r = (x: CheckpointRun['record']) => (x ? `--record${x.init ? ' --record-init' : ''}` : 'no --record');
    differ('another recording', r(s.run.record), r(run.record));
  }
}

/** The resume state of a checkpoint (optimizer tensors and order read), its weights file and recorder rows. */
export async function loadResume(
  dir: string,
  runDir: string,
  s: CheckpointState,
): Promise<{ resume: TrainResume; weightsFile: string; rows: { checkpoint: Checkpoint; train: SampleMetrics; val: SampleMetrics }[]; probes: ProbeRecordData[] }> {
  const optFile = join(dir, 'optimizer.safetensors');
  const opt = await readSafetensors(optFile);
  const orderFile = join(dir, 'order.npy');
  const order = await readNpy(orderFile, { mmap: false });
  if (order.dtype !== 'i4' || order.shape.length !== 1) fail('E_FORMAT', `expected int32 [rows], got ${order.dtype} [${order.shape.join(', ')}]`, { file: orderFile, field: '--resume' });
  const rows = [];
  for (let k = 0; k < s.recorded; k++) {
    const file = join(runDir, recordRowPath(k));
    const c = await readSafetensors(file);
    const cp = c.metadata['riverbed.checkpoint'];
    const metrics = (split: 'train' | 'val'): SampleMetrics => {
      const get = (name: string) => {
        const t = c.tensors.get(`${split}_${name}`);
        if (!t) return fail('E_FORMAT', `missing tensor ${split}_${name}`, { file, field: '--resume' });
        return t.data;
      };
      return { loss: get('loss'), correct: Uint8Array.from(get('correct')), margin: get('margin'), errorNorm: get('error_norm') };
    };
    rows.push({ checkpoint: (cp === 'init' ? 'init' : Number(cp)) as Checkpoint, train: metrics('train'), val: metrics('val') });
  }
  const safFile = join(dir, SAF_FILE);
  const saf = s.run.saf ? await readSaf(safFile, s) : undefined;
  return {
    resume: {
      ...(saf ? { saf, safFile } : {}),
      step: s.step,
      epoch: s.epoch,
      position: s.position,
      order: order.data as Int32Array,
      rng: s.rng,
      lossSum: s.lossSum,
      epochLoss: s.epochLoss,
      updateFraction: s.updateFraction,
      optimizerState: opt.tensors,
      file: optFile,
    },
    weightsFile: join(dir, 'weights.safetensors'),
    rows,
    probes: s.probes ?? [],
  };
}

/**
 * SAF's state as saf.safetensors: `outputs` [E, rows, C] (log q at temperature τ, float32) and
 * `stamp` [E, rows], the epoch that wrote each (slot, row) — float32 (the format riverbed writes),
 * exact for epochs below 2^24; SAF_NEVER (−2^31, also exact) where nothing was written yet.
 */
function encodeSaf(s: SafSnapshot, epochs: number): Uint8Array {
  const rows = s.stamp.length / epochs;
  return encodeSafetensors([
    { name: 'outputs', shape: [epochs, rows, s.outputs.length / s.stamp.length], data: s.outputs },
    { name: 'stamp', shape: [epochs, rows], data: Float32Array.from(s.stamp) },
  ]);
}

async function readSaf(file: string, s: CheckpointState): Promise<SafSnapshot> {
  const bad = (what: string) => fail('E_FORMAT', what, { file, field: '--resume' });
  const k = s.saf;
  if (!k || !Number.isFinite(k.klSum) || !Number.isSafeInteger(k.klBatches) || !Array.isArray(k.meanKl) || !k.meanKl.every((v) => typeof v === 'number')) {
    bad(`state.json of a run with --saf has no valid saf {klSum, klBatches, meanKl}`);
  }
  const c = await readSafetensors(file);
  const outputs = c.tensors.get('outputs');
  const stamp = c.tensors.get('stamp');
  if (!outputs || !stamp) return bad('expected the tensors outputs and stamp');
  const E = s.run.saf!.epochs;
  if (stamp.shape.length !== 2 || stamp.shape[0] !== E || outputs.shape.length !== 3 || outputs.shape[0] !== E || outputs.shape[1] !== stamp.shape[1]) {
    bad(`expected outputs [${E}, rows, classes] and stamp [${E}, rows], got [${outputs.shape.join(', ')}] and [${stamp.shape.join(', ')}]`);
  }
  if (!stamp.data.every((v) => Number.isInteger(v))) bad('stamp holds a value that is not an epoch number');
  return { outputs: outputs.data, stamp: Int32Array.from(stamp.data), klSum: k!.klSum, klBatches: k!.klBatches, meanKl: [...k!.meanKl] };
}
