#!/usr/bin/env node
/**
 * CNN benchmark (issue 12): the issue's MNIST CNN
 *   conv(1→32, 3×3, pad 1)–ReLU–maxpool 2–conv(32→64, 3×3, pad 1)–ReLU–maxpool 2–flatten–
 *   linear(3136→128)–ReLU–linear(128→10)   (examples/cnn.json)
 * on the same initial weights (PyTorch's default init, seed 1234) and the same real MNIST digits:
 *
 *  (a) training, batch 128, SGD momentum 0.9, lr 0.05, cosine: riverbed native through `train()`
 *      exactly as `riverbed train --model examples/cnn.json` runs it (the composed kernel-by-kernel
 *      path: a CNN has no fused step), against PyTorch CPU (bench/peers/cnn_torch.py) at its best:
 *      torch.set_num_threads(2) and (1), OpenBLAS 2 threads, oneDNN on/off × NCHW/channels_last
 *      probed on a few steps and the fastest timed, zero_grad(set_to_none=True), SGD foreach, no
 *      anomaly detection. An epoch is CNN_BENCH_SAMPLES digits (default 60 000: a whole MNIST
 *      epoch); a smaller value times the first N digits and the report says so.
 *  (b) the Hessian-vector product of the mean cross-entropy on a batch of 256 MNIST test digits:
 *      riverbed's CurvatureProduct ("fresh": forward, backward, R-forward, R-backward each call;
 *      "cached": the forward/backward kept, as Lanczos uses it) against PyTorch's best of double
 *      backward (autograd.grad with create_graph) and forward-over-reverse (torch.func /
 *      functorch jvp of grad), each probed over oneDNN × memory format; riverbed's product is
 *      judged against PyTorch's in float64.
 *  (c) the machine's GEMM peak measured in the same run (numpy float32 2048², 1 and 2 threads);
 *      GFLOP/s of a training step and of an HVP against it. FLOPs count the GEMM-shaped products
 *      only (convolutions as im2col GEMMs): per sample and parameter layer l with MACs m_l,
 *        training step  2·Σ_l m_l·(2, or 3 above the first layer)   (forward, weight grad, input grad)
 *        HVP            2·Σ_l m_l·(3 for the first layer, 8 above)   (as bench/hvp.bench.mjs)
 *  (d) one thread each, CPU time (RIVERBED_THREADS=1; set_num_threads(1) with OpenBLAS 1 thread,
 *      PyTorch's variants ranked by CPU time): the work itself, which a loaded machine distorts far
 *      less than wall time. Training on the first CNN_BENCH_SINGLE_SAMPLES digits (default 10 000).
 *      Then each side at its best of all its runs, wall time (per 10 000 digits for training).
 *
 * Ratios are PyTorch ÷ riverbed (> 1: riverbed faster). The machine's load (`uptime`) is printed
 * at the start and the end. riverbed runs in child processes (RIVERBED_THREADS is read when the
 * addon loads). Writes JSON to bench/results/. Env: CNN_BENCH_SAMPLES, CNN_BENCH_SINGLE_SAMPLES,
 * CNN_BENCH_EPOCHS (timed epochs per run, default 1), CNN_BENCH_HVP_REPEATS (default 5),
 * CNN_BENCH_PARTS=train,hvp.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TORCH_PY, coretype, cpuMs, dist, fmt, gemmPeak, loadLine, machine, median, peerEnv, probeTorch, rand, relErr, requireDist, root, runPeer, writeResults } from './lib.mjs';

requireDist('train/trainer.js');
const { writeNpy, readNpy } = await import(dist('io/npy.js'));
const { writeSafetensors } = await import(dist('io/safetensors.js'));
const { parseModelDescription } = await import(dist('model/description.js'));
const { Mlp } = await import(dist('model/mlp.js'));
const { CurvatureProduct } = await import(dist('model/hvp.js'));
const { JsBackend } = await import(dist('backends/js/index.js'));
const { createBackend } = await import(dist('backends/select.js'));
const { loadMnistPart } = await import(dist('data/mnist.js'));
const { train } = await import(dist('train/trainer.js'));
const { optimizerConfig } = await import(dist('train/optimizer.js'));

const CHILD = process.env.CNN_BENCH_CHILD; // 'train' | 'hvp': one riverbed measurement, one JSON line
const SAMPLES = Number(process.env.CNN_BENCH_SAMPLES ?? 60_000);
const SINGLE_SAMPLES = Math.min(SAMPLES, Number(process.env.CNN_BENCH_SINGLE_SAMPLES ?? 10_000));
const EPOCHS = Number(process.env.CNN_BENCH_EPOCHS ?? 1);
const HVP_REPEATS = Number(process.env.CNN_BENCH_HVP_REPEATS ?? 5);
const PARTS = (process.env.CNN_BENCH_PARTS ?? 'train,hvp').split(',');
const BATCH = 128;
const HVP_BATCH = 256;
const LR = 0.05;
const MOMENTUM = 0.9;
const WARMUP_STEPS = 5;

// ---- the model, data and HVP problem (written once under bench/.data/) ---------------------------------
const desc = parseModelDescription(JSON.parse(readFileSync(join(root, 'examples', 'cnn.json'), 'utf8')), 'examples/cnn.json');
const modelDir = join(root, 'bench', '.data', 'cnn');
const dataDir = join(root, 'bench', '.data', 'cnn-mnist-train');
const hvpDir = join(root, 'bench', '.data', `cnn-hvp-B${HVP_BATCH}`);
if (!CHILD) {
  if (!existsSync(join(modelDir, 'weights.safetensors'))) {
    mkdirSync(modelDir, { recursive: true });
    writeFileSync(join(modelDir, 'model.json'), JSON.stringify(desc));
    await writeSafetensors(join(modelDir, 'weights.safetensors'), await Mlp.init(new JsBackend(), desc, 1234).toHost());
  }
  if (!existsSync(join(dataDir, 'y.npy'))) {
    mkdirSync(dataDir, { recursive: true });
    const ds = await loadMnistPart('train'); // normalised as riverbed trains on it
    writeNpy(join(dataDir, 'x.npy'), ds.inputs, [ds.count, ds.features]);
    writeNpy(join(dataDir, 'y.npy'), ds.labels, [ds.count], { dtype: 'i4' }); // last: marks a complete set
  }
  if (!existsSync(join(hvpDir, 'v.npy'))) {
    mkdirSync(hvpDir, { recursive: true });
    writeFileSync(join(hvpDir, 'model.json'), JSON.stringify(desc));
    writeFileSync(join(hvpDir, 'weights.safetensors'), readFileSync(join(modelDir, 'weights.safetensors')));
    const t10k = await loadMnistPart('t10k');
    writeNpy(join(hvpDir, 'x.npy'), t10k.inputs.subarray(0, HVP_BATCH * 784), [HVP_BATCH, 784]);
    writeNpy(join(hvpDir, 'y.npy'), t10k.labels.subarray(0, HVP_BATCH), [HVP_BATCH], { dtype: 'i4' });
    const params = desc.layers.reduce((a, l) => a + (l.type === 'linear' ? l.out * (l.in + 1) : l.type === 'conv2d' ? l.out * (l.in * l.kernel[0] * l.kernel[1] + 1) : 0), 0);
    writeNpy(join(hvpDir, 'v.npy'), rand(params, 7), [params]); // last: marks a complete set
  }
}

/** MACs per sample of every layer with parameters (convolutions: O·OH·OW·C·KH·KW). */
function layerMacs() {
  const out = [];
  let shape = [...desc.input];
  for (const l of desc.layers) {
    if (l.type === 'conv2d' || l.type === 'maxpool2d' || l.type === 'avgpool2d') {
      const [c, h, w] = shape;
      const oh = Math.floor((h + 2 * l.padding[0] - l.kernel[0]) / l.stride[0]) + 1;
      const ow = Math.floor((w + 2 * l.padding[1] - l.kernel[1]) / l.stride[1]) + 1;
      if (l.type === 'conv2d') out.push(l.out * oh * ow * c * l.kernel[0] * l.kernel[1]);
      shape = [l.type === 'conv2d' ? l.out : c, oh, ow];
    } else if (l.type === 'flatten') shape = [shape.reduce((a, b) => a * b, 1)];
    else if (l.type === 'linear') {
      out.push(l.in * l.out);
      shape = [l.out];
    }
  }
  return out;
}
const macs = layerMacs();
const stepFlopsPerSample = 2 * macs.reduce((a, m, l) => a + m * (l === 0 ? 2 : 3), 0);
const hvpFlops = 2 * HVP_BATCH * macs.reduce((a, m, l) => a + m * (l === 0 ? 3 : 8), 0);

