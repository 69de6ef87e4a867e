#!/usr/bin/env node
/**
 * Training benchmark: one epoch over the 60 000 MNIST training images, in one run:
 *
 *  (a) riverbed native, `train()` as the library runs it: the fused step (Backend.mlpTrainSteps,
 *      one addon call per epoch on a libuv worker) and the composed kernel-by-kernel path
 *      (`fused: false`), on
 *        small: MLP 784-128-10 (ReLU), batch 128, SGD momentum 0.9, lr 0.05, cosine schedule;
 *        big:   MLP 784-1024-1024-10 (ReLU), batch 256, the same optimizer and schedule;
 *      the same initial weights (PyTorch's nn.Linear init, seed 1234), data uploaded once.
 *  (b) PyTorch CPU (bench/peers/train_torch.py) on the same weights and data at its best
 *      (DESIGN.md "Fair peers"): tensors in memory, batches by index slicing of a permutation,
 *      optimizer foreach, no anomaly detection, Debian's python3-torch with OpenBLAS,
 *      OPENBLAS_CORETYPE from the CPU; torch.set_num_threads(2) and also (1) with 2 OpenBLAS
 *      threads (the HVP bench's best); the faster of the two is the peer.
 *  (c) the machine's GEMM peak measured now (bench/peers/gemm_numpy.py: numpy float32 2048², 1 and
 *      2 threads, as the HVP bench measures it); GFLOP/s of every epoch against the 2-thread peak.
 *      FLOPs of one epoch (GEMMs only): samples · 2 · (2·Σ_l in_l·out_l + Σ_{l>1} in_l·out_l)
 *      (forward and weight gradients of every layer, input gradients above the first).
 *
 * Each side runs one training of warm-up + repeats epochs (one cosine schedule over the run) per
 * round; rounds alternate between riverbed and PyTorch, and the minimum epoch time over all rounds
 * is reported (the machine is shared: medians are printed too). Prints ratios; writes JSON to
 * bench/results/. Env: TRAIN_BENCH_ROUNDS (default 2), TRAIN_BENCH_REPEATS (epochs timed per
 * round, default 3), TRAIN_BENCH_PROBLEMS=small,big.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TORCH_PY, coretype, dist, gemmPeak, loadLine, machine, median, peerEnv, probeTorch, requireDist, root, writeResults } from './lib.mjs';

requireDist('train/trainer.js');
const { writeNpy, readNpy } = await import(dist('io/npy.js'));
const { writeSafetensors } = await import(dist('io/safetensors.js'));
const { mlpDescription } = await import(dist('model/description.js'));
const { Mlp } = await import(dist('model/mlp.js'));
const { JsBackend } = await import(dist('backends/js/index.js'));
const { createBackend } = await import(dist('backends/select.js'));
const { loadMnistPart } = await import(dist('data/mnist.js'));
const { train } = await import(dist('train/trainer.js'));
const { optimizerConfig } = await import(dist('train/optimizer.js'));

// The single-thread CPU-time measurement of (d) runs riverbed in a child (RIVERBED_THREADS is read
// when the addon loads): it prints one JSON line and exits.
const CHILD = process.env.TRAIN_BENCH_CHILD;
const ROUNDS = Number(process.env.TRAIN_BENCH_ROUNDS ?? 2);
const REPEATS = Number(process.env.TRAIN_BENCH_REPEATS ?? 3);
const WARMUP = 1;
const LR = 0.05;
const MOMENTUM = 0.9;

// Epoch times: whole milliseconds are enough.
const fmt = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);

// ---- data and models (generated once, cached under bench/.data/) -----------------------------------
const dataDir = join(root, 'bench', '.data', 'train-mnist');
if (!existsSync(join(dataDir, 'y.npy'))) {
  mkdirSync(dataDir, { recursive: true });
  const ds = await loadMnistPart('train'); // normalised as riverbed trains on it
  writeNpy(join(dataDir, 'x.npy'), ds.inputs, [ds.count, ds.features]);
  writeNpy(join(dataDir, 'y.npy'), ds.labels, [ds.count], { dtype: 'i4' }); // last: marks a complete set
}
const problems = [
  { name: 'small', hidden: [128], batch: 128 },
  { name: 'big', hidden: [1024, 1024], batch: 256 },
].filter((p) => !process.env.TRAIN_BENCH_PROBLEMS || process.env.TRAIN_BENCH_PROBLEMS.split(',').includes(p.name));
for (const p of problems) {
  p.sizes = [784, ...p.hidden, 10];
  p.description = mlpDescription(784, p.hidden, 10, 'relu');
  p.dir = join(root, 'bench', '.data', `train-${p.sizes.join('-')}`);
  if (!existsSync(join(p.dir, 'weights.safetensors'))) {
    mkdirSync(p.dir, { recursive: true });
    writeFileSync(join(p.dir, 'model.json'), JSON.stringify(p.description));
    await writeSafetensors(join(p.dir, 'weights.safetensors'), await Mlp.init(new JsBackend(), p.description, 1234).toHost());
  }
  let s = 0;
  let above = 0;
  for (let l = 0; l + 1 < p.sizes.length; l++) {
    s += p.sizes[l] * p.sizes[l + 1];
    if (l > 0) above += p.sizes[l] * p.sizes[l + 1];
  }
  p.flopsPerSample = 2 * (2 * s + above);
}
const x = await readNpy(join(dataDir, 'x.npy'), { mmap: false });
const labels = Int32Array.from((await readNpy(join(dataDir, 'y.npy'), { mmap: false })).data, Number);
const samples = labels.length;

const results = {
  benchmark: 'train',
  date: new Date().toISOString(),
  machine: machine({ openblasCoretype: coretype ?? null }),
  samples,
  flopsFormula: 'samples · 2 · (2·Σ_l in_l·out_l + Σ_{l>1} in_l·out_l) (GEMMs only)',
  rounds: ROUNDS,
  epochsTimedPerRound: REPEATS,
  problems: {},
};
if (!CHILD) console.log(`Training benchmark: ${cpus()[0]?.model}, ${cpus().length} cores, ${loadLine()}; MNIST train ${samples} images; OPENBLAS_CORETYPE=${coretype ?? '(left to OpenBLAS)'}`);

// ---- (c) GEMM peak ---------------------------------------------------------------------------------
results.gemm = CHILD ? {} : gemmPeak('(c)');
const peak = results.gemm[2]?.gflops;
const pct = (gflops) => (peak ? ` = ${((100 * gflops) / peak).toFixed(0)} % of the 2-thread GEMM peak` : '');

// ---- (b) PyTorch -----------------------------------------------------------------------------------
const torchOk = !CHILD && probeTorch('(b)');
// set_num_threads(1) first: on a busy machine OpenMP's spinning makes (2) far slower, and its run
// is given up past 3× the time (1) took (then it is not PyTorch at its best).
const TORCH_CONFIGS = [
  { threads: 1, openblas: 2 },
  { threads: 2, openblas: 2 },
];
function runTorch(p, cfg, timeoutMs = 20 * 60_000) {
  const args = [
    join(root, 'bench/peers/train_torch.py'), '--dir', p.dir, '--data', dataDir, '--batch', String(p.batch),
    '--lr', String(LR), '--momentum', String(MOMENTUM), '--repeats', String(REPEATS), '--warmup', String(WARMUP), '--threads', String(cfg.threads),
  ];
  const env = peerEnv({ OPENBLAS_NUM_THREADS: String(cfg.openblas), MALLOC_MMAP_THRESHOLD_: '33554432', MALLOC_TRIM_THRESHOLD_: '4294967296' });
  // On a busy machine OpenMP's spinning threads can make one epoch take minutes: bounded.
  const t0 = performance.now();
  const r = spawnSync(TORCH_PY, args, { encoding: 'utf8', env, maxBuffer: 1 << 24, timeout: timeoutMs });
  const wallMs = performance.now() - t0;
  if (r.status !== 0) return { failed: r.error?.code === 'ETIMEDOUT' ? `gave up after ${fmt(timeoutMs)}` : (r.stderr || r.error?.message || '').trim().split('\n').pop(), wallMs };
  return { ...JSON.parse(r.stdout), wallMs };
}

// ---- (a) riverbed ----------------------------------------------------------------------------------
let native;
try {
  native = await createBackend('native');
} catch (err) {
  console.log(`(a) riverbed native unavailable: ${err.message ?? err}`);
}
const xt = native?.upload(x.data, x.shape);

/** One training of WARMUP + REPEATS epochs; the time of each epoch (between onEpoch calls). */
async function runRiverbed(p, fused) {
  const model = await Mlp.load(native, p.description, join(p.dir, 'weights.safetensors'));
  const ends = [];
  const cpuEnds = [];
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const res = await train(model, { x: xt, labels }, {
    epochs: WARMUP + REPEATS,
    batchSize: p.batch,
    optimizer: optimizerConfig('sgd', { lr: LR, momentum: MOMENTUM }),
    schedule: { name: 'cosine', warmupSteps: 0 },
    seed: 1,
    fused,
    onEpoch: () => {
      ends.push(performance.now());
      const c = process.cpuUsage(c0);
      cpuEnds.push((c.user + c.system) / 1000);
    },
  });
  model.dispose();
  const times = ends.map((t, i) => t - (i === 0 ? t0 : ends[i - 1]));
  const cpu = cpuEnds.map((t, i) => t - (i === 0 ? 0 : cpuEnds[i - 1]));
  return { times: times.slice(WARMUP), cpu: cpu.slice(WARMUP), epochLoss: res.epochLoss };
}

