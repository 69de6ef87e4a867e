/**
 * Random CLD inputs written as .npy files, with the awkward parts built in: tied samples (copied
 * trajectories, and 12 equal top samples of class 0 spread over the whole range), zero-variance samples, a class with no validation samples (absent: r = NaN), a
 * class present only in validation, and N not a multiple of 16.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { CldInputs } from '../../src/coreset/cld.js';
import type { CldFiles } from '../../src/coreset/stream.js';
import { writeNpy } from '../../src/io/npy.js';
import { rng } from './backends.js';

export interface CldCase {
  inputs: CldInputs;
  files: CldFiles;
}

export function writeCldCase(dir: string, o: { n: number; m: number; epochs: number; classes: number; seed: number; f64?: boolean; perEpochDir?: boolean }): CldCase {
  mkdirSync(dir, { recursive: true });
  const r = rng(o.seed);
  const { n, m, epochs: E, classes: C } = o;
  const absent = 1;
  const trainLabels = new Int32Array(n);
  for (let i = 0; i < n; i++) trainLabels[i] = Math.floor(r() * (C - 1)); // class C−1: validation only
  const valLabels = new Int32Array(m);
  for (let j = 0; j < m; j++) valLabels[j] = j < C ? (j === absent ? 0 : j) : [0, 2, 3, 4, 5, 6, 7, 8].filter((c) => c < C && c !== absent)[Math.floor(r() * Math.min(7, C - 1))] ?? 0;
  const Arr = o.f64 ? Float64Array : Float32Array;
  const train = new Arr(E * n);
  for (let i = 0; i < n; i++) {
    const base = 0.5 + 2 * r();
    const rate = 0.05 + 0.3 * r();
    const noise = 0.3 * r();
    for (let e = 0; e < E; e++) train[e * n + i] = base * Math.exp(-rate * e) + noise * (r() - 0.5);
  }
  // ties: copies of other samples' trajectories within the same class; zero variance: constant loss
  for (let t = 0; t < Math.min(20, n >> 3); t++) {
    const src = Math.floor(r() * n);
    const dst = Math.floor(r() * n);
    trainLabels[dst] = trainLabels[src]!;
    for (let e = 0; e < E; e++) train[e * n + dst] = train[e * n + src]!;
  }
  for (let e = 0; e < E; e++) train[e * n + (n - 1)] = 1.25;
  const val = new Arr(E * m);
  for (let j = 0; j < m; j++) {
    const base = 0.5 + 2 * r();
    const rate = 0.05 + 0.3 * r();
    for (let e = 0; e < E; e++) val[e * m + j] = base * Math.exp(-rate * e) + 0.2 * (r() - 0.5);
  }
  // a tie group cut by any small budget: 12 samples spread over every shard, all with class 0's
  // mean validation loss as trajectory (r ≈ 1: the top of class 0, identical scores)
  const mean = new Float64Array(E);
  let cnt = 0;
  for (let j = 0; j < m; j++) {
    if (valLabels[j] !== 0) continue;
    cnt++;
    for (let e = 0; e < E; e++) mean[e]! += val[e * m + j]!;
  }
  for (let k = 0; k < 12 && cnt > 0; k++) {
    const i = Math.floor((k * (n - 1)) / 12);
    trainLabels[i] = 0;
    for (let e = 0; e < E; e++) train[e * n + i] = mean[e]! / cnt;
  }
  const files: CldFiles = {
    trainLoss: join(dir, o.perEpochDir ? 'epochs' : 'train_loss.npy'),
    trainLabels: join(dir, 'train_labels.npy'),
    valLoss: join(dir, 'val_loss.npy'),
    valLabels: join(dir, 'val_labels.npy'),
  };
  if (o.perEpochDir) {
    mkdirSync(files.trainLoss, { recursive: true });
    for (let e = 0; e < E; e++) writeNpy(join(files.trainLoss, `epoch_${e}.npy`), train.slice(e * n, (e + 1) * n));
  } else writeNpy(files.trainLoss, train, [E, n]);
  writeNpy(files.trainLabels, trainLabels);
  writeNpy(files.valLoss, val, [E, m]);
  writeNpy(files.valLabels, valLabels);
  return { inputs: { trainLoss: train, epochs: E, samples: n, trainLabels, valLoss: val, valSamples: m, valLabels }, files };
}

/** The float32 bits of `a` (so NaN = NaN and −0 ≠ +0 when comparing). */
export const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