// ---- (a, b) riverbed, in a child process --------------------------------------------------------------------
if (CHILD === 'train') {
  const samples = Number(process.env.CNN_BENCH_CHILD_SAMPLES);
  const be = await createBackend('native');
  const x = await readNpy(join(dataDir, 'x.npy'), { mmap: false });
  const labels = Int32Array.from((await readNpy(join(dataDir, 'y.npy'), { mmap: false })).data, Number);
  const xt = be.upload(x.data.subarray(0, samples * 784), [samples, 784]);
  const rows = Int32Array.from({ length: samples }, (_, i) => i);
  const options = (epochs, onEpoch) => ({
    epochs, batchSize: BATCH, optimizer: optimizerConfig('sgd', { lr: LR, momentum: MOMENTUM }), schedule: { name: 'cosine', warmupSteps: 0 }, seed: 1, onEpoch,
  });
  // Warm-up: a few steps on a model of its own (the addon's array pool filled, code paths hot).
  const warm = await Mlp.load(be, desc, join(modelDir, 'weights.safetensors'));
  await train(warm, { x: xt, labels, rows: rows.subarray(0, WARMUP_STEPS * BATCH) }, options(1));
  warm.dispose();
  const model = await Mlp.load(be, desc, join(modelDir, 'weights.safetensors'));
  const wall = [];
  const cpu = [];
  let t0 = performance.now();
  let c0 = process.cpuUsage();
  const res = await train(model, { x: xt, labels, rows }, options(EPOCHS, () => {
    wall.push(performance.now() - t0);
    cpu.push(cpuMs(c0));
    t0 = performance.now();
    c0 = process.cpuUsage();
  }));
  process.stdout.write(JSON.stringify({ threads: be.info().threads, samples, epoch_ms: wall, epoch_cpu_ms: cpu, epoch_loss: res.epochLoss }) + '\n');
  process.exit(0);
}
if (CHILD === 'hvp') {
  const be = await createBackend('native');
  const x = await readNpy(join(hvpDir, 'x.npy'), { mmap: false });
  const y = Int32Array.from((await readNpy(join(hvpDir, 'y.npy'), { mmap: false })).data, Number);
  const v = (await readNpy(join(hvpDir, 'v.npy'), { mmap: false })).data;
  const model = await Mlp.load(be, desc, join(hvpDir, 'weights.safetensors'));
  const batch = { x: be.upload(x.data, x.shape), labels: be.uploadInt(y, [y.length]) };
  const vt = be.upload(v, [v.length]);
  const out = { threads: be.info().threads };
  for (const mode of process.env.CNN_BENCH_HVP_MODES.split(',')) {
    const product = new CurvatureProduct(model, [batch], { kind: 'hessian', cache: mode === 'cached' });
    let hv = product.apply(vt); // warm-up (cached: the forward/backward kept from here on)
    await be.sync();
    const wall = [];
    const cpu = [];
    for (let r = 0; r < HVP_REPEATS; r++) {
      be.free(hv);
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      hv = product.apply(vt);
      await be.sync();
      wall.push(performance.now() - t0);
      cpu.push(cpuMs(c0));
    }
    if (mode === 'fresh' && process.env.CNN_BENCH_HV_OUT) writeNpy(process.env.CNN_BENCH_HV_OUT, await be.read(hv), [v.length]);
    be.free(hv);
    product.dispose();
    out[mode] = { min_ms: Math.min(...wall), median_ms: median(wall), cpu_min_ms: Math.min(...cpu) };
  }
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(0);
}

