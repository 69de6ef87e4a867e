/**
 * Sizes that cannot fit are refused before any work, with the estimate and the limit, instead of
 * a RangeError stack trace, a V8 heap abort or hours of swapping. One helper (`requireFits`)
 * compares a command's estimate with three limits this process really has:
 *   - memory: os.totalmem(), or less under a container's cgroup limit or `ulimit -v`, or
 *     RIVERBED_MAX_MEMORY (a size: 8GB, 512MiB, …) when set;
 *   - the V8 heap (plain JS arrays, objects, strings): v8's heap_size_limit;
 *   - the longest typed array (2^32 elements) and the longest string (a JSON report);
 * and the estimates for the commands' size options live next to it. Estimates count what the
 * code allocates at its peak (parameters, gradients, optimizer state, activations, recorded
 * trajectories); they aim to be right within a small factor, which is all a refusal needs.
 */
import { constants } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { parseSize } from '../coreset/stream.js';
import { fail } from '../errors.js';
import { type ModelDescription, hasParameters, isActivation, layerShapes, weightShape } from '../model/description.js';

export interface MemoryNeed {
  /** Typed arrays and native/GPU buffers (outside the V8 heap). */
  buffers?: number;
  /** JS arrays of numbers, objects and strings (on the V8 heap). */
  heap?: number;
  /** Elements of the largest single typed array. */
  largestArray?: number;
  /** Characters of the longest string built (a JSON report). */
  text?: number;
}

export interface MemoryLimits {
  buffers: number;
  buffersFrom: string;
  heap: number;
  largestArray: number;
  text: number;
}

/** The largest typed array V8 makes (elements). */
export const MAX_TYPED_ARRAY = 2 ** 32;

