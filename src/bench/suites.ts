/**
 * The benchmarks of `riverbed bench`, each timing registered kernels through the public Backend
 * (or the public model/train API) on synthetic data of a fixed, documented size, and the machine
 * limits they are compared with:
 *
 *  - limits (measured with the C++ addon, whatever backend is benchmarked): a streaming read
 *    (the addon's multi-threaded sum over an array larger than any cache) in GB/s, and a GEMM peak
 *    (the native sgemm on a large square product) in GFLOP/s;
 *  - matmul: a square float32 product (GFLOP/s, against the GEMM peak);
 *  - cld: the fused CLD scoring kernel over an [E, N] trajectory (GB/s read, against the read);
 *  - hvp: the exact Hessian-vector product of an MLP's mean cross-entropy, ReLU and tanh (GFLOP/s
 *    of its GEMMs, against the GEMM peak);
 *  - train: one training epoch through runTraining — whatever step the trainer uses on this
 *    backend (the fused native step included) — in samples/s and GFLOP/s against the GEMM peak.
 */
import type { Backend, Tensor } from '../backends/backend.js';
import { type Timing, type TimingOptions, timeCalls } from './timing.js';

export const BENCH_NAMES = ['matmul', 'cld', 'hvp', 'train'] as const;
export type BenchName = (typeof BENCH_NAMES)[number];
export const BENCH_SIZES = ['tiny', 'default'] as const;
/** `tiny`: seconds in all, for tests and a first look; `default`: sizes that reach the machine's limits. */
export type BenchSize = (typeof BENCH_SIZES)[number];

interface Sizes {
  streamBytes: number;
  gemmPeakN: number;
  matmulN: number;
  cld: { samples: number; epochs: number; classes: number };
  hvp: { sizes: number[]; batch: number };
  train: { samples: number; sizes: number[]; batch: number };
}

export const SIZES: Record<BenchSize, Sizes> = {
  tiny: {
    streamBytes: 4 * 2 ** 20,
    gemmPeakN: 128,
    matmulN: 64,
    cld: { samples: 4096, epochs: 8, classes: 10 },
    hvp: { sizes: [32, 64, 64, 10], batch: 64 },
    train: { samples: 1024, sizes: [32, 64, 10], batch: 64 },
  },
  default: {
    streamBytes: 256 * 2 ** 20, // past the last-level cache of any current CPU
    gemmPeakN: 2048,
    matmulN: 1024,
    cld: { samples: 1_000_000, epochs: 50, classes: 100 }, // 200 MB of float32 losses
    hvp: { sizes: [784, 1024, 1024, 10], batch: 1024 },
    train: { samples: 60_000, sizes: [784, 128, 10], batch: 128 }, // an MNIST epoch
  },
};

/** A measured limit of the machine. */
export interface Limit {
  value: number;
  unit: 'GB/s' | 'GFLOP/s';
  /** How it was measured, one line. */
  how: string;
  timing: Timing;
}

export interface Limits {
  streamRead?: Limit;
  gemmPeak?: Limit;
  /** Why a limit is missing (no addon). */
  unavailable?: string;
}

export interface BenchResult {
  name: string;
  /** What was run, for a reader and for comparing like with like across machines. */
  config: Record<string, unknown>;
  timing: Timing;
  /** Work per call: bytes read or floating-point operations (GEMMs only). */
  work: { bytes?: number; flops?: number; samples?: number };
  /** Work / mean time. */
  throughput: { value: number; unit: 'GB/s' | 'GFLOP/s' };
  /** training: samples per second. */
  samplesPerSecond?: number;
  /** The limit compared against, and the throughput as a fraction of it. */
  limit?: 'streamRead' | 'gemmPeak';
  ofLimit?: number;
}

/** A deterministic fill in [lo, hi) (xorshift32): synthetic data that is the same on every machine. */
function fill(a: Float32Array, seed: number, lo = -1, hi = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const scale = (hi - lo) / 4294967296;
  for (let i = 0; i < a.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    a[i] = lo + (s >>> 0) * scale;
  }
  return a;
}
function ints(n: number, mod: number, seed: number): Int32Array {
  const u = fill(new Float32Array(n), seed, 0, 1);
  return Int32Array.from(u, (v) => Math.min(mod - 1, Math.floor(v * mod)));
}