/** A riverbed child: `what` with RIVERBED_THREADS=threads (undefined: the addon's default). */
function riverbed(what, threads, extra = {}) {
  const env = { ...process.env, CNN_BENCH_CHILD: what, ...extra };
  if (threads) env.RIVERBED_THREADS = String(threads);
  else delete env.RIVERBED_THREADS;
  return runPeer(process.execPath, [fileURLToPath(import.meta.url)], { env, timeout: 60 * 60_000 });
}
const torchRun = (args, threads, openblas, timeout = 60 * 60_000) =>
  runPeer(TORCH_PY, [join(root, 'bench/peers/cnn_torch.py'), '--dir', args.dir, ...args.rest, '--threads', String(threads)], {
    env: peerEnv({ OPENBLAS_NUM_THREADS: String(openblas), OMP_NUM_THREADS: String(threads) }),
    timeout,
  });
/** Past the first configuration, a run is given up at 3× the first one's time (at least a minute). */
const budget = (first) => (first ? Math.round(Math.max(60_000, 3 * first.wallMs)) : undefined);
const variant = (p) => `oneDNN ${p.mkldnn ? 'on' : 'off'}, ${p.channels_last ? 'channels_last' : 'NCHW'}${p.method ? `, ${p.method === 'jvp' ? 'jvp of grad' : 'double backward'}` : ''}`;

