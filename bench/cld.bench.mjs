#!/usr/bin/env node
/**
 * CLD benchmark: N = 1 000 000 samples × E = 50 epochs × 100 classes (float32 trajectory, int64
 * labels, 10 000 validation samples), generated once and cached under bench/.data/.
 *
 * In one run:
 *  (a) the fused CLD scoring kernel on each available backend (the same arrays, memory-mapped;
 *      class z-scores computed once outside the timing), min and median of repeats;
 *  (b) the official numpy formula (bench/peers/cld_numpy.py: Compute_CLD_scores.py's per-class
 *      loop, float64, numpy as installed), load and formula timed separately;
 *  (c) the machine limit: the addon's multi-threaded plain sum over the same array (GB/s), and
 *      each kernel's fraction of it;
 *  (d) the CLI end to end (`node dist/cli/main.js coreset cld … --fraction 0.1`, process start
 *      included, warm page cache, median of runs) against numpy's load + formula.
 * Prints ratios; writes JSON to bench/results/.
 * Env: CLD_BENCH_N / CLD_BENCH_E / CLD_BENCH_C to change the size, CLD_BENCH_REPEATS.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => join(root, 'dist', p);
if (!existsSync(dist('cli/main.js'))) {
  console.error('bench: dist/ is missing; run "npm run bench" (it builds first) or "npm run build"');
  process.exit(1);
}
const { readNpy, writeNpy } = await import(dist('io/npy.js'));
const { loadLabels } = await import(dist('io/trajectory.js'));
const { classValidationZ } = await import(dist('coreset/cld.js'));
const { createBackend } = await import(dist('backends/select.js'));

const N = Number(process.env.CLD_BENCH_N ?? 1_000_000);
const E = Number(process.env.CLD_BENCH_E ?? 50);
const C = Number(process.env.CLD_BENCH_C ?? 100);
const M = Math.max(C, Math.round(N / 100));
const REPEATS = Number(process.env.CLD_BENCH_REPEATS ?? 10);
const dataDir = join(root, 'bench', '.data', `cld-N${N}-E${E}-C${C}`);

// ---- data (generated once) -------------------------------------------------------------------
function xorshift(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}
function generate() {
  mkdirSync(dataDir, { recursive: true });
  const r = xorshift(12345);
  const labels = new BigInt64Array(N);
  for (let i = 0; i < N; i++) labels[i] = BigInt(Math.floor(r() * C));
  const train = new Float32Array(E * N);
  const cur = new Float64Array(N);
  const decay = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    cur[i] = 0.5 + 2 * r();
    decay[i] = 0.85 + 0.14 * r();
  }
  for (let e = 0; e < E; e++) {
    const row = e * N;
    for (let i = 0; i < N; i++) {
      train[row + i] = cur[i] + 0.2 * (r() - 0.5);
      cur[i] *= decay[i];
    }
  }
  const vlabels = new BigInt64Array(M);
  for (let j = 0; j < M; j++) vlabels[j] = BigInt(j % C);
  const val = new Float32Array(E * M);
  for (let j = 0; j < M; j++) {
    let v = 0.5 + 2 * r();
    const d = 0.85 + 0.14 * r();
    for (let e = 0; e < E; e++) {
      val[e * M + j] = v + 0.2 * (r() - 0.5);
      v *= d;
    }
  }
  writeNpy(join(dataDir, 'train_labels.npy'), labels);
  writeNpy(join(dataDir, 'val_labels.npy'), vlabels);
  writeNpy(join(dataDir, 'val_loss.npy'), val, [E, M]);
  writeNpy(join(dataDir, 'train_loss.npy'), train, [E, N]); // last: its presence marks a complete set
}
if (!existsSync(join(dataDir, 'train_loss.npy'))) {
  const t = performance.now();
  process.stdout.write(`generating ${N} × ${E} × ${C} classes under ${dataDir} … `);
  generate();
  process.stdout.write(`${((performance.now() - t) / 1000).toFixed(1)} s\n`);
}
const files = {
  trainLoss: join(dataDir, 'train_loss.npy'),
  trainLabels: join(dataDir, 'train_labels.npy'),
  valLoss: join(dataDir, 'val_loss.npy'),
  valLabels: join(dataDir, 'val_labels.npy'),
};

// ---- helpers ---------------------------------------------------------------------------------
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const stats = (ms) => ({ min_ms: Math.min(...ms), median_ms: median(ms), runs: ms.length, all_ms: ms.map((x) => +x.toFixed(3)) });
const fmt = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 2 : 1)} ms`);
async function timeAsync(fn, repeats, warmup = 1) {
  for (let i = 0; i < warmup; i++) await fn();
  const ms = [];
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  return stats(ms);
}

// ---- inputs, as the library sees them --------------------------------------------------------
const trainArr = await readNpy(files.trainLoss);
const trajectory = trainArr.data;
const labels = await loadLabels(files.trainLabels);
const valArr = await readNpy(files.valLoss);
const vlabels = await loadLabels(files.valLabels);
const { classZ } = classValidationZ(valArr.data, E, M, vlabels, C);
const kernelInput = { trajectory, epochs: E, samples: N, labels, numClasses: C, classZ };
const bytes = trajectory.byteLength;
const results = {
  benchmark: 'cld',
  date: new Date().toISOString(),
  machine: { cpu: cpus()[0]?.model, cores: cpus().length, node: process.version },
  size: { samples: N, epochs: E, classes: C, valSamples: M, trajectoryBytes: bytes, mapped: trainArr.mapped },
  kernel: {},
};
console.log(`CLD ${N.toLocaleString('en')} samples × ${E} epochs × ${C} classes (${(bytes / 2 ** 20).toFixed(0)} MiB float32, ${trainArr.mapped ? 'memory-mapped' : 'read'}), ${cpus().length} cores`);

// ---- (c) machine limit: the addon's plain multi-threaded sum ----------------------------------
let native;
try {
  native = await import(dist('backends/native/index.js'));
} catch (err) {
  native = undefined;
  console.log(`native module failed to load: ${err.message}`);
}
const nativeOk = native?.nativeAvailability?.().available;
if (nativeOk) {
  const s = await timeAsync(() => native.nativeSumBandwidth(trajectory), 20, 3);
  results.sum = { ...s, GBps: bytes / 1e9 / (s.min_ms / 1000), threads: native.nativeAvailability().threads };
  console.log(`(c) plain C++ sum over the same array: ${fmt(s.min_ms)} → ${results.sum.GBps.toFixed(1)} GB/s (${results.sum.threads} threads; the machine limit)`);
} else {
  console.log(`(c) plain C++ sum: native unavailable (${native?.nativeAvailability?.().reason ?? 'module missing'})`);
}

// ---- (b) numpy peer --------------------------------------------------------------------------
const rNumpy = join(dataDir, 'r_numpy.npy');
const peer = spawnSync('python3', [join(root, 'bench', 'peers', 'cld_numpy.py'), '--data', dataDir, '--repeats', '3', ...(existsSync(rNumpy) ? [] : ['--save-r', rNumpy])], {
  encoding: 'utf8',
  maxBuffer: 1 << 24,
});
if (peer.status === 0) {
  results.numpy = JSON.parse(peer.stdout);
  const p = results.numpy;
  console.log(
    `(b) numpy ${p.numpy} official formula: load ${fmt(p.load_s.median * 1000)} + formula ${fmt(p.formula_s.median * 1000)} = ${fmt(p.total_s.median * 1000)} (median of ${p.repeats}; ${typeof p.config === 'string' ? p.config : JSON.stringify(p.config)})`,
  );
} else {
  console.log(`(b) numpy peer failed: ${(peer.stderr || peer.error?.message || '').trim().split('\n').pop()}`);
}
const numpyFormulaMs = results.numpy ? results.numpy.formula_s.median * 1000 : undefined;
const numpyTotalMs = results.numpy ? results.numpy.total_s.median * 1000 : undefined;

// ---- (a) the kernel on each backend ----------------------------------------------------------
let rRef;
if (existsSync(rNumpy)) rRef = (await readNpy(rNumpy)).data;
for (const name of ['native', 'webgpu', 'js']) {
  let backend;
  try {
    if (name === 'native' && !nativeOk) throw new Error('addon unavailable');
    if (name === 'webgpu') {
      const { probeWebGpu } = await import(dist('backends/webgpu/index.js'));
      const p = await probeWebGpu();
      if (!p.available) throw new Error(p.reason);
    }
    backend = await createBackend(name);
  } catch (err) {
    results.kernel[name] = { unavailable: String(err.message ?? err) };
    console.log(`(a) ${name.padEnd(6)} kernel: unavailable (${results.kernel[name].unavailable})`);
    continue;
  }
  try {
    const repeats = name === 'native' ? REPEATS : 3;
    let scores;
    const s = await timeAsync(async () => {
      scores = await backend.cldScores(kernelInput);
    }, repeats);
    let maxErr = null;
    if (rRef) {
      maxErr = 0;
      for (let i = 0; i < N; i++) if (Number.isFinite(rRef[i])) maxErr = Math.max(maxErr, Math.abs(scores[i] - rRef[i]));
    }
    const entry = { ...s, GBps: bytes / 1e9 / (s.min_ms / 1000), maxAbsErrVsNumpy: maxErr, info: backend.info() };
    if (results.sum) entry.fractionOfSum = results.sum.min_ms / s.min_ms;
    if (numpyFormulaMs) entry.speedupVsNumpyFormula = numpyFormulaMs / s.median_ms;
    results.kernel[name] = entry;
    console.log(
      `(a) ${name.padEnd(6)} kernel: min ${fmt(s.min_ms)}, median ${fmt(s.median_ms)} (${repeats} runs) = ${entry.GBps.toFixed(1)} GB/s` +
        (entry.fractionOfSum !== undefined ? `, ${(100 * entry.fractionOfSum).toFixed(0)}% of the sum bandwidth` : '') +
        (entry.speedupVsNumpyFormula ? `, ${entry.speedupVsNumpyFormula.toFixed(1)}× numpy's formula` : '') +
        (maxErr !== null ? `, max |r − r_numpy| ${maxErr.toExponential(1)}` : ''),
    );
  } finally {
    backend.dispose();
  }
}

// ---- (d) the CLI end to end ------------------------------------------------------------------
const out = mkdtempSync(join(tmpdir(), 'riverbed-bench-'));
function cliRun(extra, env = process.env) {
  const args = [dist('cli/main.js'), 'coreset', 'cld', '--train-loss', files.trainLoss, '--train-labels', files.trainLabels, '--val-loss', files.valLoss, '--val-labels', files.valLabels, '--fraction', '0.1', '--out', join(out, 'sel.json'), ...extra];
  const t = performance.now();
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', env });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`CLI failed (${r.status}): ${r.stderr.trim()}`);
  const profile = /riverbed: profile \(ms\): (.*)/.exec(r.stderr)?.[1];
  return { ms, profile };
}
results.cli = {};
for (const [label, extra] of [
  ['auto', []],
  ['native', ['--backend', 'native']],
]) {
  if (label === 'native' && !nativeOk) continue;
  try {
    cliRun(extra); // warm the page cache and the file system
    const ms = [];
    for (let i = 0; i < 7; i++) ms.push(cliRun(extra).ms);
    const s = stats(ms);
    const entry = { ...s, command: `node dist/cli/main.js coreset cld … --fraction 0.1 ${extra.join(' ')}`.trim() };
    if (numpyTotalMs) entry.speedupVsNumpyLoadPlusFormula = numpyTotalMs / s.median_ms;
    const { profile } = cliRun(extra, { ...process.env, RIVERBED_PROFILE: '1' });
    entry.phasesOfOneRun = profile;
    results.cli[label] = entry;
    console.log(
      `(d) CLI end to end (--backend ${label}): median ${fmt(s.median_ms)}, min ${fmt(s.min_ms)} (7 runs, process start included)` +
        (entry.speedupVsNumpyLoadPlusFormula ? ` → ${entry.speedupVsNumpyLoadPlusFormula.toFixed(1)}× numpy's load + formula` : '') +
        `\n    phases of one run (ms; "start" = process start to the command's first line): ${profile}`,
    );
  } catch (err) {
    results.cli[label] = { error: err.message };
    console.log(`(d) CLI (--backend ${label}) failed: ${err.message}`);
  }
}
rmSync(out, { recursive: true, force: true });

// ---- targets ---------------------------------------------------------------------------------
const k = results.kernel.native;
const targets = {
  nativeKernelAtLeast50PctOfSum: k?.fractionOfSum !== undefined ? k.fractionOfSum >= 0.5 : null,
  // issue 8: the CLI end to end at least 15× numpy's load + formula, its start under 50 ms
  cliAtLeast15xNumpy: results.cli.auto?.speedupVsNumpyLoadPlusFormula !== undefined ? results.cli.auto.speedupVsNumpyLoadPlusFormula >= 15 : null,
  cliStartUnder50ms: (() => {
    const start = /start ([\d.]+)/.exec(results.cli.auto?.phasesOfOneRun ?? '')?.[1];
    return start !== undefined ? Number(start) < 50 : null;
  })(),
};
results.targets = targets;
console.log(
  `targets: native kernel ≥ 50% of sum bandwidth: ${targets.nativeKernelAtLeast50PctOfSum ?? 'n/a'}; CLI ≥ 15× numpy load + formula: ${targets.cliAtLeast15xNumpy ?? 'n/a'}; CLI start < 50 ms: ${targets.cliStartUnder50ms ?? 'n/a'}`,
);
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
const file = join(root, 'bench', 'results', `cld-${results.date.replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
console.log(`wrote ${file}`);
