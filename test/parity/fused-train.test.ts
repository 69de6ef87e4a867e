/**
 * The native and webgpu backends' fused training step (Backend.mlpTrainSteps, native/mlp_train.cc,
 * shaders/mlp_train.wgsl) against
 * training composed from kernels (model/mlp.ts + train/optimizer.ts), on native itself and on js
 * (float64 accumulation): after several epochs of mini-batches (the last one partial) the weights,
 * the epoch losses and every per-sample batch loss must agree within float32 tolerance — for SGD
 * (momentum, nesterov, weight decay), Adam and AdamW, every activation, bias-less layers, two
 * linear layers in a row, chained activations and an activation in front of the first layer. Also:
 * the hooks see the same calls as on the composed path, the epoch runs off the event loop, and
 * misuse is refused with the registry's codes before anything changes.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Backend, FusedTrainRequest } from '../../src/backends/backend.js';
import { JsBackend } from '../../src/backends/js/index.js';
import type { WebGpuBackend } from '../../src/backends/webgpu/backend.js';
import type { Runtime } from '../../src/backends/webgpu/runtime.js';
import { RiverbedError } from '../../src/errors.js';
import { type ModelDescription, mlpDescription, parseModelDescription } from '../../src/model/description.js';
import { Mlp } from '../../src/model/mlp.js';
import { type OptimizerConfig, optimizerConfig } from '../../src/train/optimizer.js';
import { FUSED_STEPS_PER_CALL, type TrainOptions, train } from '../../src/train/trainer.js';
import { backendsUnderTest, expectClose, randomArray, randomInts } from '../helpers/backends.js';

const [native, webgpu] = await backendsUnderTest(['native', 'webgpu']);

const model = (layers: unknown[]): ModelDescription => parseModelDescription({ format: 'riverbed.model', version: 1, layers, loss: 'cross_entropy' });

interface Case {
  name: string;
  d: ModelDescription;
  opt: OptimizerConfig;
  samples: number;
  batch: number;
  epochs: number;
}

const CASES: Case[] = [
  { name: 'relu, sgd momentum 0.9', d: mlpDescription(12, [16], 4, 'relu'), opt: optimizerConfig('sgd', { lr: 0.1, momentum: 0.9 }), samples: 70, batch: 16, epochs: 3 },
  { name: 'tanh, sgd nesterov + weight decay', d: mlpDescription(12, [16, 8], 3, 'tanh'), opt: optimizerConfig('sgd', { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-3 }), samples: 61, batch: 8, epochs: 2 },
  { name: 'sigmoid, sgd without momentum', d: mlpDescription(12, [16], 5, 'sigmoid'), opt: optimizerConfig('sgd', { lr: 0.2, momentum: 0 }), samples: 50, batch: 7, epochs: 2 },
  { name: 'gelu, adam + L2 weight decay', d: mlpDescription(12, [16], 4, 'gelu'), opt: optimizerConfig('adam', { lr: 0.01, weightDecay: 0.01 }), samples: 70, batch: 16, epochs: 3 },
  { name: 'relu, adamw', d: mlpDescription(12, [20, 10], 4, 'relu'), opt: optimizerConfig('adamw', { lr: 0.01, weightDecay: 0.05 }), samples: 45, batch: 10, epochs: 3 },
  {
    name: 'bias-less layers, two linear layers in a row, chained activations, leading activation',
    d: model([
      { type: 'tanh' },
      { type: 'linear', in: 12, out: 16, bias: false },
      { type: 'relu' },
      { type: 'gelu' },
      { type: 'linear', in: 16, out: 8 },
      { type: 'linear', in: 8, out: 8, bias: false },
      { type: 'sigmoid' },
      { type: 'relu' },
      { type: 'linear', in: 8, out: 3, bias: false },
    ]),
    opt: optimizerConfig('sgd', { lr: 0.1, momentum: 0.9, weightDecay: 1e-3 }),
    samples: 53,
    batch: 12,
    epochs: 2,
  },
  // Past 256 rows a batch's weight gradient takes several GEMM K blocks (it is written before its update).
  { name: 'batches of 300 rows, relu, sgd nesterov', d: mlpDescription(12, [16], 4, 'relu'), opt: optimizerConfig('sgd', { lr: 0.1, momentum: 0.9, nesterov: true }), samples: 700, batch: 300, epochs: 2 },
  { name: 'one batch bigger than the data', d: mlpDescription(12, [6], 3, 'tanh'), opt: optimizerConfig('adam', { lr: 0.01 }), samples: 9, batch: 32, epochs: 3 },
];

interface Run {
  weights: Float32Array[];
  epochLoss: number[];
  steps: number;
  stepCalls: number[];
  batches: { epoch: number; rows: number[]; loss: Float32Array }[];
}

async function run(b: Backend, c: Case, fused: boolean, extra: Partial<TrainOptions> = {}): Promise<Run> {
  const D = c.d.layers.find((l) => l.type === 'linear')!;
  const features = (D as { in: number }).in;
  const classes = (c.d.layers.filter((l) => l.type === 'linear').at(-1) as { out: number }).out;
  // Rows of x beyond the trained ones, trained in a scrambled subset, so row indices matter.
  const M = c.samples + 5;
  const x = b.upload(randomArray(M * features, 7, -2, 2), [M, features]);
  const labels = randomInts(M, 8, classes);
  const rows = Int32Array.from({ length: c.samples }, (_, i) => (i * 7 + 3) % M);
  const m = Mlp.init(b, c.d, 11);
  const stepCalls: number[] = [];
  const batches: Run['batches'] = [];
  const res = await train(m, { x, labels, rows }, {
    epochs: c.epochs,
    batchSize: c.batch,
    optimizer: c.opt,
    schedule: { name: 'cosine', warmupSteps: 2 },
    seed: 5,
    fused,
    onStep: (s) => stepCalls.push(s),
    onBatchLoss: (epoch, r, loss) => batches.push({ epoch, rows: Array.from(r), loss: Float32Array.from(loss) }),
    ...extra,
  });
  const weights = (await m.toHost()).map((t) => t.data);
  m.dispose();
  b.free(x);
  return { weights, epochLoss: res.epochLoss, steps: res.steps, stepCalls, batches };
}

function compare(got: Run, want: Run, tol: { rtol: number; atol: number }, label: string): void {
  expect(got.steps, `${label} steps`).toBe(want.steps);
  expect(got.stepCalls, `${label} onStep calls`).toEqual(want.stepCalls);
  expectClose(got.epochLoss, want.epochLoss, tol, `${label} epoch loss`);
  expect(got.batches.map((x) => [x.epoch, x.rows]), `${label} batch rows`).toEqual(want.batches.map((x) => [x.epoch, x.rows]));
  got.batches.forEach((x, i) => expectClose(x.loss, want.batches[i]!.loss, tol, `${label} batch ${i} losses`));
  expect(got.weights.length).toBe(want.weights.length);
  got.weights.forEach((w, i) => expectClose(w, want.weights[i]!, tol, `${label} parameter ${i}`));
}

describe.skipIf(native!.skip !== undefined)('fused native training step', () => {
  let nb: Backend;
  let fusedCalls = 0;
  beforeAll(async () => {
    nb = await native!.create();
    // Count the fused calls, so a test cannot pass by silently taking the composed path.
    const inner = nb.mlpTrainSteps!.bind(nb);
    (nb as { mlpTrainSteps: Backend['mlpTrainSteps'] }).mlpTrainSteps = (req: FusedTrainRequest) => {
      fusedCalls++;
      return inner(req);
    };
  });

  for (const c of CASES) {
    it(`${c.name}: same weights, losses and hooks as the composed path on native and js`, async () => {
      const before = fusedCalls;
      const fused = await run(nb, c, true);
      const steps = Math.ceil(c.samples / c.batch);
      // With onStep, calls of at most FUSED_STEPS_PER_CALL steps per epoch.
      expect(fusedCalls - before).toBe(c.epochs * Math.ceil(steps / FUSED_STEPS_PER_CALL));
      const composed = await run(nb, c, false);
      expect(fusedCalls - before, 'fused: false must take the composed path').toBe(c.epochs * Math.ceil(steps / FUSED_STEPS_PER_CALL));
      const ref = await run(new JsBackend(), c, false);
      // Same GEMMs and elementwise kernels as the composed native path: equal to rounding.
      compare(fused, composed, { rtol: 1e-5, atol: 1e-6 }, 'fused vs composed native');
      compare(fused, ref, { rtol: 2e-3, atol: 2e-5 }, 'fused native vs js');
      // The training moved the weights (a test that cannot fail otherwise).
      const init = Mlp.init(new JsBackend(), c.d, 11);
      const w0 = (await init.toHost()).map((t) => t.data);
      expect(fused.weights.some((w, i) => w.some((v, k) => Math.abs(v - w0[i]![k]!) > 1e-4))).toBe(true);
    });
  }

  it('without onStep an epoch is one call; onBatchLoss still gets every batch', async () => {
    const c = CASES[0]!;
    const before = fusedCalls;
    const fused = await run(nb, c, true, { onStep: undefined });
    expect(fusedCalls - before).toBe(c.epochs);
    const ref = await run(nb, c, false, { onStep: undefined });
    compare(fused, ref, { rtol: 1e-5, atol: 1e-6 }, 'one call per epoch');
    expect(fused.batches.length).toBe(c.epochs * Math.ceil(c.samples / c.batch));
  });

  it('an epoch runs off the event loop: timers fire while it trains', async () => {
    // ~50 ms of training or more on any machine: 784-256-10 on 4 096 rows.
    const d = mlpDescription(784, [256], 10, 'relu');
    const M = 4096;
    const x = nb.upload(randomArray(M * 784, 3), [M, 784]);
    const labels = randomInts(M, 4, 10);
    const m = Mlp.init(nb, d, 1);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    let ticksAtEnd = -1;
    const p = train(m, { x, labels }, { epochs: 1, batchSize: 64, optimizer: optimizerConfig('sgd'), schedule: { name: 'constant', warmupSteps: 0 }, seed: 1 });
    const ticksAtStart = ticks;
    await p.then(() => (ticksAtEnd = ticks));
    clearInterval(timer);
    m.dispose();
    nb.free(x);
    expect(ticksAtStart).toBe(0);
    // A synchronous epoch would block every timer until it returned.
    expect(ticksAtEnd).toBeGreaterThan(0);
  });

  it('misuse is refused with the registry codes, before any parameter changes', async () => {
    const d = mlpDescription(4, [5], 3, 'relu');
    const m = Mlp.init(nb, d, 2);
    const w0 = (await m.toHost()).map((t) => t.data);
    const x = nb.upload(randomArray(6 * 4, 1), [6, 4]);
    const zeros = (t: { shape: readonly number[] }) => [nb.zeros([...t.shape])];
    const p = m.params.map((q) => q.tensor);
    const req = (over: Partial<FusedTrainRequest> = {}): FusedTrainRequest => ({
      layers: [
        { type: 'linear', weight: p[0]!, bias: p[1]!, weightState: zeros(p[0]!), biasState: zeros(p[1]!) },
        { type: 'relu' },
        { type: 'linear', weight: p[2]!, bias: p[3]!, weightState: zeros(p[2]!), biasState: zeros(p[3]!) },
      ],
      x,
      labels: Int32Array.of(0, 1, 2, 0, 1, 2),
      rows: Int32Array.of(5, 0, 3),
      batchSize: 2,
      lr: Float64Array.of(0.1, 0.1),
      optimizer: { name: 'sgd', weightDecay: 0, momentum: 0.9, nesterov: false, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
      stepsBefore: 0,
      loss: new Float32Array(3),
      state: {},
      ...over,
    });
    const code = async (r: FusedTrainRequest) => {
      try {
        await nb.mlpTrainSteps!(r);
        return 'ok';
      } catch (e) {
        return e instanceof RiverbedError ? e.code : `not a RiverbedError: ${(e as Error).message}`;
      }
    };
    expect(await code(req({ labels: Int32Array.of(0, 1, 2, 3, 1, 2) }))).toBe('E_LABEL');
    expect(await code(req({ rows: Int32Array.of(5, 6, 3) }))).toBe('E_ARG');
    expect(await code(req({ lr: Float64Array.of(0.1) }))).toBe('E_ARG');
    expect(await code(req({ lr: Float64Array.of(0.1, NaN) }))).toBe('E_ARG');
    expect(await code(req({ loss: new Float32Array(2) }))).toBe('E_SHAPE');
    expect(await code(req({ labels: Int32Array.of(0, 1, 2) }))).toBe('E_SHAPE');
    expect(await code(req({ batchSize: 0 }))).toBe('E_ARG');
    expect(await code(req({ optimizer: { ...req().optimizer, name: 'adam' } }))).toBe('E_ARG'); // one state tensor, adam needs two
    expect(await code(req({ x: nb.upload(randomArray(6 * 5, 1), [6, 5]) }))).toBe('E_SHAPE');
    expect(await code(req({ x: new JsBackend().upload(randomArray(24, 1), [6, 4]) }))).toBe('E_ARG');
    const weightsAfter = (await m.toHost()).map((t) => t.data);
    weightsAfter.forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(w0[i]!)));
    // And the same request, valid, trains.
    expect(await code(req())).toBe('ok');
    expect((await m.toHost())[0]!.data).not.toEqual(w0[0]);
    m.dispose();
  });
});

/** Wraps a backend's mlpTrainSteps to count its calls (a test cannot pass through the composed path). */
function countFused(b: Backend): { calls: number } {
  const counter = { calls: 0 };
  const inner = b.mlpTrainSteps!.bind(b);
  (b as { mlpTrainSteps: Backend['mlpTrainSteps'] }).mlpTrainSteps = (req: FusedTrainRequest) => {
    counter.calls++;
    return inner(req);
  };
  return counter;
}

