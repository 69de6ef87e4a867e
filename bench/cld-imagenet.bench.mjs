#!/usr/bin/env node
/**
 * CLD at ImageNet-1k size, and past memory.
 *
 * Part 1 — N = 1 281 167 samples × E = 100 epochs × 1000 classes (float32 trajectory, 512 MB on
 * disk; 50 000 validation samples), generated once under bench/.data/ by streaming rows. In one run:
 *  (c) the machine's read bandwidth on that file: the addon's multi-threaded plain sum over the
 *      memory-mapped file (warm page cache);
 *  (b) the official numpy formula (bench/peers/cld_numpy.py, Compute_CLD_scores.py's per-class
 *      loop, float64, numpy as installed) on the same files, with its peak RSS
 *      (bench/peers/peak_rss.py: getrusage of the child = VmHWM);
 *  (a) riverbed's fused kernel on the mapped file, native and webgpu; the file API
 *      (`cldScoresFromFiles`: load labels/validation, validate, score) in whole-file mode and in
 *      column tiles; the CLI end to end with its peak RSS.
 * Part 2 — a 4 GB trajectory (N = 10 737 418 × E = 100 float32, written by streaming) scored by
 * the CLI under `--max-memory 1GB`, peak RSS measured (target < 1.5 GB). The 4 GB file is deleted
 * afterwards unless CLD_BENCH_KEEP_4GB=1.
 * Prints ratios; writes JSON to bench/results/. Env: CLD_IMAGENET_N, CLD_IMAGENET_E,
 * CLD_IMAGENET_C, CLD_BIG_N (0 skips part 2), CLD_BENCH_REPEATS.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, statfsSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, freemem, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => join(root, 'dist', p);
if (!existsSync(dist('cli/main.js'))) {
  console.error('bench: dist/ is missing; run "npm run bench" (it builds first) or "npm run build"');
  process.exit(1);
}
const { readNpy, writeNpy, npyHeaderBytes } = await import(dist('io/npy.js'));
const { loadLabels } = await import(dist('io/trajectory.js'));
const { classValidationZ } = await import(dist('coreset/cld.js'));
const { cldScoresFromFiles, TILE_MAX_BYTES } = await import(dist('coreset/stream.js'));
const { createBackend } = await import(dist('backends/select.js'));

const N = Number(process.env.CLD_IMAGENET_N ?? 1_281_167);
const E = Number(process.env.CLD_IMAGENET_E ?? 100);
const C = Number(process.env.CLD_IMAGENET_C ?? 1000);
const M = 50 * C;
const BIG_N = Number(process.env.CLD_BIG_N ?? 10_737_418);
const REPEATS = Number(process.env.CLD_BENCH_REPEATS ?? 10);
const dataDir = join(root, 'bench', '.data', `cld-imagenet-N${N}-E${E}-C${C}`);

// ---- data, written by streaming (never the whole [E, N] in memory) ---------------------------
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
/** Writes train/val files for n samples; the train trajectory row by row through a temp file. */
function generate(dir, n, seed) {
  mkdirSync(dir, { recursive: true });
  const r = xorshift(seed);
  const labels = new BigInt64Array(n);
  for (let i = 0; i < n; i++) labels[i] = BigInt(Math.floor(r() * C));
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
  writeNpy(join(dir, 'train_labels.npy'), labels);
  writeNpy(join(dir, 'val_labels.npy'), vlabels);
  writeNpy(join(dir, 'val_loss.npy'), val, [E, M]);
  const cur = new Float32Array(n);
  const decay = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    cur[i] = 0.5 + 2 * r();
    decay[i] = 0.85 + 0.14 * r();
  }
  const tmp = join(dir, 'train_loss.npy.partial');
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, npyHeaderBytes('f4', [E, n]));
    const row = new Float32Array(n);
    const bytes = new Uint8Array(row.buffer);
    for (let e = 0; e < E; e++) {
      for (let i = 0; i < n; i++) {
        row[i] = cur[i] + 0.2 * (r() - 0.5);
        cur[i] *= decay[i];
      }
      for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, Math.min(1 << 26, bytes.length - off));
    }
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, 'train_loss.npy')); // its presence marks a complete set
}
const filesOf = (dir) => ({
  trainLoss: join(dir, 'train_loss.npy'),
  trainLabels: join(dir, 'train_labels.npy'),
  valLoss: join(dir, 'val_loss.npy'),
  valLabels: join(dir, 'val_labels.npy'),
});
const freeDisk = (dir) => {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
};