// ---- the run --------------------------------------------------------------------------------------------
const results = {
  benchmark: 'cnn',
  date: new Date().toISOString(),
  machine: machine({ openblasCoretype: coretype ?? null }),
  model: 'examples/cnn.json',
  layerMacsPerSample: macs,
  flopsFormula: { trainStepPerSample: '2·Σ_l m_l·(2 first layer, 3 above)', hvp: '2·B·Σ_l m_l·(3 first layer, 8 above)' },
  train: {},
  hvp: {},
};
console.log(`CNN benchmark (examples/cnn.json): ${cpus()[0]?.model}, ${cpus().length} cores; at the start ${loadLine()}`);
const gemm = gemmPeak('(c)');
results.gemm = gemm;
const peak2 = gemm[2]?.gflops;
const peak1cpu = gemm[1]?.gflops_cpu;
const pct = (gflops, peak, what) => (peak ? ` = ${((100 * gflops) / peak).toFixed(0)} % of the ${what}` : '');
const torchOk = probeTorch('(a, b)');
// PyTorch at its best: intra-op threads 1 and 2, OpenBLAS on 2 threads (the training bench's best for
// the linear layers); one thread of everything for the CPU-time comparison. set_num_threads(1) runs
// first: on a busy machine OpenMP's spinning can make (2) many times slower, and its run is given up
// past 3× the time (1) took (then it is not PyTorch at its best).
const TORCH_WALL = [
  { threads: 1, openblas: 2 },
  { threads: 2, openblas: 2 },
];

