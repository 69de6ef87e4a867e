#!/usr/bin/env node
/**
 * GU benchmark (issue 9):
 *
 *  (a) the projection kernel guProject on P = 1 863 690 elements (the parameters of MLP
 *      784-1024-1024-10, flattened: GU's global scope) with k = 8 (and 16, 32) basis rows, with and
 *      without a metric, on native (and webgpu when a hardware adapter exists). Bytes it must move:
 *      pass 1 reads the k rows, g and the metric; pass 2 reads the k rows and g and writes g⊥ —
 *      (2k + 3 + [metric]) · 4 · P. Against the machine's streaming-read bandwidth measured now
 *      (the addon's vectorised sum over a 256 MiB array, the same "stream" the CLD benchmark uses).
 *  (b) one GU step of that MLP (retain batch 128, forget batch 64, per-tensor scope, k = 8, sgd
 *      geometry): both gradients, the acceptance tests, the projections and the update — riverbed
 *      native against PyTorch CPU doing the same (bench/peers/gu_torch.py), at its best (2 threads,
 *      OpenBLAS, no autograd anomaly checks).
 * Prints ratios; writes JSON to bench/results/gu-<time>.json. Env: GU_BENCH_REPEATS (default 20).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => join(root, 'dist', p);
if (!existsSync(dist('unlearn/gu.js'))) {
  console.error('bench: dist/ is missing or stale; run "npm run bench" (it builds first) or "npm run build"');
  process.exit(1);
}
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
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
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

const results = { P, repeats: REPEATS, projection: {}, step: {} };

// ---- streaming bandwidth ---------------------------------------------------------------------------
const big = uniform(64 * 2 ** 20, 1);
const streamMs = await time(async () => void nativeSumBandwidth(big), 10);
const streamGBs = (big.length * 4) / (streamMs / 1000) / 1e9;
results.streamGBs = streamGBs;
console.log(`stream read (native vectorised sum over 256 MiB): ${streamGBs.toFixed(1)} GB/s`);

// ---- (a) the projection kernel ---------------------------------------------------------------------
for (const name of ['native', 'webgpu']) {
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
      results.projection[name][`k${k}${weighted ? '-metric' : ''}`] = { ms, bytes, gbs, ofStream: gbs / streamGBs };
      console.log(`(a) ${name} guProject P = ${P}, k = ${String(k).padStart(2)}${weighted ? ', metric' : '        '}: ${ms.toFixed(2)} ms = ${gbs.toFixed(1)} GB/s = ${((100 * gbs) / streamGBs).toFixed(0)} % of the stream read`);
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
// OpenBLAS picks its kernel by CPU model and mis-detects newer CPUs; name the core type after the
// instruction set, as bench/hvp.bench.mjs does (PyTorch's GEMMs run twice as fast here with it).
const flags = new Set((readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags')) ?? '').split(':')[1]?.trim().split(/\s+/) ?? []);
const coretype = flags.has('avx512f') && flags.has('avx512bw') && flags.has('avx512vl') ? 'SkylakeX' : flags.has('avx2') && flags.has('fma') ? 'Haswell' : undefined;
const TORCH_PY = '/usr/bin/python3';
const probe = existsSync(TORCH_PY) ? spawnSync(TORCH_PY, ['-c', 'import torch'], { encoding: 'utf8' }) : { status: 1, stderr: `${TORCH_PY} missing` };
if (probe.status !== 0) {
  results.step.torch = { skipped: (probe.stderr || '').trim().split('\n').pop() };
  console.log(`(b) PyTorch peer SKIPPED: torch is not importable by ${TORCH_PY} (${results.step.torch.skipped}). Install it for this benchmark only: apt-get install -y python3-torch`);
} else {
  const r = spawnSync(TORCH_PY, [join(root, 'bench/peers/gu_torch.py'), '--dir', dir, '--repeats', String(REPEATS), '--k', '8', '--threads', '2'], {
    encoding: 'utf8',
    env: { ...process.env, OPENBLAS_NUM_THREADS: '2', ...(coretype ? { OPENBLAS_CORETYPE: coretype } : {}) },
  });
  if (r.status !== 0) {
    results.step.torch = { failed: (r.stderr || '').trim().split('\n').pop() };
    console.log(`(b) PyTorch peer failed: ${results.step.torch.failed}`);
  } else {
    results.step.torch = JSON.parse(r.stdout);
    console.log(`(b) PyTorch CPU (${results.step.torch.threads} threads), the same step: ${results.step.torch.ms.toFixed(1)} ms — riverbed ${(results.step.torch.ms / results.step.riverbed.ms).toFixed(2)}× faster`);
  }
}
mkdirSync(join(root, 'bench/results'), { recursive: true });
const file = join(root, 'bench/results', `gu-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
console.log(`wrote ${file}`);