// ---- helpers ---------------------------------------------------------------------------------
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const stats = (ms) => ({ min_ms: Math.min(...ms), median_ms: median(ms), runs: ms.length, all_ms: ms.map((x) => +x.toFixed(3)) });
const fmt = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 2 : 1)} ms`);
const gb = (b) => `${(b / 1e9).toFixed(2)} GB`;
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
/** Runs a command under peak_rss.py: { status, stdout, stderr, peakRss, wallS }. */
function withPeakRss(cmd, args) {
  const r = spawnSync('python3', [join(root, 'bench', 'peers', 'peak_rss.py'), cmd, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const m = /PEAK_RSS_BYTES=(\d+) WALL_S=([\d.]+)/.exec(r.stderr ?? '');
  return { status: r.status, stdout: r.stdout, stderr: (r.stderr ?? '').replace(/PEAK_RSS_BYTES=.*\n?/, ''), peakRss: m ? Number(m[1]) : undefined, wallS: m ? Number(m[2]) : undefined };
}

if (!existsSync(join(dataDir, 'train_loss.npy'))) {
  const t = performance.now();
  process.stdout.write(`generating ${N} × ${E} × ${C} classes under ${dataDir} (streamed) … `);
  generate(dataDir, N, 4242);
  process.stdout.write(`${((performance.now() - t) / 1000).toFixed(1)} s\n`);
}
const files = filesOf(dataDir);
const trainArr = await readNpy(files.trainLoss);
const trajectory = trainArr.data;
const bytes = trajectory.byteLength;
const labels = await loadLabels(files.trainLabels);
const valArr = await readNpy(files.valLoss);
const vlabels = await loadLabels(files.valLabels);
const { classZ } = classValidationZ(valArr.data, E, M, vlabels, C);
const kernelInput = { trajectory, epochs: E, samples: N, labels, numClasses: C, classZ };
const results = {
  benchmark: 'cld-imagenet',
  date: new Date().toISOString(),
  machine: { cpu: cpus()[0]?.model, cores: cpus().length, node: process.version, freeMemBytes: freemem() },
  size: { samples: N, epochs: E, classes: C, valSamples: M, trajectoryBytes: bytes, mapped: trainArr.mapped },
  kernel: {},
  api: {},
};
console.log(`CLD ImageNet size: ${N.toLocaleString('en')} samples × ${E} epochs × ${C} classes (${gb(bytes)} float32, ${trainArr.mapped ? 'memory-mapped' : 'read'}, warm page cache), ${cpus().length} cores`);

// ---- (c) the machine's read bandwidth on this file --------------------------------------------
const native = await import(dist('backends/native/index.js'));
const nativeOk = native.nativeAvailability().available;
if (nativeOk) {
  const s = await timeAsync(() => native.nativeSumBandwidth(trajectory), 20, 3);
  results.sum = { ...s, GBps: bytes / 1e9 / (s.min_ms / 1000), threads: native.nativeAvailability().threads };
  console.log(`(c) read bandwidth: plain C++ sum over the mapped file ${fmt(s.min_ms)} → ${results.sum.GBps.toFixed(1)} GB/s (${results.sum.threads} threads)`);
} else console.log(`(c) plain C++ sum: native unavailable (${native.nativeAvailability().reason})`);

// ---- (b) numpy peer, with its peak RSS --------------------------------------------------------
const rNumpy = join(dataDir, 'r_numpy.npy');
{
  const p = withPeakRss('python3', [join(root, 'bench', 'peers', 'cld_numpy.py'), '--data', dataDir, '--repeats', '2', ...(existsSync(rNumpy) ? [] : ['--save-r', rNumpy])]);
  if (p.status === 0) {
    results.numpy = { ...JSON.parse(p.stdout), peakRssBytes: p.peakRss };
    const q = results.numpy;
    console.log(
      `(b) numpy ${q.numpy} official formula: load ${fmt(q.load_s.median * 1000)} + formula ${fmt(q.formula_s.median * 1000)} = ${fmt(q.total_s.median * 1000)} (median of ${q.repeats}), peak RSS ${gb(p.peakRss)} (${typeof q.config === 'string' ? q.config : JSON.stringify(q.config)})`,
    );
  } else console.log(`(b) numpy peer failed: ${p.stderr.trim().split('\n').pop()}`);
}
const numpyFormulaMs = results.numpy ? results.numpy.formula_s.median * 1000 : undefined;
const numpyTotalMs = results.numpy ? results.numpy.total_s.median * 1000 : undefined;

// ---- (a) kernel on each backend, over the mapped file -----------------------------------------
const rRef = existsSync(rNumpy) ? (await readNpy(rNumpy)).data : undefined;
function maxErr(scores) {
  if (!rRef) return null;
  let m = 0;
  for (let i = 0; i < N; i++) if (Number.isFinite(rRef[i])) m = Math.max(m, Math.abs(scores[i] - rRef[i]));
  return m;
}
let nativeScores;
for (const name of ['native', 'webgpu']) {
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
    const repeats = name === 'native' ? REPEATS : 2;
    let scores;
    const s = await timeAsync(async () => {
      scores = await backend.cldScores(kernelInput);
    }, repeats);
    if (name === 'native') nativeScores = scores;
    const entry = { ...s, GBps: bytes / 1e9 / (s.min_ms / 1000), maxAbsErrVsNumpy: maxErr(scores), info: backend.info() };
    if (results.sum) entry.fractionOfReadBandwidth = results.sum.min_ms / s.min_ms;
    if (numpyFormulaMs) entry.speedupVsNumpyFormula = numpyFormulaMs / s.median_ms;
    results.kernel[name] = entry;
    console.log(
      `(a) ${name.padEnd(6)} kernel: min ${fmt(s.min_ms)}, median ${fmt(s.median_ms)} (${repeats} runs) = ${entry.GBps.toFixed(1)} GB/s` +
        (entry.fractionOfReadBandwidth !== undefined ? `, ${(100 * entry.fractionOfReadBandwidth).toFixed(0)}% of the read bandwidth` : '') +
        (entry.speedupVsNumpyFormula ? `, ${entry.speedupVsNumpyFormula.toFixed(1)}× numpy's formula` : '') +
        (entry.maxAbsErrVsNumpy !== null ? `, max |r − r_numpy| ${entry.maxAbsErrVsNumpy.toExponential(1)}` : ''),
    );
    if (name === 'native') {
      // the file API: labels + validation loaded and checked, the trajectory mapped (whole) or streamed (tiles)
      const tileSamples = Math.floor(TILE_MAX_BYTES / (E * 4) / 16) * 16;
      for (const [mode, opts] of [
        ['whole', {}],
        ['tiles', { tileSamples }],
      ]) {
        let res;
        const t = await timeAsync(async () => {
          res = await cldScoresFromFiles(files, { backend, ...opts });
        }, 3);
        let same = true;
        for (let i = 0; i < N && same; i++) if (!Object.is(res.scores[i], nativeScores[i])) same = false;
        const e2 = { ...t, mode: res.plan.mode, tiles: res.plan.tiles, tileSamples: res.plan.tileSamples, GBps: bytes / 1e9 / (t.median_ms / 1000), identicalToKernel: same };
        if (numpyFormulaMs) e2.speedupVsNumpyFormula = numpyFormulaMs / t.median_ms;
        if (numpyTotalMs) e2.speedupVsNumpyLoadPlusFormula = numpyTotalMs / t.median_ms;
        if (results.sum) e2.fractionOfReadBandwidth = results.sum.min_ms / t.median_ms;
        results.api[mode] = e2;
        console.log(
          `(a) native file API, ${mode === 'whole' ? 'whole file mapped' : `${res.plan.tiles} column tiles of ${res.plan.tileSamples} samples (pread)`}: median ${fmt(t.median_ms)} (load + validate + score) = ${e2.GBps.toFixed(1)} GB/s` +
            (e2.speedupVsNumpyLoadPlusFormula ? `, ${e2.speedupVsNumpyLoadPlusFormula.toFixed(1)}× numpy's load + formula` : '') +
            `, scores ${same ? 'identical' : 'DIFFERENT'} bit for bit to the kernel's`,
        );
      }
    }
  } finally {
    backend.dispose();
  }
}

