/**
 * A small CNN learns a few hundred MNIST digits on every backend with convolution kernels: the
 * epoch loss falls, held-out digits come out well above chance, and the recorded trajectory has a
 * row per checkpoint and a column per sample, as for an MLP. Data stay rows [N, 784] on the
 * device; the model reshapes them to [N, 1, 28, 28].
 */
import { describe, expect, it } from 'vitest';
import { loadMnist } from '../../../src/data/mnist.js';
import { parseModelDescription } from '../../../src/model/description.js';
import { Mlp } from '../../../src/model/mlp.js';
import { accuracy, evaluateSamples } from '../../../src/train/evaluate.js';
import { optimizerConfig } from '../../../src/train/optimizer.js';
import { runTraining, toDevice } from '../../../src/train/run.js';
import { backendsUnderTest } from '../../helpers/backends.js';

const d = parseModelDescription({
  format: 'riverbed.model',
  version: 1,
  input: [1, 28, 28],
  layers: [
    { type: 'conv2d', in: 1, out: 4, kernel: 3, padding: 1 },
    { type: 'relu' },
    { type: 'maxpool2d', kernel: 2 },
    { type: 'conv2d', in: 4, out: 8, kernel: 3, padding: 1 },
    { type: 'relu' },
    { type: 'avgpool2d', kernel: 2 },
    { type: 'flatten' },
    { type: 'linear', in: 392, out: 10 },
  ],
  loss: 'cross_entropy',
});

describe('training a CNN on MNIST digits', async () => {
  const data = await loadMnist({ trainSize: 320, valSize: 200, testSize: 1, seed: 3 });
  for (const bt of await backendsUnderTest()) {
    it.skipIf(!!bt.skip)(`${bt.name}: the loss falls and held-out digits are mostly right`, async () => {
      const b = await bt.create();
      try {
        const model = Mlp.init(b, d, 1);
        const train = toDevice(b, data.train);
        const val = toDevice(b, data.val);
        const before = accuracy(await evaluateSamples(model, val.x, val.labels));
        const run = await runTraining(model, train, val, {
          epochs: 4,
          batchSize: 32,
          optimizer: optimizerConfig('sgd', { lr: 0.05, momentum: 0.9 }),
          schedule: { name: 'cosine', warmupSteps: 0 },
          seed: 2,
          record: true,
          recordInit: true,
        });
        expect(run.steps).toBe(4 * 10);
        const [first, , , last] = run.epochLoss as [number, number, number, number];
        expect(first).toBeLessThan(2.4); // log 10 ≈ 2.30 at the start, falling during epoch 1
        expect(last).toBeLessThan(0.6 * first);
        const after = accuracy(await evaluateSamples(model, val.x, val.labels));
        expect(before).toBeLessThan(0.3);
        expect(after).toBeGreaterThan(0.7);
        const rec = run.recorder!;
        expect(rec.checkpoints).toEqual(['init', 1, 2, 3, 4]);
        const loss = rec.matrix('train', 'loss');
        expect(loss.length).toBe(5 * 320);
        // the recorded mean train loss falls from init to the last epoch
        const mean = (row: number) => loss.subarray(row * 320, (row + 1) * 320).reduce((a, v) => a + v, 0) / 320;
        expect(mean(4)).toBeLessThan(0.5 * mean(0));
      } finally {
        b.dispose();
      }
    });
  }
});
