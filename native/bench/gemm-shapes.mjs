#!/usr/bin/env node
/**
 * GFLOP/s of the addon's sgemm on the shapes an MLP 784-1024-1024-10 (batch 1024) forward,
 * backward and HVP use, and the fresh-allocation cost of their outputs.
 *   node native/bench/gemm-shapes.mjs [reps=10]
 * Reuses one output array per shape (kernel time), then allocates a fresh Float32Array per call
 * (what the Backend does): the difference is the page-fault cost of fresh memory.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const addon = createRequire(import.meta.url)(path.join(root, 'build', 'Release', 'riverbed_native.node'));
const reps = Number(process.argv[2] ?? 10);
const shapes = [
  // [M, K, N, transA, transB, what]
  [1024, 784, 1024, false, true, 'fwd x·W0ᵀ'],
  [1024, 1024, 1024, false, true, 'fwd h·W1ᵀ'],
  [1024, 1024, 10, false, true, 'fwd h·W2ᵀ (narrow N)'],
  [1024, 10, 1024, false, false, 'bwd g·W2 (K=10)'],
  [1024, 1024, 1024, false, false, 'bwd g·W1'],
  [10, 1024, 1024, true, false, 'gradW2 gᵀ·h (M=10)'],
  [1024, 1024, 1024, true, false, 'gradW1 gᵀ·h'],
  [1024, 1024, 784, true, false, 'gradW0 gᵀ·x'],
  [32, 1024, 32, true, false, 'small gᵀ·h'],
  [1024, 32, 32, false, true, 'small h·Wᵀ'],
  [1024, 20, 32, false, true, 'small x·W0ᵀ'],
  [1024, 32, 5, false, true, 'small h·W2ᵀ'],
];
const rand = (n) => Float32Array.from({ length: n }, (_, i) => ((i * 2654435761) % 1000) / 1000 - 0.5);
for (const [M, K, N, ta, tb, what] of shapes) {
  const A = rand(M * K), B = rand(K * N);
  const C = new Float32Array(M * N);
  for (let i = 0; i < 2; i++) addon.sgemm(M, N, K, A, ta, B, tb, C);
  let best = Infinity, bestFresh = Infinity;
  for (let r = 0; r < reps; r++) {
    let t = process.hrtime.bigint();
    addon.sgemm(M, N, K, A, ta, B, tb, C);
    best = Math.min(best, Number(process.hrtime.bigint() - t) / 1e6);
    t = process.hrtime.bigint();
    addon.sgemm(M, N, K, A, ta, B, tb, new Float32Array(M * N));
    bestFresh = Math.min(bestFresh, Number(process.hrtime.bigint() - t) / 1e6);
  }
  const gf = (2 * M * N * K) / 1e6;
  console.log(`${what.padEnd(22)} ${M}×${K}×${N}: ${best.toFixed(3)} ms ${(gf / best).toFixed(0)} GFLOP/s; fresh output ${bestFresh.toFixed(3)} ms ${(gf / bestFresh).toFixed(0)} GFLOP/s`);
}
