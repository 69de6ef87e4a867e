/**
 * `riverbed train --record DIR --checkpoints N`: the weights before training (epoch 0), after every
 * N-th epoch and after the last, as DIR/checkpoints/epoch-EEEE.safetensors (PyTorch names, the
 * model description in the metadata): what `riverbed landscape trajectory DIR` projects.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFilesAtomic } from '../io/atomic.js';
import { encodeSafetensors } from '../io/safetensors.js';
import type { ModelDescription } from '../model/description.js';
import type { Mlp } from '../model/mlp.js';

export const CHECKPOINT_DIR = 'checkpoints';

/** The epochs saved: 0, N, 2N, …, and the last. */
export function checkpointEpochs(epochs: number, every: number): number[] {
  const out = [0];
  for (let e = every; e < epochs; e += every) out.push(e);
  out.push(epochs);
  return out;
}

export function checkpointFile(epoch: number): string {
  return `${CHECKPOINT_DIR}/epoch-${String(epoch).padStart(4, '0')}.safetensors`;
}

export interface Snapshot {
  epoch: number;
  tensors: Promise<{ name: string; shape: number[]; data: Float32Array }[]>;
}

/**
 * The model's weights now: every read is issued before this returns (queue order on webgpu, a copy
 * at the call on js/native), so training that continues meanwhile cannot change what is captured.
 */
export function snapshot(model: Mlp, epoch: number): Snapshot {
  const reads = model.params.map((p) => model.backend.read(p.tensor));
  return { epoch, tensors: Promise.all(reads).then((data) => model.params.map((p, i) => ({ name: p.name, shape: [...p.shape], data: data[i]! }))) };
}

/** Writes the snapshots into DIR/checkpoints/ (all or nothing); returns their relative paths. */
export async function writeCheckpoints(dir: string, snaps: Snapshot[], model: ModelDescription): Promise<{ epoch: number; file: string }[]> {
  const files = [];
  const pending = [];
  for (const s of snaps) {
    const file = checkpointFile(s.epoch);
    pending.push({ path: join(dir, file), data: encodeSafetensors(await s.tensors, { format: 'pt', 'riverbed.model': JSON.stringify(model), 'riverbed.epoch': String(s.epoch) }) });
    files.push({ epoch: s.epoch, file });
  }
  mkdirSync(join(dir, CHECKPOINT_DIR), { recursive: true });
  writeFilesAtomic(pending);
  return files;
}
