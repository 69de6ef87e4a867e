#!/usr/bin/env node
/**
 * Bisimulation-loss benchmark (issue 11 §5): the loss of a batch paired by a random permutation,
 * its per-pair terms and the gradient w.r.t. the embeddings z (the target constant), on three sizes
 *   dbc:    B = 512,    D = E = 50  (DBC's encoder_feature_dim; the op's everyday size)
 *   mid:    B = 4 096,  D = E = 256
 *   stream: B = 65 536, D = E = 128 (32 MiB per [B, D] array: past the last-level cache)
 * in one run:
 *
 *  (a) riverbed native through the Backend (`bisimulationLoss`, argument checks and the O(B)
 *      permutation check included), in a child process with the default threads and one with
 *      RIVERBED_THREADS=1;
 *  (b) peers (bench/peers/bisim_peers.py) on the same inputs (.npy files written here): numpy
 *      vectorised with a hand-written gradient (1 thread), PyTorch CPU as DBC's code writes it
 *      (h[perm], target under no_grad, autograd backward) and PyTorch with the hand-written gradient
 *      (no autograd), at 1 and 2 threads; the best peer at each setting is the one compared;
 *  (c) the machine's streaming read bandwidth measured now (the addon's vectorised sum over 256 MiB)
 *      with the same threads: the op must read z, μ, σ, r and the pairing and write grad and terms
 *      at least once, 4·B·(2D + 2E + 3) bytes; that over the time is its effective bandwidth.
 *
 * Rounds alternate riverbed and the peers; minimum times over all rounds are compared (medians are
 * printed too), and the one-thread CPU time of each side — which other processes on a loaded machine
 * distort far less than wall time. Ratios are peer ÷ riverbed (> 1: riverbed faster). Every peer's
 * loss and gradient is checked against riverbed's. Writes JSON to bench/results/.
 * Env: BISIM_BENCH_ROUNDS (default 3).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TORCH_PY, cpuMs, dist, fmt, loadLine, machine, median, peerEnv, probeTorch, rand, relErr, requireDist, root, runPeer, writeResults } from './lib.mjs';

requireDist('backends/select.js');
const { writeNpy, readNpy } = await import(dist('io/npy.js'));
const { Rng } = await import(dist('model/rng.js'));

const ROUNDS = Number(process.env.BISIM_BENCH_ROUNDS ?? 3);
const GAMMA = 0.99;
const SIZES = [
  { name: 'dbc', b: 512, d: 50, e: 50, samples: 15 },
  { name: 'mid', b: 4096, d: 256, e: 256, samples: 15 },
  { name: 'stream', b: 65_536, d: 128, e: 128, samples: 10 },
];
const dataDir = (s) => join(root, 'bench', '.data', 'bisim', s.name);

/** The inputs of a size, the same in the parent (for the peers) and the child. */
function inputs(s, k) {
  return {
    z: rand(s.b * s.d, 1 + k),
    reward: rand(s.b, 2 + k),
    mu: rand(s.b * s.e, 3 + k),
    sigma: rand(s.b * s.e, 4 + k).map((v) => v + 0.6),
    perm: new Rng(5 + k).permutation(s.b),
  };
}
/**
 * Min / median wall time and min CPU time per call of `fn`: `samples` samples of `inner` calls each,
 * `inner` sized so that a sample takes ≥ 20 ms — CPU time is accounted in clock ticks, too coarse
 * for one call of tens of µs (bench/peers/bisim_peers.py times the same way).
 */
function timeCalls(fn, samples) {
  for (let i = 0; i < 3; i++) fn();
  const t0 = performance.now();
  fn();
  const inner = Math.max(1, Math.ceil(20 / Math.max(performance.now() - t0, 1e-3)));
  const wall = [];
  const cpu = [];
  for (let k = 0; k < samples; k++) {
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    for (let i = 0; i < inner; i++) fn();
    wall.push((performance.now() - w0) / inner);
    cpu.push(cpuMs(c0) / inner);
  }
  return { min_ms: Math.min(...wall), median_ms: median(wall), cpu_min_ms: Math.min(...cpu), inner };
}
/** Bytes the op must move at least: read z, μ, σ, r (and the pairing), write grad and terms. */
const minBytes = (s) => 4 * s.b * (s.d + 2 * s.e + 1) + 4 * s.b + 4 * s.b * (s.d + 1);