// ---- (d) the CLI end to end, with peak RSS ----------------------------------------------------
const out = mkdtempSync(join(tmpdir(), 'riverbed-bench-'));
function cli(f, extra) {
  const args = [dist('cli/main.js'), 'coreset', 'cld', '--train-loss', f.trainLoss, '--train-labels', f.trainLabels, '--val-loss', f.valLoss, '--val-labels', f.valLabels, '--fraction', '0.1', '--out', join(out, 'sel.json'), '--json', ...extra];
  const r = withPeakRss(process.execPath, args);
  if (r.status !== 0) throw new Error(`CLI failed (${r.status}): ${r.stderr.trim()}`);
  return { ...r, summary: JSON.parse(r.stdout) };
}
if (nativeOk) {
  try {
    cli(files, ['--backend', 'native']); // warm
    const runs = [0, 1, 2].map(() => cli(files, ['--backend', 'native']));
    const walls = runs.map((r) => r.wallS * 1000);
    const s = stats(walls);
    results.cli = { ...s, peakRssBytes: Math.max(...runs.map((r) => r.peakRss)), memory: runs[0].summary.memory, command: 'node dist/cli/main.js coreset cld … --fraction 0.1 --backend native' };
    if (numpyTotalMs) results.cli.speedupVsNumpyLoadPlusFormula = numpyTotalMs / s.median_ms;
    console.log(
      `(d) CLI end to end (native, ${runs[0].summary.memory.mode}): median ${fmt(s.median_ms)} (3 runs, process start and manifest hashing included), peak RSS ${gb(results.cli.peakRssBytes)}` +
        (results.cli.speedupVsNumpyLoadPlusFormula ? ` → ${results.cli.speedupVsNumpyLoadPlusFormula.toFixed(1)}× numpy's load + formula` : '') +
        (results.numpy?.peakRssBytes ? ` (numpy peak RSS ${gb(results.numpy.peakRssBytes)})` : ''),
    );
  } catch (err) {
    results.cli = { error: err.message };
    console.log(`(d) CLI failed: ${err.message}`);
  }
}

