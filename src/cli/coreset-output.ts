/**
 * Output of the coreset commands (paths are checked before any work by src/io/output-plan.ts):
 * the selection JSON (format riverbed.selection, version 1, with a run manifest), the optional
 * scores and indices `.npy`, all in one atomic commit.
 */
import { type PendingFile, writeFilesAtomic } from '../io/atomic.js';
import type { RunManifest } from '../io/manifest.js';
import { encodeNpy } from '../io/npy.js';
import { formatIntList } from './coreset-cld.js';

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
