/**
 * Deterministic native jobs (a fused curvature product, a CLD scoring) that the concurrency and
 * event-loop tests run in worker_threads (bundled by esbuild, see native-thread-worker.ts) and in
 * the main thread, through riverbed's public API. Inputs come from a seeded xorshift generator,
 * not test/helpers/backends.ts, which imports vitest and cannot run in a plain worker.
 */
import { type Activation, type Backend, type DeviceBatch, hessianOperator, Mlp, mlpDescription } from '../../src/index.js';

export interface HvpJob {
  kind: 'hvp';
  features: number;
  hidden: number[];
  classes: number;
  activation: Activation;
  samples: number;
  /** Rows per batch (several batches accumulate into one product). */
  batch: number;
  seed: number;
}
export interface CldJob {
  kind: 'cld';
  epochs: number;
  samples: number;
  classes: number;
  seed: number;
}
export type Job = HvpJob | CldJob;

function xorshift(seed: number): () => number {
  let s = (seed * 2654435761) >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}
export function values(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = xorshift(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}
export function ints(n: number, seed: number, hiExclusive: number): Int32Array {
  const r = xorshift(seed);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r() * hiExclusive);
  return out;
}

/** The Hessian operator of a seeded model on seeded data, and a seeded vector, on `backend`. */
export function hvpProblem(backend: Backend, job: HvpJob) {
  const model = Mlp.init(backend, mlpDescription(job.features, job.hidden, job.classes, job.activation), job.seed);
  const batches: DeviceBatch[] = [];
  for (let s = 0; s < job.samples; s += job.batch) {
    const rows = Math.min(job.batch, job.samples - s);
    batches.push({
      x: backend.upload(values(rows * job.features, job.seed + 1 + s, -2, 2), [rows, job.features]),
      labels: backend.uploadInt(ints(rows, job.seed + 2 + s, job.classes), [rows]),
    });
  }
  const op = hessianOperator(model, batches);
  const v = backend.upload(values(op.size, job.seed + 3), [op.size]);
  const dispose = () => {
    op.dispose();
    backend.free(v);
    for (const b of batches) {
      backend.free(b.x);
      backend.free(b.labels);
    }
    model.dispose();
  };
  return { model, op, v, dispose };
}

export function cldInput(job: CldJob) {
  const { epochs: E, samples: N, classes: C } = job;
  return {
    trajectory: values(E * N, job.seed, 0, 3),
    epochs: E,
    samples: N,
    labels: ints(N, job.seed + 1, C),
    numClasses: C,
    classZ: Float64Array.from(values((E - 1) * C, job.seed + 2)),
  };
}

/**
 * Runs a job; returns its outputs. HVP: the product through matvec (synchronous, computing the
 * kept state), through matvecAsync (off the main thread when large, reusing it), and again
 * through matvec.
 */
export async function runJob(backend: Backend, job: Job): Promise<Float32Array[]> {
  if (job.kind === 'cld') return [await backend.cldScores(cldInput(job))];
  const { op, v, dispose } = hvpProblem(backend, job);
  try {
    const out: Float32Array[] = [];
    for (const product of [() => op.matvec(v), () => op.matvecAsync!(v), () => op.matvec(v)]) {
      const t = await product();
      out.push(await backend.read(t));
      backend.free(t);
    }
    return out;
  } finally {
    dispose();
  }
}