// ---- (a) riverbed, in a child process (RIVERBED_THREADS as the parent sets it) ---------------------
if (process.env.BISIM_BENCH_CHILD === '1') {
  const { createBackend } = await import(dist('backends/select.js'));
  const { nativeSumBandwidth } = await import(dist('backends/native/host.js'));
  const be = await createBackend('native');
  const out = { threads: be.info().threads, sizes: {} };
  SIZES.forEach((s, k) => {
    const x = inputs(s, 10 * k);
    const z = be.upload(x.z, [s.b, s.d]);
    const reward = be.upload(x.reward, [s.b]);
    const mu = be.upload(x.mu, [s.b, s.e]);
    const sigma = be.upload(x.sigma, [s.b, s.e]);
    const call = () => be.bisimulationLoss(z, reward, mu, sigma, x.perm, GAMMA);
    const t = timeCalls(() => {
      const r = call();
      be.free(r.loss);
      be.free(r.terms);
      be.free(r.grad);
    }, s.samples);
    const r = call();
    writeNpy(join(dataDir(s), `grad-riverbed-${out.threads}.npy`), r.grad.data, [s.b, s.d]);
    out.sizes[s.name] = { ...t, loss: r.loss.data[0] };
  });
  const big = rand(64 * 2 ** 20, 9);
  const ts = [];
  for (let i = 0; i < 6; i++) {
    const t0 = performance.now();
    nativeSumBandwidth(big);
    ts.push(performance.now() - t0);
  }
  out.streamGBs = (big.length * 4) / (Math.min(...ts.slice(1)) / 1000) / 1e9;
  be.dispose();
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(0);
}

// ---- the parent -------------------------------------------------------------------------------------
const results = { benchmark: 'bisim', date: new Date().toISOString(), machine: machine(), gamma: GAMMA, rounds: ROUNDS, sizes: {} };
console.log(`Bisimulation-loss benchmark: ${loadLine()}; ${ROUNDS} rounds`);
SIZES.forEach((s, k) => {
  mkdirSync(dataDir(s), { recursive: true });
  const x = inputs(s, 10 * k);
  writeNpy(join(dataDir(s), 'z.npy'), x.z, [s.b, s.d]);
  writeNpy(join(dataDir(s), 'reward.npy'), x.reward, [s.b]);
  writeNpy(join(dataDir(s), 'mu.npy'), x.mu, [s.b, s.e]);
  writeNpy(join(dataDir(s), 'sigma.npy'), x.sigma, [s.b, s.e]);
  writeNpy(join(dataDir(s), 'perm.npy'), x.perm, [s.b]);
});
const torchOk = probeTorch('(b)');
const PEERS = [
  { impl: 'numpy', threads: 1, py: 'python3' },
  ...(torchOk ? [1, 2].flatMap((threads) => [{ impl: 'torch', threads, py: TORCH_PY }, { impl: 'torch-manual', threads, py: TORCH_PY }]) : []),
];
const threadEnv = (t) => ({ OMP_NUM_THREADS: String(t), OPENBLAS_NUM_THREADS: String(t), MKL_NUM_THREADS: String(t) });

const rb = { multi: [], single: [] };
const peers = Object.fromEntries(SIZES.map((s) => [s.name, PEERS.map(() => [])]));
for (let round = 0; round < ROUNDS; round++) {
  for (const [key, threads] of [['multi', undefined], ['single', 1]]) {
    const env = { ...process.env, BISIM_BENCH_CHILD: '1' };
    if (threads) env.RIVERBED_THREADS = String(threads);
    else delete env.RIVERBED_THREADS;
    const r = runPeer(process.execPath, [fileURLToPath(import.meta.url)], { env });
    if (r.failed) console.log(`(a) riverbed run failed: ${r.failed}`);
    else rb[key].push(r);
  }
  for (const s of SIZES) {
    PEERS.forEach((p, i) => {
      const r = runPeer(p.py, [join(root, 'bench/peers/bisim_peers.py'), '--dir', dataDir(s), '--impl', p.impl, '--threads', String(p.threads), '--gamma', String(GAMMA), '--samples', String(s.samples)], {
        env: peerEnv(threadEnv(p.threads)),
      });
      if (r.failed) console.log(`(b) ${p.impl} ${p.threads} thread(s) ${s.name} failed: ${r.failed}`);
      else peers[s.name][i].push(r);
    });
  }
}
if (rb.multi.length === 0 || rb.single.length === 0) {
  console.log('(a) riverbed native unavailable: no run succeeded');
  process.exit(1);
}
const stream = { multi: Math.max(...rb.multi.map((r) => r.streamGBs)), single: Math.max(...rb.single.map((r) => r.streamGBs)) };
results.streamGBs = stream;
console.log(`(c) streaming read: ${stream.multi.toFixed(1)} GB/s with ${rb.multi[0].threads} threads, ${stream.single.toFixed(1)} GB/s with 1`);