if (CHILD) {
  const p = problems.find((q) => q.name === CHILD);
  const r = await runRiverbed(p, true);
  process.stdout.write(JSON.stringify(r) + '\n');
  process.exit(0);
}

for (const p of problems) {
  const flops = p.flopsPerSample * samples;
  const res = { sizes: p.sizes, batch: p.batch, optimizer: `sgd lr ${LR} momentum ${MOMENTUM}, cosine`, gflopPerEpoch: flops / 1e9, torch: {}, riverbed: {} };
  results.problems[p.name] = res;
  console.log(`\n${p.name}: MLP ${p.sizes.join('-')} (ReLU), batch ${p.batch}, SGD momentum ${MOMENTUM}, cosine; ${(flops / 1e9).toFixed(1)} GFLOP per epoch`);
  const torchRuns = TORCH_CONFIGS.map(() => []);
  const rb = { fused: [], composed: [] };
  const losses = {};
  for (let round = 0; round < ROUNDS; round++) {
    if (native) {
      for (const mode of ['fused', 'composed']) {
        const r = await runRiverbed(p, mode === 'fused');
        rb[mode].push(...r.times);
        losses[mode] = r.epochLoss;
      }
    }
    if (torchOk) {
      let firstWall = 0;
      TORCH_CONFIGS.forEach((cfg, k) => {
        const t = runTorch(p, cfg, k === 0 ? 20 * 60_000 : Math.round(Math.max(60_000, 3 * firstWall)));
        if (k === 0) firstWall = t.wallMs;
        if (t.failed) console.log(`  (b) PyTorch peer failed (${JSON.stringify(cfg)}): ${t.failed}`);
        else {
          torchRuns[k].push(...t.all_ms);
          res.torch.version = t.torch;
          res.torch.blas = t.blas;
          losses[`torch ${cfg.threads}`] = t.epoch_loss;
        }
      });
    }
  }
  let torchBest;
  TORCH_CONFIGS.forEach((cfg, k) => {
    const ms = torchRuns[k];
    if (!ms.length) return;
    const e = { config: `torch.set_num_threads(${cfg.threads}), OPENBLAS_NUM_THREADS=${cfg.openblas}`, threads: cfg.threads, min_ms: Math.min(...ms), median_ms: median(ms), epochs: ms.length };
    res.torch[`threads${cfg.threads}`] = e;
    const gf = flops / 1e6 / e.min_ms;
    console.log(`  (b) PyTorch ${res.torch.version} CPU, ${e.config}: ${fmt(e.min_ms)} per epoch (median ${fmt(e.median_ms)}, ${ms.length} epochs) → ${gf.toFixed(0)} GFLOP/s${pct(gf)}`);
    if (!torchBest || e.min_ms < torchBest.min_ms) torchBest = e;
  });
  if (torchBest) {
    res.torch.best = torchBest;
    const b = res.torch.blas;
    const tl = losses[`torch ${torchBest.threads}`];
    console.log(`      BLAS: ${b?.reference_blas ? 'REFERENCE (not a fair peer!)' : `OpenBLAS core ${b?.openblas_core}`}; epoch losses ${tl?.map((v) => v.toFixed(4)).join(', ')}`);
  }
  for (const mode of ['fused', 'composed']) {
    const ms = rb[mode];
    if (!ms.length) continue;
    const e = { min_ms: Math.min(...ms), median_ms: median(ms), epochs: ms.length, epochLoss: losses[mode] };
    e.gflops = flops / 1e6 / e.min_ms;
    if (torchBest) e.vsTorchBest = torchBest.min_ms / e.min_ms;
    if (peak) e.fractionOfPeak = e.gflops / peak;
    res.riverbed[mode] = e;
    const vs = torchBest ? `; ${e.vsTorchBest.toFixed(2)}× PyTorch at its best` : '';
    const label = mode === 'fused' ? 'fused step (1 call/epoch)' : 'composed kernels       ';
    console.log(
      `  (a) riverbed native ${label}: ${fmt(e.min_ms)} per epoch (median ${fmt(e.median_ms)}, ${ms.length} epochs) → ${e.gflops.toFixed(0)} GFLOP/s${pct(e.gflops)}${vs}; epoch losses ${e.epochLoss.map((v) => v.toFixed(4)).join(', ')}`,
    );
  }
  // (d) One thread each, CPU time per epoch: the work itself, which a busy machine distorts far
  // less than wall time (other processes delay a thread; they do not add to its CPU time).
  if (native && process.env.TRAIN_BENCH_SINGLE !== '0') {
    const rbCpu = [];
    const torchCpu = [];
    for (let round = 0; round < ROUNDS; round++) {
      const c = spawnSync(process.execPath, [fileURLToPath(import.meta.url)], {
        encoding: 'utf8', env: { ...process.env, TRAIN_BENCH_CHILD: p.name, RIVERBED_THREADS: '1' }, maxBuffer: 1 << 24, timeout: 20 * 60_000,
      });
      if (c.status === 0) rbCpu.push(...JSON.parse(c.stdout.trim().split('\n').pop()).cpu);
      else console.log(`  (d) riverbed single-thread run failed: ${(c.stderr || c.error?.message || '').trim().split('\n').pop()}`);
      if (torchOk) {
        const t = runTorch(p, { threads: 1, openblas: 1 });
        if (t.failed) console.log(`  (d) PyTorch single-thread run failed: ${t.failed}`);
        else torchCpu.push(...t.cpu_ms);
      }
    }
    if (rbCpu.length) {
      const d = { riverbedFusedCpuMs: Math.min(...rbCpu), torchCpuMs: torchCpu.length ? Math.min(...torchCpu) : null };
      d.ratio = d.torchCpuMs ? d.torchCpuMs / d.riverbedFusedCpuMs : null;
      res.singleThreadCpu = d;
      const gf = flops / 1e6 / d.riverbedFusedCpuMs;
      const g1 = results.gemm[1]?.gflops_cpu ?? results.gemm[1]?.gflops;
      console.log(
        `  (d) one thread each, CPU time per epoch (min): riverbed fused ${fmt(d.riverbedFusedCpuMs)} (${gf.toFixed(0)} GFLOP/s${g1 ? ` = ${((100 * gf) / g1).toFixed(0)} % of the 1-thread GEMM peak per CPU second` : ''})` +
          (d.torchCpuMs ? `, PyTorch ${fmt(d.torchCpuMs)} → ${d.ratio.toFixed(2)}×` : ''),
      );
    }
  }
}

native?.dispose();
writeResults('train', results);