if (PARTS.includes('train')) {
  const flops = stepFlopsPerSample * SAMPLES;
  const scaled = SAMPLES === 60_000 ? 'a whole MNIST epoch' : `the first ${SAMPLES} MNIST training digits (an epoch would be ${(60_000 / SAMPLES).toFixed(2)}× this)`;
  console.log(`\n(a) training: ${scaled}, batch ${BATCH}, SGD momentum ${MOMENTUM}, lr ${LR}, cosine; ${(flops / 1e9).toFixed(0)} GFLOP (${(stepFlopsPerSample / 1e6).toFixed(1)} MFLOP per sample)`);
  const res = { samples: SAMPLES, batch: BATCH, gflop: flops / 1e9, torch: {} };
  results.train = res;
  const rb = riverbed('train', undefined, { CNN_BENCH_CHILD_SAMPLES: String(SAMPLES) });
  if (rb.failed) console.log(`  (a) riverbed native failed: ${rb.failed}`);
  else {
    res.riverbed = rb;
    const ms = Math.min(...rb.epoch_ms);
    const gf = flops / 1e6 / ms;
    console.log(`  riverbed native (train(), composed kernels), ${rb.threads} threads: ${fmt(ms)} per epoch (${fmt((ms * 10_000) / SAMPLES)} per 10 000 digits) → ${gf.toFixed(0)} GFLOP/s${pct(gf, peak2, '2-thread GEMM peak')}; loss ${rb.epoch_loss.map((l) => l.toFixed(4)).join(', ')}`);
  }
  let best;
  if (torchOk) {
    let first;
    for (const cfg of TORCH_WALL) {
      const t = torchRun({ dir: modelDir, rest: ['--mode', 'train', '--data', dataDir, '--samples', String(SAMPLES), '--epochs', String(EPOCHS), '--batch', String(BATCH), '--lr', String(LR), '--momentum', String(MOMENTUM)] }, cfg.threads, cfg.openblas, budget(first));
      first ??= t;
      const key = `threads${cfg.threads}_openblas${cfg.openblas}`;
      if (t.failed) {
        console.log(`  PyTorch ${key} failed: ${t.failed}`);
        continue;
      }
      res.torch[key] = t;
      const probes = t.probes.map((p) => `${variant(p)} ${fmt(p.ms_per_step)}`).join('; ');
      console.log(`  PyTorch ${t.torch} CPU, set_num_threads(${cfg.threads}), OpenBLAS ${cfg.openblas}: probes per step: ${probes}`);
      const gf = flops / 1e6 / t.min_ms;
      console.log(`    best (${variant(t.best)}): ${fmt(t.min_ms)} per epoch (${fmt((t.min_ms * 10_000) / SAMPLES)} per 10 000 digits) → ${gf.toFixed(0)} GFLOP/s; loss ${t.epoch_loss.map((l) => l.toFixed(4)).join(', ')}`);
      if (!best || t.min_ms < best.min_ms) best = { key, ...t };
    }
  }
  if (rb.epoch_ms && best) {
    res.ratioWall = best.min_ms / Math.min(...rb.epoch_ms);
    res.torchBest = best.key;
    console.log(`  wall: PyTorch at its best (${best.key}, ${variant(best.best)}) ÷ riverbed = ${res.ratioWall.toFixed(2)}× (goal ≥ 1×)`);
  }
  // (d) one thread each, CPU time (and wall: on a loaded machine one thread may beat two).
  const flops1 = stepFlopsPerSample * SINGLE_SAMPLES;
  const rb1 = riverbed('train', 1, { CNN_BENCH_CHILD_SAMPLES: String(SINGLE_SAMPLES) });
  const t1 = torchOk ? torchRun({ dir: modelDir, rest: ['--mode', 'train', '--data', dataDir, '--samples', String(SINGLE_SAMPLES), '--epochs', String(EPOCHS), '--batch', String(BATCH), '--lr', String(LR), '--momentum', String(MOMENTUM), '--select', 'cpu'] }, 1, 1) : { failed: 'no PyTorch' };
  if (rb1.failed) console.log(`  (d) riverbed one-thread run failed: ${rb1.failed}`);
  if (torchOk && t1.failed) console.log(`  (d) PyTorch one-thread run failed: ${t1.failed}`);
  if (!rb1.failed) {
    const rc = Math.min(...rb1.epoch_cpu_ms);
    res.singleThreadCpu = { samples: SINGLE_SAMPLES, riverbed_ms: rc, riverbedWall_ms: Math.min(...rb1.epoch_ms) };
    reportSingleThread(res.singleThreadCpu, `over the first ${SINGLE_SAMPLES} digits`, rc, flops1, t1, peak1cpu);
  }
  // Each side at its best of every run, per 10 000 digits (the one-thread runs may cover fewer digits).
  const per10k = (ms, n) => (ms * 10_000) / n;
  const mine = [rb.epoch_ms && { label: `${rb.threads} threads`, ms: per10k(Math.min(...rb.epoch_ms), SAMPLES) }, !rb1.failed && { label: '1 thread', ms: per10k(Math.min(...rb1.epoch_ms), SINGLE_SAMPLES) }].filter(Boolean);
  const theirs = [...Object.entries(res.torch).map(([k, t]) => ({ label: `${k}, ${variant(t.best)}`, ms: per10k(t.min_ms, SAMPLES) })), !t1.failed && { label: `threads1_openblas1, ${variant(t1.best)}`, ms: per10k(t1.min_ms, SINGLE_SAMPLES) }].filter(Boolean);
  if (mine.length && theirs.length) {
    const a = mine.reduce((x, y) => (y.ms < x.ms ? y : x));
    const b = theirs.reduce((x, y) => (y.ms < x.ms ? y : x));
    res.bestEach = { riverbed: a, torch: b, ratio: b.ms / a.ms };
    console.log(`  wall, each at its best, per 10 000 digits: riverbed (${a.label}) ${fmt(a.ms)} vs PyTorch (${b.label}) ${fmt(b.ms)} → ${res.bestEach.ratio.toFixed(2)}×`);
  }
}