/** Counts a webgpu runtime's dispatches and host waits (readbacks) while `fn` runs. */
async function gpuCounts<T>(rt: Runtime, fn: () => Promise<T>): Promise<{ result: T; dispatches: number; reads: number; submits: number }> {
  const d0 = rt.stats.dispatches;
  const s0 = rt.stats.submits;
  let reads = 0;
  const inner = rt.readInto.bind(rt);
  rt.readInto = ((...a: Parameters<Runtime['readInto']>) => {
    reads++;
    return inner(...a);
  }) as Runtime['readInto'];
  try {
    const result = await fn();
    return { result, dispatches: rt.stats.dispatches - d0, reads, submits: rt.stats.submits - s0 };
  } finally {
    rt.readInto = inner;
  }
}

// WGSL on lavapipe (software Vulkan) in CI: the same small cases, fused vs composed on webgpu and js.
describe.skipIf(webgpu!.skip !== undefined)('fused webgpu training step', () => {
  let gb: WebGpuBackend;
  let fused: { calls: number };
  beforeAll(async () => {
    gb = (await webgpu!.create()) as WebGpuBackend;
    fused = countFused(gb);
  });

  for (const c of CASES) {
    it(`${c.name}: same weights, losses and hooks as the composed path on webgpu and js`, async () => {
      const before = fused.calls;
      const got = await run(gb, c, true);
      const steps = Math.ceil(c.samples / c.batch);
      expect(fused.calls - before).toBe(c.epochs * Math.ceil(steps / FUSED_STEPS_PER_CALL));
      const composed = await run(gb, c, false);
      expect(fused.calls - before, 'fused: false must take the composed path').toBe(c.epochs * Math.ceil(steps / FUSED_STEPS_PER_CALL));
      const ref = await run(new JsBackend(), c, false);
      // The same WGSL maths as the composed kernels (GEMM order, optim_math.wgsl, activation.wgsl).
      compare(got, composed, { rtol: 1e-5, atol: 1e-6 }, 'fused vs composed webgpu');
      compare(got, ref, { rtol: 2e-3, atol: 2e-5 }, 'fused webgpu vs js');
      const init = Mlp.init(new JsBackend(), c.d, 11);
      const w0 = (await init.toHost()).map((t) => t.data);
      expect(got.weights.some((w, i) => w.some((v, k) => Math.abs(v - w0[i]![k]!) > 1e-4))).toBe(true);
      expect(gb.rt.errors, 'GPU errors').toEqual([]);
    });
  }

  it('an epoch is one call with one host wait (the losses), far fewer dispatches than the composed epoch', async () => {
    const c = CASES[0]!;
    const before = fused.calls;
    const f = await gpuCounts(gb.rt, () => run(gb, c, true, { onStep: undefined, onBatchLoss: undefined }));
    expect(fused.calls - before).toBe(c.epochs);
    const composed = await gpuCounts(gb.rt, () => run(gb, c, false, { onStep: undefined, onBatchLoss: undefined }));
    compare(f.result, composed.result, { rtol: 1e-5, atol: 1e-6 }, 'one call per epoch');
    // run() reads the 4 parameters back at the end; the rest are the epochs' waits.
    expect(f.reads - 4).toBe(c.epochs);
    expect(composed.reads - 4).toBe(c.epochs);
    expect(f.dispatches).toBeLessThan(composed.dispatches / 2);
  });

  it('the binding cap and loop cap force tiled GEMMs, chunked K and chunked gathers: same result', async () => {
    const { createWebGpuBackend } = await import('../../src/backends/webgpu/index.js');
    // 1 KiB bindings (256 floats) and loops of 5: every GEMM block, K chunk, gather and bias sum is split.
    const tiny = (await createWebGpuBackend({ maxBindingBytes: 1024, loopChunk: 5 })) as WebGpuBackend;
    try {
      const calls = countFused(tiny);
      const c = CASES[1]!;
      const got = await run(tiny, c, true);
      expect(calls.calls).toBeGreaterThan(0);
      const composed = await run(gb, c, false);
      compare(got, composed, { rtol: 1e-5, atol: 1e-6 }, 'tiled fused vs composed webgpu');
      expect(tiny.rt.errors, 'GPU errors').toEqual([]);
    } finally {
      tiny.dispose();
    }
  });

  /** A small valid request on `b` (2 steps of 2 rows, then 1). */
  function request(b: Backend, m: Mlp): FusedTrainRequest {
    const p = m.params.map((q) => q.tensor);
    const zeros = (t: { shape: readonly number[] }) => [b.zeros([...t.shape])];
    return {
      layers: [
        { type: 'linear', weight: p[0]!, bias: p[1]!, weightState: zeros(p[0]!), biasState: zeros(p[1]!) },
        { type: 'relu' },
        { type: 'linear', weight: p[2]!, bias: p[3]!, weightState: zeros(p[2]!), biasState: zeros(p[3]!) },
      ],
      x: b.upload(randomArray(6 * 4, 1), [6, 4]),
      labels: Int32Array.of(0, 1, 2, 0, 1, 2),
      rows: Int32Array.of(5, 0, 3, 1, 2),
      batchSize: 2,
      lr: Float64Array.of(0.1, 0.1, 0.1),
      optimizer: { name: 'sgd', weightDecay: 0, momentum: 0.9, nesterov: false, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
      stepsBefore: 0,
      loss: new Float32Array(5),
      state: {},
    };
  }

  it('a GPU error in the middle of a call rejects its promise with a RiverbedError; the backend stays usable', async () => {
    const be = (await webgpu!.create()) as WebGpuBackend;
    const rt = be.rt;
    const dispatch = rt.dispatch.bind(rt);
    try {
      const m = Mlp.init(be, mlpDescription(4, [5], 3, 'relu'), 2);
      // The second step's first weight update gets a binding Dawn refuses (storage bindings are
      // multiples of 4 bytes): a validation error recorded among valid commands.
      let wgrads = 0;
      rt.dispatch = ((family, entry, constants, params, buffers, groups) => {
        if (family === 'mlp_train' && entry === 'wgrad_sgd' && ++wgrads === 3) {
          const c = buffers.c as { buffer: GPUBuffer };
          buffers = { ...buffers, c: { buffer: c.buffer, offset: 0, size: 2 } };
        }
        dispatch(family, entry, constants, params, buffers, groups);
      }) as Runtime['dispatch'];
      const p = be.mlpTrainSteps!(request(be, m));
      let err: unknown;
      await p.catch((e: unknown) => (err = e));
      expect(err).toBeInstanceOf(RiverbedError);
      expect((err as RiverbedError).code).toBe('E_BACKEND');
      expect((err as RiverbedError).message).toMatch(/^webgpu validation error: .*mlp_train:wgrad_sgd/);
      // The weight that update wrote is lost: reading it rejects too, with the same message.
      const lost = await be.read(m.params[2]!.tensor).then(() => undefined, (e: unknown) => e);
      expect(lost).toBeInstanceOf(RiverbedError);
      expect((lost as RiverbedError).message).toBe((err as RiverbedError).message);

      // A kernel that throws while the call records (here a refused allocation) rejects the same way,
      // never throws synchronously.
      rt.dispatch = ((family: string, ...rest: Parameters<Runtime['dispatch']> extends [string, ...infer R] ? R : never) => {
        if (family === 'mlp_train' && rest[0] === 'bwd_in') throw new RiverbedError('E_MEMORY', 'webgpu: injected out of memory');
        dispatch(family, ...rest);
      }) as Runtime['dispatch'];
      const m2 = Mlp.init(be, mlpDescription(4, [5], 3, 'relu'), 3);
      let sync: unknown;
      let p2: Promise<number> | undefined;
      try {
        p2 = be.mlpTrainSteps!(request(be, m2));
      } catch (e) {
        sync = e;
      }
      expect(sync).toBeUndefined();
      const err2 = await p2!.then(() => undefined, (e: unknown) => e);
      expect(err2).toBeInstanceOf(RiverbedError);
      expect((err2 as RiverbedError).code).toBe('E_MEMORY');

      // The backend goes on: a fresh model trains fused as the composed path does.
      rt.dispatch = dispatch;
      const c = CASES[2]!;
      compare(await run(be, c, true), await run(gb, c, false), { rtol: 1e-5, atol: 1e-6 }, 'after the errors');
    } finally {
      rt.dispatch = dispatch;
      be.dispose();
    }
  });
});
