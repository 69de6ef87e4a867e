/**
 * The schedule reaches the optimizer: train() asks for every 0-based step of the run in order,
 * and schedules that coincide in closed form train to identical weights (wsd with F = 1 and
 * linear; wsd with F = 0 and constant; a user function written as linear), while a schedule
 * that differs gives different weights.
 */
import { describe, expect, it } from 'vitest';
import { JsBackend } from '../../../src/backends/js/index.js';
import { mlpDescription } from '../../../src/model/description.js';
import { Mlp } from '../../../src/model/mlp.js';
import { Rng } from '../../../src/model/rng.js';
import { optimizerConfig } from '../../../src/train/optimizer.js';
import { type ScheduleConfig, customSchedule } from '../../../src/train/schedule.js';
import { train } from '../../../src/train/trainer.js';

async function weightsAfter(schedule: ScheduleConfig): Promise<number[]> {
  const b = new JsBackend();
  const r = new Rng(3);
  const n = 60;
  const x = Float32Array.from({ length: n * 3 }, () => r.uniform(-1, 1));
  const labels = Int32Array.from({ length: n }, (_, i) => i % 3);
  const model = Mlp.init(b, mlpDescription(3, [5], 3, 'tanh'), 1);
  await train(model, { x: b.upload(x, [n, 3]), labels }, { epochs: 2, batchSize: 8, optimizer: optimizerConfig('sgd', { lr: 0.3 }), schedule, seed: 2 });
  const w = (await model.toHost()).flatMap((t) => Array.from(t.data));
  model.dispose();
  return w;
}

describe('schedules in training', () => {
  it('train() asks the schedule for steps 0 … T−1 of T = epochs × ceil(n / batch)', async () => {
    const asked: [number, number][] = [];
    await weightsAfter(customSchedule((t, T, base) => (asked.push([t, T]), base)));
    // Each step may be asked more than once (validation), but in order and within the run.
    const steps = [...new Set(asked.map(([t]) => t))];
    expect(steps).toEqual(Array.from({ length: 16 }, (_, t) => t));
    expect(new Set(asked.map(([, T]) => T))).toEqual(new Set([16]));
  });

  it('equal closed forms train to equal weights; a different schedule does not', async () => {
    const linear = await weightsAfter({ name: 'linear', warmupSteps: 0 });
    expect(await weightsAfter({ name: 'wsd', warmupSteps: 0, decayFraction: 1 })).toEqual(linear);
    expect(await weightsAfter(customSchedule((t, T, base) => base * (1 - t / T)))).toEqual(linear);
    const constant = await weightsAfter({ name: 'constant', warmupSteps: 0 });
    expect(await weightsAfter({ name: 'wsd', warmupSteps: 0, decayFraction: 0 })).toEqual(constant);
    const half = await weightsAfter({ name: 'wsd', warmupSteps: 0, decayFraction: 0.5 });
    expect(half).not.toEqual(linear);
    expect(half).not.toEqual(constant);
  });
});
