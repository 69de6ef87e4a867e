/**
 * The model engine end to end on every backend: 2 epochs on a small MNIST slice (forward,
 * backward, optimizer steps, gathers, recording) give the js loss curve within a loose tolerance.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/backend.js';
import { JsBackend } from '../../src/backends/js/index.js';
import { type MnistSplits, loadMnist } from '../../src/data/mnist.js';
import { mlpDescription } from '../../src/model/description.js';
import { Mlp } from '../../src/model/mlp.js';
import { optimizerConfig } from '../../src/train/optimizer.js';
import { type RunResult, runTraining, toDevice } from '../../src/train/run.js';
import { backendsUnderTest, expectClose } from '../helpers/backends.js';

let data: MnistSplits;

async function trainOn(b: Backend, optimizer: 'sgd' | 'adam'): Promise<{ run: RunResult; weights: Float32Array[] }> {
  const model = Mlp.init(b, mlpDescription(784, [32], 10, 'gelu'), 5);
  const train = toDevice(b, data.train);
  const val = toDevice(b, data.val);
  const run = await runTraining(model, train, val, {
    epochs: 2,
    batchSize: 50,
    optimizer: optimizer === 'sgd' ? optimizerConfig('sgd', { lr: 0.05, nesterov: true, weightDecay: 1e-4 }) : optimizerConfig('adam'),
    schedule: { name: 'cosine', warmupSteps: 5 },
    seed: 3,
    record: true,
    recordInit: true,
  });
  const weights = (await model.toHost()).map((t) => t.data);
  model.dispose();
  b.free(train.x);
  b.free(val.x);
  return { run, weights };
}

const cases = await backendsUnderTest(['native', 'webgpu']);

beforeAll(async () => {
  data = await loadMnist({ seed: 2, trainSize: 1000, valSize: 300, testSize: 1 });
});

describe.each(cases)('training on $name matches js', ({ name, skip, create }) => {
  let backend: Backend;
  beforeAll(async () => {
    if (!skip) backend = await create();
  });
  afterAll(() => backend?.dispose());
  for (const opt of ['sgd', 'adam'] as const) {
    it.skipIf(!!skip)(`${opt}: loss curve, recorded trajectories and weights`, async () => {
      const ref = await trainOn(new JsBackend(), opt);
      const got = await trainOn(backend, opt);
      expect(got.run.steps).toBe(ref.run.steps);
      expectClose(got.run.epochLoss, ref.run.epochLoss, { rtol: 2e-3, atol: 1e-5 }, `${name} epoch loss`);
      const r = ref.run.recorder!;
      const g = got.run.recorder!;
      expect(g.checkpoints).toEqual(['init', 1, 2]);
      expectClose(g.matrix('train', 'loss'), r.matrix('train', 'loss'), { rtol: 2e-2, atol: 2e-3 }, `${name} train loss trajectory`);
      expectClose(g.matrix('val', 'loss'), r.matrix('val', 'loss'), { rtol: 2e-2, atol: 2e-3 }, `${name} val loss trajectory`);
      got.weights.forEach((w, i) => expectClose(w, ref.weights[i]!, { rtol: 2e-2, atol: 2e-3 }, `${name} weights ${i}`));
    });
  }
});

describe('webgpu: the model engine frees every intermediate', () => {
  const gpu = cases.find((c) => c.name === 'webgpu')!;
  it.skipIf(!!gpu?.skip || !gpu)('no new GPU buffers once the pool is warm (training + recording)', async () => {
    const b = await gpu.create();
    try {
      const stats = (b as unknown as { rt: { stats: { buffersCreated: number } } }).rt.stats;
      const model = Mlp.init(b, mlpDescription(784, [16], 10, 'relu'), 1);
      const train = toDevice(b, data.train);
      const val = toDevice(b, data.val);
      const cfg = { epochs: 1, batchSize: 64, optimizer: optimizerConfig('adam'), schedule: { name: 'constant' as const, warmupSteps: 0 }, seed: 1, record: true };
      await runTraining(model, train, val, cfg);
      const warm = stats.buffersCreated;
      await runTraining(model, train, val, { ...cfg, epochs: 3 });
      // Same shapes as the warm-up run: every buffer (optimizer state included) must come from the pool.
      expect(stats.buffersCreated - warm).toBe(0);
    } finally {
      b.dispose();
    }
  });
});