// ---- part 2: a 4 GB trajectory under --max-memory 1GB ------------------------------------------
if (BIG_N > 0 && nativeOk) {
  const bigDir = join(root, 'bench', '.data', `cld-big-N${BIG_N}-E${E}-C${C}`);
  const need = BIG_N * E * 4 + BIG_N * 8 + M * E * 4;
  try {
    if (!existsSync(join(bigDir, 'train_loss.npy'))) {
      if (freeDisk(join(root, 'bench')) < need * 1.5) throw new Error(`not enough free disk for ${gb(need)}`);
      const t = performance.now();
      process.stdout.write(`generating ${BIG_N} × ${E} (${gb(BIG_N * E * 4)}) under ${bigDir} (streamed) … `);
      generate(bigDir, BIG_N, 777);
      process.stdout.write(`${((performance.now() - t) / 1000).toFixed(1)} s\n`);
    }
    const r = cli(filesOf(bigDir), ['--backend', 'native', '--max-memory', '1GB']);
    const bigBytes = BIG_N * E * 4;
    results.big = {
      samples: BIG_N,
      epochs: E,
      trajectoryBytes: bigBytes,
      maxMemory: '1GB',
      peakRssBytes: r.peakRss,
      wallS: r.wallS,
      scoreMs: r.summary.scoreMs,
      GBpsScoring: bigBytes / 1e9 / (r.summary.scoreMs / 1000),
      memory: r.summary.memory,
      pageCache: 'warm (just written or read)',
    };
    console.log(
      `(e) ${gb(bigBytes)} trajectory, --max-memory 1GB: ${r.summary.memory.tiles} tiles of ${r.summary.memory.tileSamples} samples, scoring ${fmt(r.summary.scoreMs)} (${results.big.GBpsScoring.toFixed(2)} GB/s), wall ${r.wallS.toFixed(1)} s, peak RSS ${gb(r.peakRss)} (measured: getrusage of the child)`,
    );
  } catch (err) {
    results.big = { error: err.message };
    console.log(`(e) 4 GB run failed: ${err.message}`);
  } finally {
    if (process.env.CLD_BENCH_KEEP_4GB !== '1') rmSync(bigDir, { recursive: true, force: true });
  }
}
rmSync(out, { recursive: true, force: true });

// ---- targets ---------------------------------------------------------------------------------
const k = results.kernel.native;
const targets = {
  nativeAtLeast50xNumpyFormula: k?.speedupVsNumpyFormula !== undefined ? k.speedupVsNumpyFormula >= 50 : null,
  nativeAtLeast50PctOfReadBandwidth: k?.fractionOfReadBandwidth !== undefined ? k.fractionOfReadBandwidth >= 0.5 : null,
  bigPeakRssBelow1_5GB: results.big?.peakRssBytes !== undefined ? results.big.peakRssBytes < 1.5e9 : null,
};
results.targets = targets;
console.log(
  `targets: native ≥ 50× numpy's formula: ${targets.nativeAtLeast50xNumpyFormula ?? 'n/a'}; native ≥ 50% of the read bandwidth: ${targets.nativeAtLeast50PctOfReadBandwidth ?? 'n/a'}; 4 GB under --max-memory 1GB peak RSS < 1.5 GB: ${targets.bigPeakRssBelow1_5GB ?? 'n/a'}`,
);
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
const file = join(root, 'bench', 'results', `cld-imagenet-${results.date.replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
console.log(`wrote ${file}`);
