/**
 * The native backend's fused training step (Backend.mlpTrainSteps, native/mlp_train.cc) against
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
import { RiverbedError } from '../../src/errors.js';
import { type ModelDescription, mlpDescription, parseModelDescription } from '../../src/model/description.js';
import { Mlp } from '../../src/model/mlp.js';
import { type OptimizerConfig, optimizerConfig } from '../../src/train/optimizer.js';
import { FUSED_STEPS_PER_CALL, type TrainOptions, train } from '../../src/train/trainer.js';
import { backendsUnderTest, expectClose, randomArray, randomInts } from '../helpers/backends.js';

const [native] = await backendsUnderTest(['native']);

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