/** Streaming read and GEMM peak with the addon (undefined fields, and why, without it). */
export async function measureLimits(size: BenchSize, timing: TimingOptions, native: Backend | undefined, nativeWhy?: string): Promise<Limits> {
  if (!native) return { unavailable: `the C++ addon is unavailable (${nativeWhy ?? 'unknown reason'}): no machine limits to compare with` };
  const { nativeSumBandwidth } = await import('../backends/native/host.js');
  const s = SIZES[size];
  const data = fill(new Float32Array(s.streamBytes / 4), 7); // written once: every page is resident
  const read = await timeCalls('stream read', async () => void nativeSumBandwidth(data), timing);
  const n = s.gemmPeakN;
  const a = native.upload(fill(new Float32Array(n * n), 11), [n, n]);
  const b = native.upload(fill(new Float32Array(n * n), 12), [n, n]);
  let gemm: Timing;
  try {
    gemm = await timeCalls('gemm peak', async () => {
      const c = native.matmul(a, b);
      await native.sync();
      native.free(c);
    }, timing);
  } finally {
    native.free(a);
    native.free(b);
  }
  return {
    streamRead: { value: s.streamBytes / 1e9 / (read.meanMs / 1000), unit: 'GB/s', how: `native multi-threaded sum over ${s.streamBytes / 2 ** 20} MiB of float32`, timing: read },
    gemmPeak: { value: (2 * n ** 3) / 1e9 / (gemm.meanMs / 1000), unit: 'GFLOP/s', how: `native sgemm ${n}×${n}×${n}`, timing: gemm },
  };
}

/** Giga-units of work per second at the mean call time. */
function rate(work: number, timing: Timing): number {
  return work / 1e9 / (timing.meanMs / 1000);
}

export async function benchMatmul(b: Backend, size: BenchSize, timing: TimingOptions): Promise<BenchResult[]> {
  const n = SIZES[size].matmulN;
  const x = b.upload(fill(new Float32Array(n * n), 21), [n, n]);
  const y = b.upload(fill(new Float32Array(n * n), 22), [n, n]);
  try {
    const t = await timeCalls('matmul', async () => {
      const z = b.matmul(x, y);
      await b.sync();
      b.free(z);
    }, timing);
    const flops = 2 * n ** 3;
    return [{ name: 'matmul', config: { m: n, n, k: n, dtype: 'f32' }, timing: t, work: { flops }, throughput: { value: rate(flops, t), unit: 'GFLOP/s' }, limit: 'gemmPeak' }];
  } finally {
    b.free(x);
    b.free(y);
  }
}

export async function benchCld(b: Backend, size: BenchSize, timing: TimingOptions): Promise<BenchResult[]> {
  const { samples: N, epochs: E, classes: C } = SIZES[size].cld;
  // Decaying losses with noise, as a training run records them; labels uniform over the classes.
  const trajectory = fill(new Float32Array(E * N), 31, 0, 0.2);
  for (let e = 0; e < E; e++) {
    const decay = Math.exp(-e / E);
    for (let i = e * N, end = i + N; i < end; i++) trajectory[i] = trajectory[i]! + 2 * decay;
  }
  const labels = ints(N, C, 32);
  const classZ = new Float64Array((E - 1) * C);
  for (let c = 0; c < C; c++) {
    // a standardised decreasing curve per class (mean 0, population std 1)
    const d = Array.from({ length: E - 1 }, (_, e) => -Math.exp(-e / (E - 1)) + ((c * 7 + e * 3) % 11) * 0.01);
    const mean = d.reduce((s, v) => s + v, 0) / d.length;
    const std = Math.sqrt(d.reduce((s, v) => s + (v - mean) ** 2, 0) / d.length);
    for (let e = 0; e < E - 1; e++) classZ[e * C + c] = (d[e]! - mean) / std;
  }
  const input = { trajectory, epochs: E, samples: N, labels, numClasses: C, classZ };
  const t = await timeCalls('cld', async () => void (await b.cldScores(input)), timing);
  const bytes = trajectory.byteLength + labels.byteLength;
  return [{ name: 'cld', config: { samples: N, epochs: E, classes: C, dtype: 'f32' }, timing: t, work: { bytes }, throughput: { value: rate(bytes, t), unit: 'GB/s' }, limit: 'streamRead' }];
}

/** GEMM FLOPs of one HVP: 2·B·Σ_l in_l·out_l·k_l, k = 3 for the first linear layer, 8 for the others. */
export function hvpFlops(sizes: readonly number[], batch: number): number {
  let f = 0;
  for (let l = 0; l + 1 < sizes.length; l++) f += 2 * batch * sizes[l]! * sizes[l + 1]! * (l === 0 ? 3 : 8);
  return f;
}