/** A number in a small system file, or undefined (absent, "max", "unlimited", unreadable). */
function readLimit(path: string, pick: (text: string) => string | undefined = (t) => t.trim()): number | undefined {
  try {
    const v = pick(readFileSync(path, 'utf8'));
    const n = v !== undefined && /^\d+$/.test(v) ? Number(v) : NaN;
    return Number.isFinite(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The memory this process may use: the machine's, or less where a container (cgroup v2/v1) or
 * `ulimit -v` caps it — os.totalmem() reports the host's memory inside a container.
 */
function processMemory(): { bytes: number; from: string } {
  let best = { bytes: totalmem(), from: "this machine's memory" };
  if (process.platform !== 'linux') return best;
  const caps: [number | undefined, string][] = [
    [readLimit('/sys/fs/cgroup/memory.max'), "the container's memory limit"],
    [readLimit('/sys/fs/cgroup/memory/memory.limit_in_bytes'), "the container's memory limit"],
    [readLimit('/proc/self/limits', (t) => /^Max address space\s+(\S+)/m.exec(t)?.[1]), 'the address-space limit (ulimit -v)'],
  ];
  for (const [bytes, from] of caps) if (bytes !== undefined && bytes < best.bytes) best = { bytes, from };
  return best;
}

export function memoryLimits(env: NodeJS.ProcessEnv = process.env): MemoryLimits {
  const set = env.RIVERBED_MAX_MEMORY;
  const mem = set !== undefined && set !== '' ? { bytes: parseSize(set, 'RIVERBED_MAX_MEMORY'), from: 'RIVERBED_MAX_MEMORY' } : processMemory();
  return {
    buffers: mem.bytes,
    buffersFrom: mem.from,
    heap: getHeapStatistics().heap_size_limit,
    largestArray: MAX_TYPED_ARRAY,
    text: constants.MAX_STRING_LENGTH,
  };
}

export function formatBytes(b: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let u = 0;
  let v = b;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${Math.round(v)} bytes` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

const count = (n: number) => (n >= 1e6 ? n.toExponential(2).replace('e+', 'e') : String(Math.round(n)));

/**
 * Refuses `what` (e.g. "training the model 4-1000000000(relu)-3") when its estimate exceeds a limit:
 * one E_ARG line naming `field`, the estimate, the limit and `hint` (what to change).
 */
export function requireFits(what: string, need: MemoryNeed, field: string, hint: string, limits: MemoryLimits = memoryLimits()): void {
  const why: string[] = [];
  const total = (need.buffers ?? 0) + (need.heap ?? 0);
  if (total > limits.buffers) why.push(`about ${formatBytes(total)} of memory, more than ${limits.buffersFrom} (${formatBytes(limits.buffers)})`);
  else if ((need.heap ?? 0) > limits.heap) why.push(`about ${formatBytes(need.heap!)} of JS heap, more than V8's limit (${formatBytes(limits.heap)}; node --max-old-space-size raises it)`);
  if ((need.largestArray ?? 0) > limits.largestArray) why.push(`an array of ${count(need.largestArray!)} elements, more than the ${count(limits.largestArray)} a typed array holds`);
  if ((need.text ?? 0) > limits.text) why.push(`a report of about ${count(need.text!)} characters, more than the longest string V8 builds (${count(limits.text)})`);
  if (why.length > 0) fail('E_ARG', `${what} would need ${why.join(', and ')}; ${hint}`, { field });
}

// ---- estimates ---------------------------------------------------------------------------------

/** Parameter count, the largest weight, the activations per sample (all layers) and the widest layer of a model description. */
export function modelSize(d: ModelDescription): { parameters: number; largestTensor: number; widths: number; widest: number } {
  let parameters = 0;
  let largestTensor = 0;
  let widths = 0;
  let widest = 0;
  // Per layer but activations (as for an MLP's linear layers: in + out), the per-sample sizes from shape inference.
  const shapes = layerShapes(d);
  const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
  d.layers.forEach((l, i) => {
    if (isActivation(l)) return;
    if (hasParameters(l)) {
      const w = size(weightShape(l));
      parameters += w + (l.bias !== false ? l.out : 0);
      largestTensor = Math.max(largestTensor, w);
    }
    widths += size(shapes[i]!) + size(shapes[i + 1]!);
    widest = Math.max(widest, size(shapes[i + 1]!));
  });
  return { parameters, largestTensor, widths, widest };
}

/** Rows `evaluateSamples` reads back per chunk (src/train/evaluate.ts). */
const EVAL_CHUNK = 2048;
/** Bytes per recorded sample and checkpoint: loss, margin, error norm (f32) and correctness (u8). */
const RECORD_BYTES = 13;

export interface TrainingShape {
  model: ModelDescription;
  batchSize: number;
  train: number;
  val: number;
  features: number;
  optimizerStates: number;
  /** Checkpoints recorded (0: none). */
  checkpoints: number;
}

/**
 * Peak memory of `riverbed train`, by part: parameters with gradients and optimizer state (and a
 * spare copy in the backend's pool), one batch's activations and their gradients, an evaluation
 * chunk's logits, the data, and a recorded trajectory (kept in memory, copied once when written).
 */
export function trainingNeed(o: TrainingShape): { need: MemoryNeed; parts: { model: number; batch: number; evaluation: number; data: number; record: number } } {
  const { parameters, largestTensor, widths, widest } = modelSize(o.model);
  const samples = o.train + o.val;
  const evalRows = Math.min(EVAL_CHUNK, Math.max(o.train, o.val));
  const parts = {
    model: 4 * parameters * (3 + o.optimizerStates),
    batch: 4 * 3 * Math.min(o.batchSize, o.train) * widths,
    evaluation: 4 * 3 * evalRows * widths,
    data: 4 * 2 * samples * o.features,
    record: 2 * o.checkpoints * samples * RECORD_BYTES,
  };
  return {
    need: {
      buffers: parts.model + parts.batch + parts.evaluation + parts.data + parts.record,
      heap: o.checkpoints * 2 * 400, // per checkpoint and split: the metrics object and its arrays
      largestArray: Math.max(largestTensor, o.checkpoints * Math.max(o.train, o.val), Math.max(evalRows, Math.min(o.batchSize, o.train)) * widest),
    },
    parts,
  };
}

/** `requireFits` for a training run, blaming the option behind the largest part. */
export function requireTrainingFits(
  o: TrainingShape & { modelFlag: '--hidden' | '--model'; describe: string; labels?: { sets: readonly Int32Array[]; classes: number; file: string } },
  limits?: MemoryLimits,
): void {
  const { need, parts } = trainingNeed(o);
  if (o.labels) requireDenseClasses(o.labels.sets, o.labels.classes, o.labels.file, '--labels', `${o.describe}, about ${formatBytes((need.buffers ?? 0) + (need.heap ?? 0))} to train`);
  const [largest] = (Object.entries(parts) as [keyof typeof parts, number][]).sort((a, b) => b[1] - a[1])[0]!;
  const table: Record<keyof typeof parts, [string, string, string]> = {
    model: [o.modelFlag, `training the model ${o.describe}`, 'use a smaller model'],
    evaluation: [o.modelFlag, `training the model ${o.describe}`, 'use a smaller model'],
    batch: ['--batch-size', `a batch of ${o.batchSize} through ${o.describe}`, 'use a smaller --batch-size'],
    data: ['--inputs', `the data (${o.train + o.val} samples × ${o.features} features)`, 'use fewer samples'],
    record: ['--epochs', `recording ${o.checkpoints} checkpoints of ${o.train + o.val} samples`, 'record fewer checkpoints (fewer --epochs), or drop --record (--online-cld gives CLD scores in O(N) memory)'],
  };
  const blame = table[largest];
  requireFits(blame[1], need, blame[0], blame[2], limits);
}

/**
 * `hessian --density`: every probe's Lanczos nodes and weights (JS arrays) and the Krylov basis
 * ([steps, P] floats); the grid and the density (JS arrays); the report lists all of them.
 */
export function densityNeed(o: { probes: number; steps: number; points: number; parameters: number }): MemoryNeed {
  const nodes = o.probes * o.steps;
  return {
    buffers: 4 * o.steps * o.parameters,
    heap: 48 * nodes + 24 * o.points,
    largestArray: o.steps * o.parameters,
    text: 48 * nodes + 48 * o.points,
  };
}

/** `hessian --error-bars`: per size and repeat a seed and the estimates (JS arrays), all in the report. */
export function errorBarNeed(o: { sizes: number; repeats: number; values: number }): MemoryNeed {
  const entries = o.sizes * o.repeats;
  return { heap: entries * (64 + 16 * o.values), text: entries * (16 + 24 * o.values) };
}

/** `requireFits` for `hessian --density`, blaming the grid or the probes, whichever needs more. */
export function requireDensityFits(o: { probes: number; steps: number; points: number; parameters: number }, limits?: MemoryLimits): void {
  const steps = Math.min(o.steps, o.parameters);
  const gridWins = o.points > o.probes * steps;
  requireFits(
    gridWins ? `a density on ${o.points} grid points` : `${o.probes} probes × ${steps} Lanczos steps of quadrature nodes`,
    densityNeed({ ...o, steps }),
    gridWins ? '--grid-points' : '--density-probes',
    gridWins ? 'use fewer --grid-points (1000 resolve a density finer than the broadening)' : 'use fewer --density-probes or --density-steps',
    limits,
  );
}

/** `requireFits` for `hessian --error-bars`. */
export function requireErrorBarsFit(o: { sizes: number; repeats: number; values: number }, limits?: MemoryLimits): void {
  requireFits(`error bars of ${o.repeats} repeats × ${o.sizes} subsample sizes`, errorBarNeed(o), '--repeats', 'use fewer --repeats (the spread of 5–20 repeats is what the recommendation reads)', limits);
}

/**
 * Labels name classes 0..C−1 and the default model gets C outputs: one stray large label (1 048 575
 * among labels 0..9) asks for a million-output model. Refuses labels whose largest class id is far
 * beyond the classes that occur, unless the model was given (--model: its outputs are the user's
 * choice).
 */
export function requireDenseClasses(labels: readonly Int32Array[], classes: number, file: string, field: string, model = ''): void {
  const seen = new Uint8Array(classes);
  let present = 0;
  for (const ys of labels) {
    for (let i = 0; i < ys.length; i++) {
      const y = ys[i]!;
      if (!seen[y]) {
        seen[y] = 1;
        present++;
      }
    }
  }
  const missing = classes - present;
  if (missing > Math.max(1024, present)) {
    fail(
      'E_LABEL',
      `the largest label is ${classes - 1}, so the model would get ${classes} outputs${model ? ` (${model})` : ''}, but only ${present} classes occur (${missing} without a sample): class ids must be 0..C−1 (remap them, e.g. numpy.unique(y, return_inverse=True)), or give --model with that many outputs on purpose`,
      { file, field },
    );
  }
}