/** Min over runs of min_ms / cpu_min_ms, median of medians. */
const agg = (runs) => ({ min_ms: Math.min(...runs.map((r) => r.min_ms)), median_ms: median(runs.map((r) => r.median_ms)), cpu_min_ms: Math.min(...runs.map((r) => r.cpu_min_ms)) });
for (const s of SIZES) {
  const bytes = minBytes(s);
  const multi = agg(rb.multi.map((r) => r.sizes[s.name]));
  const single = agg(rb.single.map((r) => r.sizes[s.name]));
  const loss = rb.multi[0].sizes[s.name].loss;
  const gbs = (ms) => bytes / (ms / 1000) / 1e9;
  const res = { ...s, minBytes: bytes, riverbed: { threads: rb.multi[0].threads, multi, single, loss }, peers: {} };
  console.log(`\n${s.name}: B = ${s.b}, D = ${s.d}, E = ${s.e} (${(bytes / 2 ** 20).toFixed(1)} MiB to move at least)`);
  console.log(
    `  (a) riverbed native, ${rb.multi[0].threads} threads: ${fmt(multi.min_ms)} (median ${fmt(multi.median_ms)}), ${gbs(multi.min_ms).toFixed(1)} GB/s = ${((100 * gbs(multi.min_ms)) / stream.multi).toFixed(0)} % of the stream; ` +
      `1 thread: ${fmt(single.min_ms)} wall, ${fmt(single.cpu_min_ms)} CPU, ${((100 * gbs(single.min_ms)) / stream.single).toFixed(0)} % of the 1-thread stream`,
  );
  const gradRb = (await readNpy(join(dataDir(s), `grad-riverbed-${rb.multi[0].threads}.npy`), { mmap: false })).data;
  let bestWall;
  let bestCpu1;
  for (const [i, p] of PEERS.entries()) {
    const runs = peers[s.name][i];
    if (runs.length === 0) continue;
    const a = agg(runs);
    const g = await readNpy(join(dataDir(s), `grad-${p.impl}.npy`), { mmap: false });
    const lossErr = Math.abs(runs[0].loss - loss) / Math.abs(loss);
    const gradErr = relErr(g.data, gradRb);
    res.peers[`${p.impl}-${p.threads}`] = { ...a, loss: runs[0].loss, lossRelErr: lossErr, gradRelErr: gradErr, version: runs[0].torch ?? runs[0].numpy };
    console.log(
      `  (b) ${p.impl.padEnd(12)} ${p.threads} thread(s): ${fmt(a.min_ms)} (median ${fmt(a.median_ms)}), CPU ${fmt(a.cpu_min_ms)}; ` +
        `vs riverbed: wall ${(a.min_ms / multi.min_ms).toFixed(2)}×${p.threads === 1 ? `, 1-thread CPU ${(a.cpu_min_ms / single.cpu_min_ms).toFixed(2)}×` : ''}; loss rel. diff ${lossErr.toExponential(1)}, grad ${gradErr.toExponential(1)}`,
    );
    if (!bestWall || a.min_ms < bestWall.ms) bestWall = { ms: a.min_ms, who: `${p.impl} ${p.threads}t` };
    if (p.threads === 1 && (!bestCpu1 || a.cpu_min_ms < bestCpu1.ms)) bestCpu1 = { ms: a.cpu_min_ms, who: p.impl };
  }
  if (bestWall) {
    res.ratios = { wall: bestWall.ms / multi.min_ms, cpu1: bestCpu1.ms / single.cpu_min_ms, bestWall: bestWall.who, bestCpu1: bestCpu1.who };
    console.log(
      `  => best peer ÷ riverbed: one-thread CPU time ${res.ratios.cpu1.toFixed(2)}× (${bestCpu1.who}), wall at its best ${res.ratios.wall.toFixed(2)}× (${bestWall.who})`,
    );
  }
  results.sizes[s.name] = res;
}
results.machine = machine();
writeResults('bisim', results);