export async function benchHvp(b: Backend, size: BenchSize, timing: TimingOptions): Promise<BenchResult[]> {
  const { mlpDescription } = await import('../model/description.js');
  const { Mlp } = await import('../model/mlp.js');
  const { CurvatureProduct, parameterLayout } = await import('../model/hvp.js');
  const { sizes, batch } = SIZES[size].hvp;
  const D = sizes[0]!;
  const C = sizes.at(-1)!;
  const out: BenchResult[] = [];
  for (const act of ['relu', 'tanh'] as const) {
    const model = Mlp.init(b, mlpDescription(D, sizes.slice(1, -1), C, act), 1234);
    const x = b.upload(fill(new Float32Array(batch * D), 41, 0, 1), [batch, D]);
    const y = b.uploadInt(ints(batch, C, 42), [batch]);
    const P = parameterLayout(model).size;
    const v = b.upload(fill(new Float32Array(P), 43), [P]);
    // "fresh": forward, backward and both R-passes every call, what one product costs
    const product = new CurvatureProduct(model, [{ x, labels: y }], { kind: 'hessian', cache: false });
    try {
      const t = await timeCalls(`hvp ${act}`, async () => {
        const hv: Tensor = product.apply(v);
        await b.sync();
        b.free(hv);
      }, timing);
      const flops = hvpFlops(sizes, batch);
      out.push({
        name: `hvp-${act}`,
        config: { mlp: sizes.join('-'), activation: act, batch, parameters: P, kind: 'hessian', state: 'fresh' },
        timing: t,
        work: { flops },
        throughput: { value: rate(flops, t), unit: 'GFLOP/s' },
        limit: 'gemmPeak',
      });
    } finally {
      product.dispose();
      for (const tns of [x, y, v]) b.free(tns);
      model.dispose();
    }
  }
  return out;
}

/** GEMM FLOPs of one training epoch: samples·2·(2·Σ_l in·out + Σ_{l>1} in·out) (forward, weight and input gradients). */
export function trainEpochFlops(sizes: readonly number[], samples: number): number {
  let f = 0;
  for (let l = 0; l + 1 < sizes.length; l++) f += sizes[l]! * sizes[l + 1]! * (l === 0 ? 2 : 3);
  return 2 * samples * f;
}

export async function benchTrain(b: Backend, size: BenchSize, timing: TimingOptions): Promise<BenchResult[]> {
  const { mlpDescription } = await import('../model/description.js');
  const { Mlp } = await import('../model/mlp.js');
  const { runTraining } = await import('../train/run.js');
  const { optimizerConfig } = await import('../train/optimizer.js');
  const { samples: N, sizes, batch } = SIZES[size].train;
  const D = sizes[0]!;
  const C = sizes.at(-1)!;
  const model = Mlp.init(b, mlpDescription(D, sizes.slice(1, -1), C, 'relu'), 1234);
  const data = { x: b.upload(fill(new Float32Array(N * D), 51, 0, 1), [N, D]), labels: ints(N, C, 52), indices: Int32Array.from({ length: N }, (_, i) => i), count: N };
  const optimizer = optimizerConfig('sgd', { lr: 0.05, momentum: 0.9 });
  let seed = 1;
  try {
    const t = await timeCalls('train epoch', async () => {
      await runTraining(model, data, undefined, { epochs: 1, batchSize: batch, optimizer, schedule: { name: 'cosine', warmupSteps: 0 }, seed: seed++ });
      await b.sync();
    }, timing);
    const flops = trainEpochFlops(sizes, N);
    return [{
      name: 'train',
      config: { mlp: sizes.join('-'), activation: 'relu', samples: N, batch, optimizer: 'sgd momentum 0.9', schedule: 'cosine', epochs: 1 },
      timing: t,
      work: { flops, samples: N },
      throughput: { value: rate(flops, t), unit: 'GFLOP/s' },
      samplesPerSecond: N / (t.meanMs / 1000),
      limit: 'gemmPeak',
    }];
  } finally {
    b.free(data.x);
    model.dispose();
  }
}

export const SUITES: Record<BenchName, (b: Backend, size: BenchSize, timing: TimingOptions) => Promise<BenchResult[]>> = {
  matmul: benchMatmul,
  cld: benchCld,
  hvp: benchHvp,
  train: benchTrain,
};
