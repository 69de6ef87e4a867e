/**
 * Evaluating a grid (or any list of points of an affine family), content-addressed and resumable.
 *
 * A grid's id is a sha256 over the model description, the base weights, the data (inputs and
 * labels), the directions and the grid (see `gridId`): the same inputs give the same id, whatever
 * the file names. With a state directory, every finished chunk of points is written at once to
 * `STATE/<id>-<backend>/points-<start>-<end>.f64` (atomic: temp file + rename); a run that finds
 * such files computes only the points they lack, so an interrupted grid (killed, aborted, out of
 * time on a cluster) continues where it stopped and ends with the same numbers. Points are
 * evaluated in the same chunks either way, so a resumed grid equals an uninterrupted one bit for
 * bit on the same backend. The state directory is removed when the grid is complete.
 */
import { mkdirSync, readdirSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { readBoundedFile } from '../io/files.js';
import type { ModelDescription } from '../model/description.js';
import type { Mlp } from '../model/mlp.js';
import type { Weights } from './directions.js';
import { BatchedEvaluator, type DeviceBatches, type EvaluateOptions, type Family, batchable, evaluateOneByOne } from './evaluate.js';
import { Digest } from './grid.js';

/** The id of a family's points: sha256 over what decides the numbers. */
export function pointsId(parts: { description: ModelDescription; base: Weights; dirs: Weights[]; inputs: ArrayBufferView; labels: ArrayBufferView; points: unknown }): string {
  const d = new Digest().json('riverbed.landscape v1', 'mean cross-entropy and top-1 accuracy over the samples').json('model', parts.description).weights('base', parts.base);
  parts.dirs.forEach((w, k) => d.weights(`direction ${k}`, w));
  return d.bytes('inputs', parts.inputs).bytes('labels', parts.labels).json('points', parts.points).hex();
}

export interface RunPointsInput {
  model: Mlp;
  family: Family;
  data: DeviceBatches;
  /** Coefficients [P, K] of every point of the grid (row-major). */
  coefs: Float64Array;
  /** Only points [start, end) (a shard); default all. */
  range?: { start: number; end: number };
  /** The grid's id (pointsId); with `stateDir`, where finished chunks are kept. */
  id: string;
  stateDir?: string;
  /** Stops between chunks: what is finished is kept, and the result says `complete: false`. */
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  evaluate?: Omit<EvaluateOptions, 'onProgress'>;
}

export interface RunPointsResult {
  loss: Float64Array;
  accuracy: Float64Array;
  /** Points taken from an earlier, interrupted run. */
  resumed: number;
  pointsPerDispatch: number;
  batched: boolean;
  /** False when `signal` stopped the run before every point was evaluated (the state is kept). */
  complete: boolean;
}

const CHUNK_RE = /^points-(\d+)-(\d+)\.f64$/;

/** Finished chunks found in `dir`: [start, end) with loss then accuracy as float64. */
function readChunks(dir: string, start: number, end: number, loss: Float64Array, acc: Float64Array, done: Uint8Array): number {
  let n = 0;
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    const m = CHUNK_RE.exec(name);
    if (!m) continue;
    const a = Number(m[1]);
    const b = Number(m[2]);
    if (!(a >= start && b <= end && a < b)) continue;
    const buf = readBoundedFile(join(dir, name), 16 * (b - a), 'a landscape chunk');
    if (buf.byteLength !== 16 * (b - a)) continue; // a torn file cannot happen (rename), but a foreign one is skipped
    const v = new Float64Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    for (let p = a; p < b; p++) {
      if (done[p - start]) continue;
      loss[p - start] = v[p - a]!;
      acc[p - start] = v[b - a + p - a]!;
      done[p - start] = 1;
      n++;
    }
  }
  return n;
}

/** Evaluates the points of `input.range` (resuming from the state directory), chunk by chunk. */
export async function runPoints(input: RunPointsInput): Promise<RunPointsResult> {
  const { model, family, data, coefs } = input;
  const K = family.dirs.length;
  const total = coefs.length / K;
  const { start, end } = input.range ?? { start: 0, end: total };
  const n = end - start;
  const loss = new Float64Array(n);
  const accuracy = new Float64Array(n);
  const done = new Uint8Array(n);
  const dir = input.stateDir ? join(input.stateDir, `${input.id.slice(0, 32)}-${model.backend.name}`) : undefined;
  const resumed = dir ? readChunks(dir, start, end, loss, accuracy, done) : 0;
  const batched = !input.evaluate?.oneByOne && batchable(model.description);
  const ev = batched ? new BatchedEvaluator(model, family, data, input.evaluate) : undefined;
  const unit = ev ? ev.pointsPerDispatch : 4;
  const saved = ev ? undefined : new Map((await model.toHost()).map((t) => [t.name, t.data]));
  let finished = resumed;
  let complete = true;
  input.onProgress?.(finished, n);
  try {
    if (dir) mkdirSync(dir, { recursive: true });
    // Chunks are aligned to `unit` from the range's start, so a resumed run cuts the same chunks.
    for (let a = start; a < end; a += unit) {
      const b = Math.min(end, a + unit);
      let allDone = true;
      for (let p = a; p < b; p++) if (!done[p - start]) allDone = false;
      if (allDone) continue;
      if (input.signal?.aborted) {
        complete = false;
        break;
      }
      const c = coefs.subarray(a * K, b * K);
      const r = ev ? await ev.evaluate(c) : await evaluateOneByOne(model, family, c, data);
      loss.set(r.loss, a - start);
      accuracy.set(r.accuracy, a - start);
      for (let p = a; p < b; p++) done[p - start] = 1;
      if (dir) {
        const buf = new Float64Array(2 * (b - a));
        buf.set(r.loss, 0);
        buf.set(r.accuracy, b - a);
        writeFileAtomic(join(dir, `points-${a}-${b}.f64`), new Uint8Array(buf.buffer));
      }
      finished += b - a;
      input.onProgress?.(finished, n);
    }
  } finally {
    ev?.dispose();
    if (saved) model.setWeights(saved);
  }
  if (dir && complete) removeState(dir, input.stateDir!);
  return { loss, accuracy, resumed, pointsPerDispatch: unit, batched, complete };
}

/** Removes a finished grid's state (and the state root when it is left empty). */
function removeState(dir: string, root: string): void {
  rmSync(dir, { recursive: true, force: true });
  try {
    if (statSync(root).isDirectory() && readdirSync(root).length === 0) rmdirSync(root);
  } catch {
    /* another grid's state, or already gone */
  }
}
