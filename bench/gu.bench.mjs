#!/usr/bin/env node
/**
 * GU benchmark (issue 9):
 *
 *  (a) the projection kernel guProject on P = 1 863 690 elements (the parameters of MLP
 *      784-1024-1024-10, flattened: GU's global scope) with k = 8 (and 16, 32) basis rows, with and
 *      without a metric, on native (and webgpu when a hardware adapter exists). Bytes it must move:
 *      pass 1 reads the k rows, g and the metric; pass 2 reads the k rows and g and writes g⊥ —
 *      (2k + 3 + [metric]) · 4 · P. Against the machine's streaming-read bandwidth measured now
 *      (the addon's vectorised sum over a 256 MiB array, the same "stream" the CLD benchmark uses),
 *      in a child process on the pool's default threads (wall time) and in one with
 *      RIVERBED_THREADS=1 (CPU time: bytes per CPU second of the kernel against the stream's, the
 *      comparison a loaded machine does not skew).
 *  (b) one GU step of that MLP (retain batch 128, forget batch 64, per-tensor scope, k = 8, sgd
 *      geometry): both gradients, the acceptance tests, the projections and the update — riverbed
 *      native against PyTorch CPU doing the same (bench/peers/gu_torch.py), at its best (2 threads,
 *      OpenBLAS, no autograd anomaly checks).
 * Prints ratios and the load; writes JSON to bench/results/gu-<time>.json. Env: GU_BENCH_REPEATS
 * (default 20).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TORCH_PY, dist, firstError, loadLine, machine, median, peerEnv, probeTorch, requireDist, root, runPeer, timeSync, writeResults } from './lib.mjs';

requireDist('unlearn/gu.js');
const { createBackend } = await import(dist('backends/select.js'));
const { nativeSumBandwidth } = await import(dist('backends/native/host.js'));
const { mlpDescription } = await import(dist('model/description.js'));
const { Mlp } = await import(dist('model/mlp.js'));
const { Rng } = await import(dist('model/rng.js'));
const { GuStepper } = await import(dist('unlearn/gu.js'));
const { writeNpy } = await import(dist('io/npy.js'));

const REPEATS = Number(process.env.GU_BENCH_REPEATS ?? 20);
const SIZES = [784, 1024, 1024, 10];
const P = SIZES.slice(1).reduce((a, out, i) => a + out * SIZES[i] + out, 0);
const uniform = (n, seed, lo = -1, hi = 1) => {
  const r = Rng.derive(seed, 'gu-bench');
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r.uniform(lo, hi);
  return a;
};
async function time(fn, repeats) {
  await fn();
  const ts = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    await fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

// ---- (a) native, in a child: the stream read and the projection on the threads the parent set ----
if (process.argv[2] === '--projection-child') {
  const be = await createBackend('native');
  const big = uniform(64 * 2 ** 20, 1);
  const stream = timeSync(() => void nativeSumBandwidth(big), { warmup: 1, repeats: 10 });
  const streamBytes = big.length * 4;
  const out = { threads: be.info().threads, stream: { ...stream, GBs: streamBytes / stream.min_ms / 1e6, cpuGBs: streamBytes / stream.cpu_min_ms / 1e6 }, k: {} };
  const g = be.upload(uniform(P, 2), [P]);
  const h = be.upload(uniform(P, 3, 0.5, 2), [P]);
  for (const k of [8, 16, 32]) {
    const basis = be.upload(uniform(k * P, 4 + k), [k, P]);
    for (const weighted of [false, true]) {
      const t = timeSync(() => be.free(be.guProject(g, basis, weighted ? h : undefined, 0, k)), { warmup: 1, repeats: REPEATS });
      const bytes = (2 * k + 3 + (weighted ? 1 : 0)) * 4 * P;
      out.k[`k${k}${weighted ? '-metric' : ''}`] = { ...t, bytes, GBs: bytes / t.min_ms / 1e6, cpuGBs: bytes / t.cpu_min_ms / 1e6, ofStream: bytes / t.min_ms / 1e6 / out.stream.GBs, cpuOfStream: bytes / t.cpu_min_ms / 1e6 / out.stream.cpuGBs };
    }
    be.free(basis);
  }
  be.dispose();
  console.log(JSON.stringify(out));
  process.exit(0);
}

const results = { P, repeats: REPEATS, machine: machine(), projection: {}, step: {} };
console.log(`GU benchmark: ${loadLine()}`);

// ---- (a) the projection kernel ---------------------------------------------------------------------
for (const [key, threads] of [['native', undefined], ['native-1thread', '1']]) {
  const env = { ...process.env };
  if (threads) env.RIVERBED_THREADS = threads;
  else delete env.RIVERBED_THREADS;
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--projection-child'], { encoding: 'utf8', env, timeout: 10 * 60_000 });
  if (r.status !== 0) {
    console.log(`(a) ${key}: failed (${firstError(r)})`);
    continue;
  }
  const o = JSON.parse(r.stdout.trim().split('\n').pop());
  results.projection[key] = o;
  const cpu = threads === '1';
  console.log(
    `(a) native guProject, ${o.threads} thread(s): stream read ${(cpu ? o.stream.cpuGBs : o.stream.GBs).toFixed(1)} GB/s${cpu ? ' per CPU second' : ' (wall)'}`,
  );
  for (const [name, v] of Object.entries(o.k)) {
    const gbs = cpu ? v.cpuGBs : v.GBs;
    const of = cpu ? v.cpuOfStream : v.ofStream;
    console.log(`    P = ${P}, ${name.padEnd(9)}: ${(cpu ? v.cpu_min_ms : v.min_ms).toFixed(2)} ms ${cpu ? 'CPU' : 'wall (min)'} = ${gbs.toFixed(1)} GB/s = ${(100 * of).toFixed(0)} % of the stream read`);
  }
}
results.loadAfterProjection = machine().loadavg;

for (const name of ['webgpu']) {
  let be;
  try {
    be = await createBackend(name);
  } catch (err) {
    console.log(`(a) ${name}: unavailable (${String(err.message ?? err).split('\n')[0]})`);
    continue;
  }
  if (name === 'webgpu' && be.info().software) {
    console.log('(a) webgpu: software adapter (lavapipe) — not timed');
    be.dispose();
    continue;
  }
  results.projection[name] = {};
  const g = be.upload(uniform(P, 2), [P]);
  const h = be.upload(uniform(P, 3, 0.5, 2), [P]);
  for (const k of [8, 16, 32]) {
    const basis = be.upload(uniform(k * P, 4 + k), [k, P]);
    for (const weighted of [false, true]) {
      const ms = await time(async () => {
        const out = be.guProject(g, basis, weighted ? h : undefined, 0, k);
        if (name === 'webgpu') await be.read(be.slice(out, 0, [1]));
        be.free(out);
      }, REPEATS);
      const bytes = (2 * k + 3 + (weighted ? 1 : 0)) * 4 * P;
      const gbs = bytes / (ms / 1000) / 1e9;
      results.projection[name][`k${k}${weighted ? '-metric' : ''}`] = { ms, bytes, gbs };
      console.log(`(a) ${name} guProject P = ${P}, k = ${String(k).padStart(2)}${weighted ? ', metric' : '        '}: ${ms.toFixed(2)} ms = ${gbs.toFixed(1)} GB/s`);
    }
    be.free(basis);
  }
  be.dispose();
}

// ---- (b) one GU step against PyTorch ------------------------------------------------------------------
const dir = mkdtempSync(join(tmpdir(), 'riverbed-gu-bench-'));
const desc = mlpDescription(SIZES[0], SIZES.slice(1, -1), SIZES.at(-1));
const native = await createBackend('native');
const model = Mlp.init(native, desc, 0);
await model.save(join(dir, 'weights.safetensors'));
writeFileSync(join(dir, 'model.json'), JSON.stringify(desc));
const xr = uniform(128 * 784, 5);
const xf = uniform(64 * 784, 6);
const yr = Int32Array.from({ length: 128 }, (_, i) => i % 10);
const yf = Int32Array.from({ length: 64 }, () => 3);
writeNpy(join(dir, 'xr.npy'), xr, [128, 784]);
writeNpy(join(dir, 'xf.npy'), xf, [64, 784]);
writeNpy(join(dir, 'yr.npy'), yr, [128]);
writeNpy(join(dir, 'yf.npy'), yf, [64]);
{
  const b = native;
  const xrT = b.upload(xr, [128, 784]);
  const xfT = b.upload(xf, [64, 784]);
  const yrT = b.uploadInt(yr, [128]);
  const yfT = b.uploadInt(yf, [64]);
  const gu = new GuStepper(model, { k: 8, scope: 'layer', geometry: 'sgd' });
  const ms = await time(async () => {
    const r = model.lossAndGradients(xrT, yrT);
    const f = model.lossAndGradients(xfT, yfT);
    await gu.step(r.grads, f.grads, 1e-4);
    for (const t of [...r.grads, ...f.grads, r.loss, f.loss]) b.free(t);
  }, REPEATS);
  gu.dispose();
  results.step.riverbed = { ms };
  console.log(`(b) riverbed native, one GU step (784-1024-1024-10, retain 128, forget 64, k = 8, per tensor): ${ms.toFixed(1)} ms`);
}
native.dispose();
// The peer: OPENBLAS_CORETYPE from the CPU flags (lib.mjs peerEnv; PyTorch's GEMMs run twice as fast here with it).
if (!probeTorch('(b)')) {
  results.step.torch = { skipped: `torch is not importable by ${TORCH_PY}` };
} else {
  const r = runPeer(TORCH_PY, [join(root, 'bench/peers/gu_torch.py'), '--dir', dir, '--repeats', String(REPEATS), '--k', '8', '--threads', '2'], { env: peerEnv({ OPENBLAS_NUM_THREADS: '2' }) });
  results.step.torch = r;
  if (r.failed) console.log(`(b) PyTorch peer failed: ${r.failed}`);
  else console.log(`(b) PyTorch CPU (${r.threads} threads), the same step: ${r.ms.toFixed(1)} ms — riverbed ${(r.ms / results.step.riverbed.ms).toFixed(2)}× faster`);
}
results.loadAtEnd = machine().loadavg;
console.log(`${loadLine()} at the end`);
writeResults('gu', results);