if (PARTS.includes('hvp')) {
  console.log(`\n(b) HVP of the mean cross-entropy, batch ${HVP_BATCH} MNIST test digits, ${(hvpFlops / 1e9).toFixed(1)} GFLOP per product`);
  const res = { batch: HVP_BATCH, gflop: hvpFlops / 1e9, torch: {} };
  results.hvp = res;
  const hvOut = join(hvpDir, 'hv_riverbed.npy');
  const f64 = join(hvpDir, 'hv_torch_f64.npy');
  let best;
  if (torchOk) {
    let first;
    TORCH_WALL.forEach((cfg, k) => {
      const key = `threads${cfg.threads}_openblas${cfg.openblas}`;
      const t = torchRun({ dir: hvpDir, rest: ['--mode', 'hvp', '--repeats', String(HVP_REPEATS), '--out', join(hvpDir, `hv_torch_${key}.npy`), ...(k === 0 ? ['--f64-out', f64] : [])] }, cfg.threads, cfg.openblas, budget(first));
      first ??= t;
      if (t.failed) {
        console.log(`  PyTorch ${key} failed: ${t.failed}`);
        return;
      }
      res.torch[key] = t;
      const probes = t.probes.map((p) => `${variant(p)} ${p.failed ? `failed (${p.failed})` : fmt(p.ms)}`).join('; ');
      console.log(`  PyTorch ${t.torch} CPU, set_num_threads(${cfg.threads}), OpenBLAS ${cfg.openblas}: probes: ${probes}`);
      const others = Object.entries(t.others).map(([m, o]) => `; ${m === 'jvp' ? 'jvp of grad' : 'double backward'} at the same setting ${fmt(o.min_ms)}`).join('');
      const gf = hvpFlops / 1e6 / t.min_ms;
      console.log(`    best (${variant(t.best)}): ${fmt(t.min_ms)} (median ${fmt(t.median_ms)}) → ${gf.toFixed(0)} GFLOP/s${others}`);
      if (!best || t.min_ms < best.min_ms) best = { key, ...t };
    });
  }
  const rb = riverbed('hvp', undefined, { CNN_BENCH_HVP_MODES: 'fresh,cached', CNN_BENCH_HV_OUT: hvOut });
  if (rb.failed) console.log(`  riverbed native failed: ${rb.failed}`);
  else {
    res.riverbed = rb;
    const gf = hvpFlops / 1e6 / rb.fresh.min_ms;
    let check = '';
    if (existsSync(f64) && best) {
      res.relErrVsF64 = relErr((await readNpy(hvOut, { mmap: false })).data, (await readNpy(f64, { mmap: false })).data);
      res.torchRelErrVsF64 = relErr((await readNpy(join(hvpDir, `hv_torch_${best.key}.npy`), { mmap: false })).data, (await readNpy(f64, { mmap: false })).data);
      check = `; rel. error vs float64 ${res.relErrVsF64.toExponential(1)} (PyTorch float32: ${res.torchRelErrVsF64.toExponential(1)})`;
    }
    console.log(`  riverbed native, ${rb.threads} threads: fresh ${fmt(rb.fresh.min_ms)} (median ${fmt(rb.fresh.median_ms)}) → ${gf.toFixed(0)} GFLOP/s${pct(gf, peak2, '2-thread GEMM peak')}; cached forward/backward ${fmt(rb.cached.min_ms)}${check}`);
    if (best) {
      res.ratioWall = best.min_ms / rb.fresh.min_ms;
      res.torchBest = `${best.key}, ${variant(best.best)}`;
      console.log(`  wall: PyTorch at its best (${res.torchBest}) ÷ riverbed fresh = ${res.ratioWall.toFixed(2)}× (goal ≥ 1×)`);
    }
  }
  // (d) one thread each, CPU time per product.
  const rb1 = riverbed('hvp', 1, { CNN_BENCH_HVP_MODES: 'fresh' });
  const t1 = torchOk ? torchRun({ dir: hvpDir, rest: ['--mode', 'hvp', '--repeats', String(HVP_REPEATS), '--select', 'cpu'] }, 1, 1) : { failed: 'no PyTorch' };
  if (rb1.failed) console.log(`  (d) riverbed one-thread run failed: ${rb1.failed}`);
  if (torchOk && t1.failed) console.log(`  (d) PyTorch one-thread run failed: ${t1.failed}`);
  if (!rb1.failed) {
    const rc = rb1.fresh.cpu_min_ms;
    res.singleThreadCpu = { riverbed_ms: rc };
    reportSingleThread(res.singleThreadCpu, 'per product', rc, hvpFlops, t1, peak1cpu);
  }
  const mine = [!rb.failed && { label: `${rb.threads} threads`, ms: rb.fresh.min_ms }, !rb1.failed && { label: '1 thread', ms: rb1.fresh.min_ms }].filter(Boolean);
  const theirs = [...Object.entries(res.torch).map(([k, t]) => ({ label: `${k}, ${variant(t.best)}`, ms: t.min_ms })), !t1.failed && { label: `threads1_openblas1, ${variant(t1.best)}`, ms: t1.min_ms }].filter(Boolean);
  if (mine.length && theirs.length) {
    const a = mine.reduce((x, y) => (y.ms < x.ms ? y : x));
    const b = theirs.reduce((x, y) => (y.ms < x.ms ? y : x));
    res.bestEach = { riverbed: a, torch: b, ratio: b.ms / a.ms };
    console.log(`  wall, each at its best: riverbed (${a.label}) ${fmt(a.ms)} vs PyTorch (${b.label}) ${fmt(b.ms)} → ${res.bestEach.ratio.toFixed(2)}×`);
  }
}

results.loadAtEnd = machine().loadavg;
console.log(`\nat the end: ${loadLine()}`);
writeResults('cnn', results);

/** Part (d) of both benches: riverbed's one-thread CPU time against PyTorch's, into `out` and one printed line. */
function reportSingleThread(out, what, rc, flops, t1, peak1cpu) {
  const gf = flops / 1e6 / rc;
  let line = `  (d) one thread each, CPU time ${what}: riverbed ${fmt(rc)} (${gf.toFixed(0)} GFLOP/s per CPU second${pct(gf, peak1cpu, '1-thread GEMM peak per CPU second')})`;
  if (!t1.failed) {
    out.torch_ms = t1.cpu_min_ms;
    out.torchVariant = variant(t1.best);
    out.ratio = t1.cpu_min_ms / rc;
    line += `, PyTorch (${variant(t1.best)}) ${fmt(t1.cpu_min_ms)} → ${out.ratio.toFixed(2)}×`;
  }
  console.log(line);
}
