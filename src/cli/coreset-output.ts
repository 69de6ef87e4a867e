/**
 * Output of the coreset commands other than `cld`: checks output paths before any work and writes
 * the selection JSON (format riverbed.selection, version 1, with a run manifest), the optional
 * scores and indices `.npy`, all in one atomic commit.
 */
import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fail } from '../errors.js';
import { type PendingFile, writeFilesAtomic } from '../io/atomic.js';
import type { RunManifest } from '../io/manifest.js';
import { encodeNpy } from '../io/npy.js';
import { formatIntList } from './coreset-cld.js';

export function checkOutputPaths(outputs: [string, string][], inputs: string[]): void {
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

export interface SelectionHead {
  method: string;
  parameters: Record<string, unknown>;
  backend: string | null;
  n: number;
  numClasses: number;
  perClass: number[];
  absentClasses: number[];
  manifest: RunManifest;
}

/**
 * `indices` are the samples' indices in the inputs (from a recorded run: dataset rows, through its
 * train_indices.npy); `positions`, given only when they differ in meaning, the same samples as
 * columns of the run's arrays.
 */
export function selectionJsonChunks(head: SelectionHead, indices: Int32Array, positions?: Int32Array): Buffer[] {
  const { manifest, ...rest } = head;
  const obj = { format: 'riverbed.selection', version: 1, ...rest, selected: indices.length, manifest };
  const text = JSON.stringify(obj, null, 2);
  const chunks = [Buffer.from(`${text.slice(0, -2)},\n  "indices": [`, 'utf8'), formatIntList(indices)];
  if (positions) chunks.push(Buffer.from('],\n  "positions": [', 'latin1'), formatIntList(positions));
  return [...chunks, Buffer.from(']\n}\n', 'latin1')];
}

export function writeSelection(out: string, head: SelectionHead, indices: Int32Array, scores?: { path: string; data: Float32Array }, indicesNpy?: string, positions?: Int32Array): void {
  const files: PendingFile[] = [{ path: out, data: selectionJsonChunks(head, indices, positions) }];
  if (scores) files.push({ path: scores.path, data: encodeNpy(scores.data, [scores.data.length]) });
  if (indicesNpy) files.push({ path: indicesNpy, data: encodeNpy(indices, [indices.length], { dtype: 'i8' }) });
  writeFilesAtomic(files);
}
