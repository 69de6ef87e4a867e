/**
 * What the repository's benchmarks share (bench/*.bench.mjs): the dist/ check, timing and format
 * helpers, the peers' environment (OPENBLAS_CORETYPE from the CPU), the Python peers (PyTorch under
 * Debian's /usr/bin/python3, numpy's GEMM peak), the machine's load, and the JSON results file.
 * Not part of the package; `npm run bench` builds dist/ first.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** A path under dist/. */
export const dist = (p) => join(root, 'dist', p);

/** Exits with the one line that says how to build when a dist/ file the bench imports is missing. */
export function requireDist(file) {
  if (!existsSync(dist(file))) {
    console.error('bench: dist/ is missing or stale; run "npm run bench" (it builds first) or "npm run build"');
    process.exit(1);
  }
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
/** Milliseconds with about three significant digits: 1.23 s, 45.6 ms, 7.89 ms, 12.3 µs. */
export const fmt = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : ms >= 10 ? `${ms.toFixed(1)} ms` : ms >= 0.1 ? `${ms.toFixed(2)} ms` : `${(ms * 1000).toFixed(1)} µs`);

/** Relative 2-norm error of a against b. */
export function relErr(a, b) {
  let n = 0;
  let d = 0;
  for (let i = 0; i < b.length; i++) {
    n += (a[i] - b[i]) ** 2;
    d += b[i] ** 2;
  }
  return Math.sqrt(n / d);
}

/** n uniform values in [−0.5, 0.5) from a seeded mulberry32 stream (the same on every machine). */
export function rand(n, seed) {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  }
  return out;
}

/** This process's CPU time (user + system) in ms since `from` (a process.cpuUsage() value), or in all. */
export function cpuMs(from) {
  const c = process.cpuUsage(from);
  return (c.user + c.system) / 1000;
}

/**
 * Min / median wall time and min CPU time (this process) of a synchronous `fn` over `repeats`
 * calls after `warmup` calls.
 */
export function timeSync(fn, { warmup = 3, repeats = 20 } = {}) {
  for (let i = 0; i < warmup; i++) fn();
  const wall = [];
  const cpu = [];
  for (let i = 0; i < repeats; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    wall.push(performance.now() - t0);
    cpu.push(cpuMs(c0));
  }
  return { min_ms: Math.min(...wall), median_ms: median(wall), cpu_min_ms: Math.min(...cpu) };
}

// ---- the machine ------------------------------------------------------------------------------------

/** The CPU's feature flags (/proc/cpuinfo), empty where unreadable. */
export function cpuFlags() {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
    return new Set((line ?? '').split(':')[1]?.trim().split(/\s+/) ?? []);
  } catch {
    return new Set();
  }
}
const flags = cpuFlags();
/**
 * OPENBLAS_CORETYPE named after the instruction set: OpenBLAS picks its kernel by CPU model and
 * mis-detects newer CPUs (Zen 5 as Haswell: half speed). Undefined: left to OpenBLAS.
 */
export const coretype = flags.has('avx512f') && flags.has('avx512bw') && flags.has('avx512vl') ? 'SkylakeX' : flags.has('avx2') && flags.has('fma') ? 'Haswell' : undefined;

/** The environment of a peer process: ours, `extra`, the core type, no stale L2 override. */
export function peerEnv(extra = {}) {
  const env = { ...process.env, ...extra };
  if (coretype) env.OPENBLAS_CORETYPE = coretype;
  delete env.OPENBLAS_L2_SIZE; // a stale L2 size override skews the SkylakeX blocking
  return env;
}

/** Load averages (1, 5, 15 min) and the core count: what `uptime` says, for every report. */
export function load() {
  const [one, five, fifteen] = loadavg();
  return { loadavg: [one, five, fifteen].map((v) => Number(v.toFixed(2))), cores: cpus().length };
}
export const loadLine = () => {
  const l = load();
  return `load average ${l.loadavg.join(', ')} on ${l.cores} cores`;
};

/** CPU model, cores, node, the load now and anything else the bench adds. */
export const machine = (extra = {}) => ({ cpu: cpus()[0]?.model, cores: cpus().length, node: process.version, ...load(), ...extra });

// ---- peers --------------------------------------------------------------------------------------------

/** The line of a failed child's stderr that says what went wrong. */
export function firstError(r) {
  const lines = (r.stderr || r.error?.message || '').trim().split('\n');
  return lines.find((l) => /Error/.test(l)) ?? lines.pop();
}
/** The last line of a failed child's stderr (or the spawn error). */
export const lastLine = (r) => (r.stderr || r.error?.message || '').trim().split('\n').pop();

/** Debian's python3-torch lives under this interpreter (a pyenv `python3` on PATH lacks it). */
export const TORCH_PY = '/usr/bin/python3';

/** Whether PyTorch imports under TORCH_PY; when not, prints `label` SKIPPED with the fix. */
export function probeTorch(label) {
  const r = existsSync(TORCH_PY) ? spawnSync(TORCH_PY, ['-c', 'import torch'], { encoding: 'utf8' }) : { status: 1, stderr: `${TORCH_PY} missing` };
  if (r.status === 0) return true;
  console.log(
    `${label} PyTorch peer SKIPPED: Debian's python3-torch is not importable by ${TORCH_PY} (${lastLine(r)}).\n` +
      '    Install it for this benchmark only: apt-get install -y python3-torch libopenblas0-pthread',
  );
  return false;
}

/**
 * Runs a peer and parses the JSON object on the last line of its stdout; { failed: why } when it
 * exits non-zero or runs past `timeout` ms. `wallMs` is the child's whole run.
 */
export function runPeer(cmd, args, { env = peerEnv(), timeout = 20 * 60_000, cwd } = {}) {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, timeout, cwd, maxBuffer: 1 << 26 });
  const wallMs = performance.now() - t0;
  if (r.status !== 0) return { failed: r.error?.code === 'ETIMEDOUT' ? `gave up after ${fmt(timeout)}` : firstError(r) ?? `exit ${r.status ?? r.signal}`, wallMs };
  return { ...JSON.parse(r.stdout.trim().split('\n').pop()), wallMs };
}

/**
 * The machine's GEMM peak now: numpy float32 2048² (bench/peers/gemm_numpy.py) on each thread count,
 * OpenBLAS with the CPU's core type. Prints one line per count under `label`; returns
 * { [threads]: gemm_numpy.py's object } for the counts that ran.
 */
export function gemmPeak(label, threads = [1, 2]) {
  const out = {};
  for (const t of threads) {
    const r = spawnSync('python3', [join(root, 'bench/peers/gemm_numpy.py'), '--repeats', '10'], { encoding: 'utf8', env: peerEnv({ OPENBLAS_NUM_THREADS: String(t) }) });
    if (r.status !== 0) {
      console.log(`${label} numpy GEMM peer failed (${t} thread(s)): ${lastLine(r)}`);
      continue;
    }
    const g = JSON.parse(r.stdout);
    out[t] = g;
    console.log(`${label} GEMM peak, numpy ${g.numpy} sgemm 2048², ${t} thread(s): ${g.gflops.toFixed(0)} GFLOP/s (${g.gflops_cpu.toFixed(0)} per CPU second; OpenBLAS kernel ${g.openblas.core ?? '?'})`);
  }
  return out;
}

/** Writes `results` as bench/results/NAME-DATE.json and says where. */
export function writeResults(name, results) {
  mkdirSync(join(root, 'bench', 'results'), { recursive: true });
  const file = join(root, 'bench', 'results', `${name}-${(results.date ?? new Date().toISOString()).replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  console.log(`\nwritten ${file}`);
  return file;
}
