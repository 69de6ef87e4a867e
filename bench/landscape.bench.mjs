#!/usr/bin/env node
/**
 * Loss-landscape benchmark (issue 10), in one run: a 51 × 51 grid of an MLP 784-512-512-10 (ReLU)
 * on 2 000 MNIST test digits, two random filter-normalised directions, range [-1, 1]².
 *
 *  (a) riverbed native, batched: the first layer by linearity (3 GEMMs serve the whole grid), the
 *      later layers for many grid points per dispatch (pointCombine + batchedMatmul), the whole grid;
 *  (b) riverbed native, one point at a time: setWeights + the model's forward per point (what the
 *      peers do, on riverbed's kernels), on the first LANDSCAPE_BENCH_ONE_ROWS rows (default 2);
 *  (c) PyTorch CPU at its best (bench/peers/landscape_torch.py: Li et al.'s loop — load the point's
 *      weights, forward over the 2 000 samples, no_grad, float32), the whole grid (or the first
 *      LANDSCAPE_BENCH_PEER_ROWS rows), on the same weights, directions and samples;
 *  (d) webgpu batched when a hardware adapter exists (lavapipe is a correctness path: skipped).
 * Prints per-point times and the ratios, the largest loss difference against the peer, and writes
 * JSON to bench/results/. Env: LANDSCAPE_BENCH_GRID (default 51), LANDSCAPE_BENCH_SAMPLES (2000).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TORCH_PY, dist, lastLine, loadLine, machine, peerEnv, probeTorch, requireDist, root, writeResults } from './lib.mjs';

requireDist('landscape/evaluate.js');
const { writeNpy, readNpy } = await import(dist('io/npy.js'));
const { writeSafetensors } = await import(dist('io/safetensors.js'));
const { mlpDescription } = await import(dist('model/description.js'));
const { Mlp } = await import(dist('model/mlp.js'));
const { createBackend, backendStatuses } = await import(dist('backends/select.js'));
const { loadMnistPart } = await import(dist('data/mnist.js'));
const { makeDirections, parseDirs } = await import(dist('landscape/sources.js'));
const { evaluateOneByOne, uploadData, freeData } = await import(dist('landscape/evaluate.js'));
const { gridCoefs } = await import(dist('landscape/grid.js'));
const { runPoints } = await import(dist('landscape/run.js'));

const G = Number(process.env.LANDSCAPE_BENCH_GRID ?? 51);
const S = Number(process.env.LANDSCAPE_BENCH_SAMPLES ?? 2000);
const ONE_ROWS = Number(process.env.LANDSCAPE_BENCH_ONE_ROWS ?? 2);
const PEER_ROWS = Number(process.env.LANDSCAPE_BENCH_PEER_ROWS ?? 0);
const PER_DISPATCH = process.env.LANDSCAPE_BENCH_PER_DISPATCH ? Number(process.env.LANDSCAPE_BENCH_PER_DISPATCH) : undefined;
const SKIP_PEER = process.env.LANDSCAPE_BENCH_SKIP_PEER === '1';
const sizes = [784, 512, 512, 10];
const desc = mlpDescription(784, [512, 512], 10, 'relu');
const grid = { x: { min: -1, max: 1, points: G }, y: { min: -1, max: 1, points: G } };
const P = G * G;
const fmt = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(2)} ms`);
const results = { date: new Date().toISOString(), machine: machine(), grid: [G, G], samples: S, model: sizes, runs: {} };

// ---- the problem, written once for the peer ---------------------------------------------------
const dir = join(root, 'bench', '.data', 'landscape');
mkdirSync(dir, { recursive: true });
const t10k = await loadMnistPart('t10k');
const X = t10k.inputs.subarray(0, S * 784);
const Y = t10k.labels.subarray(0, S);
const native = await createBackend('native');
const model = Mlp.init(native, desc, 0);
const base = new Map((await model.toHost()).map((t) => [t.name, t.data]));
const { dirs, info } = await makeDirections({ model, base, sources: parseDirs('random', 2), seed: 0 });
const named = (w) => model.params.map((p) => ({ name: p.name, shape: [...p.shape], data: w.get(p.name) }));
writeFileSync(join(dir, 'model.json'), JSON.stringify(desc));
await writeSafetensors(join(dir, 'weights.safetensors'), named(base));
await writeSafetensors(join(dir, 'dx.safetensors'), named(dirs[0]));
await writeSafetensors(join(dir, 'dy.safetensors'), named(dirs[1]));
writeNpy(join(dir, 'x.npy'), X, [S, 784]);
writeNpy(join(dir, 'y.npy'), Y, [S]);
const macsPerPoint = S * sizes.slice(1).reduce((a, o, i) => a + sizes[i] * o, 0);
console.log(`${loadLine()}; problem: ${G}×${G} grid (${P} points), MLP ${sizes.join('-')} (ReLU), ${S} MNIST test digits; random directions, filter-normalised (cosine before orthogonalisation ${info.cosine.toExponential(2)})`);
console.log(`one forward pass per point: ${(2 * macsPerPoint / 1e9).toFixed(2)} GFLOP; the first layer is ${((100 * 784 * 512) / (784 * 512 + 512 * 512 + 512 * 10)).toFixed(0)} % of it`);

// ---- (a) riverbed native, batched ---------------------------------------------------------------
const coefs = gridCoefs(grid, 0, P);
async function batched(be, label) {
  const m = be === native ? model : Mlp.fromHost(be, desc, base);
  const data = uploadData(be, X, Y, S, 784, S);
  const t = performance.now();
  const r = await runPoints({ model: m, family: { base, dirs }, data, coefs, id: 'bench', evaluate: { points: PER_DISPATCH } });
  const ms = performance.now() - t;
  freeData(be, data);
  const perPoint = ms / P;
  results.runs[label] = { seconds: ms / 1000, msPerPoint: perPoint, pointsPerDispatch: r.pointsPerDispatch };
  console.log(`(${label === 'webgpu' ? 'd' : label === 'native' ? 'a' : "a'"}) riverbed ${label}, batched (${r.pointsPerDispatch} points per dispatch): ${fmt(ms)} for ${P} points = ${fmt(perPoint)} per point`);
  return r;
}
const ours = await batched(native, 'native');

// ---- (b) riverbed native, one point at a time -------------------------------------------------------
{
  const n = ONE_ROWS * G;
  const data = uploadData(native, X, Y, S, 784, S);
  const t = performance.now();
  const r = await evaluateOneByOne(model, { base, dirs }, coefs.subarray(0, 2 * n), data);
  const ms = performance.now() - t;
  model.setWeights(base);
  freeData(native, data);
  results.runs.nativeOneByOne = { points: n, msPerPoint: ms / n };
  let worst = 0;
  for (let p = 0; p < n; p++) worst = Math.max(worst, Math.abs(r.loss[p] - ours.loss[p]) / Math.abs(ours.loss[p]));
  console.log(`(b) riverbed native, one point at a time (setWeights + forward; first ${ONE_ROWS} rows, ${n} points): ${fmt(ms / n)} per point; batched = ${(ms / n / results.runs.native.msPerPoint).toFixed(2)}× faster; largest relative loss difference ${worst.toExponential(1)}`);
}

// ---- (c) PyTorch ------------------------------------------------------------------------------------
const env = peerEnv({ OPENBLAS_NUM_THREADS: '2', MALLOC_MMAP_THRESHOLD_: '33554432', MALLOC_TRIM_THRESHOLD_: '4294967296' });
if (SKIP_PEER) console.log('(c) PyTorch peer skipped (LANDSCAPE_BENCH_SKIP_PEER=1)');
else if (probeTorch('(c)')) {
  const out = join(dir, 'loss_torch.npy');
  const r = spawnSync(TORCH_PY, [join(root, 'bench/peers/landscape_torch.py'), '--dir', dir, '--nx', String(G), '--ny', String(G), '--rows', String(PEER_ROWS), '--out', out], {
    encoding: 'utf8', env, cwd: join(root, 'bench/peers'), maxBuffer: 1 << 24, timeout: 3_600_000,
  });
  if (r.status !== 0) console.log(`(c) PyTorch peer failed: ${lastLine(r)}`);
  else {
    const t = JSON.parse(r.stdout);
    results.runs.torch = t;
    const theirs = (await readNpy(out)).data;
    let worst = 0;
    for (let p = 0; p < theirs.length; p++) worst = Math.max(worst, Math.abs(theirs[p] - ours.loss[p]) / Math.abs(theirs[p]));
    results.runs.torch.maxRelativeLossDifference = worst;
    const blas = t.blas.openblas_core ? `OpenBLAS ${t.blas.openblas_core}, ${t.blas.openblas_threads} threads` : t.blas.reference_blas ? 'REFERENCE BLAS (slow: install libopenblas0-pthread)' : t.blas.mapped.join(', ');
    console.log(`(c) PyTorch ${t.torch} CPU (${blas}), Li et al.'s loop over ${t.points} points: ${fmt(t.ms_per_point)} per point = ${((2 * macsPerPoint) / (t.ms_per_point * 1e6)).toFixed(0)} GFLOP/s; largest relative loss difference to riverbed ${worst.toExponential(1)}`);
    // The machine's load drifts during the minutes the peer runs: time riverbed again after it and
    // compare the peer with the mean of the two (each side then sees the same average load).
    const again = await batched(native, 'nativeAfterPeer');
    void again;
    const mean = 0.5 * (results.runs.native.msPerPoint + results.runs.nativeAfterPeer.msPerPoint);
    results.ratio = t.ms_per_point / mean;
    console.log(`    riverbed native batched (mean of before and after the peer, ${fmt(mean)} per point) vs PyTorch: ${results.ratio.toFixed(2)}× faster per grid point (target ≥ 3×)`);
  }
}

// ---- (d) webgpu on a hardware adapter -----------------------------------------------------------------
const gpu = (await backendStatuses()).find((s) => s.name === 'webgpu');
if (gpu?.available && !gpu.software) {
  const be = await createBackend('webgpu');
  await batched(be, 'webgpu');
  console.log(`    webgpu vs native: ${(results.runs.native.msPerPoint / results.runs.webgpu.msPerPoint).toFixed(2)}×`);
  be.dispose();
} else console.log(`(d) webgpu SKIPPED: ${gpu?.available ? 'software adapter (lavapipe), a correctness path' : gpu?.detail ?? 'unavailable'}`);

native.dispose();
writeResults('landscape', results);
