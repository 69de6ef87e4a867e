/**
 * AdaGrad and CLASSP through `Optimizer` (hand-computed steps, the moved fraction counted on the
 * device), optimizer state saved and restored (a restored optimizer continues bit for bit), and the
 * hyper-parameter checks.
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../../src/backends/backend.js';
import { JsBackend } from '../../../src/backends/js/index.js';
import { OPTIMIZERS, OPTIMIZER_STATE_NAMES, Optimizer, type OptimizerName, optimizerConfig } from '../../../src/train/optimizer.js';
import { backendsUnderTest, randomArray } from '../../helpers/backends.js';

const backends = await backendsUnderTest();

describe('AdaGrad and CLASSP through Optimizer', () => {
  it('AdaGrad: the step count drives lr decay (PyTorch: lr / (1 + (t − 1)·lrDecay))', async () => {
    const b = new JsBackend();
    const p = b.upload(Float32Array.of(1), [1]);
    const opt = new Optimizer(b, [p], optimizerConfig('adagrad', { lr: 0.1, lrDecay: 0.5 }));
    opt.step([b.upload(Float32Array.of(1), [1])], 0.1); // A = 1, p = 1 − 0.1·1/1 = 0.9
    opt.step([b.upload(Float32Array.of(1), [1])], 0.1); // A = 2, lr' = 0.1/1.5, p = 0.9 − lr'/√2
    expect((await b.read(p))[0]).toBeCloseTo(0.9 - 0.1 / 1.5 / Math.SQRT2, 6);
    expect(opt.steps).toBe(2);
    expect(await opt.takeUpdateFractions()).toEqual([]); // only classp counts
  });

  for (const be of backends) {
    it.skipIf(!!be.skip)(`CLASSP on ${be.name}: gated coordinates accumulate but stay; the moved fraction per step is exact`, async () => {
      const b: Backend = await be.create();
      try {
        // Two parameters, 4 + 2 coordinates; threshold 1/16 (exact in f32): |g| ≤ 0.25 is held.
        const w = b.upload(Float32Array.of(1, 1, 1, 1), [2, 2]);
        const bias = b.upload(Float32Array.of(0, 0), [2]);
        const opt = new Optimizer(b, [w, bias], optimizerConfig('classp', { threshold: 0.0625 }));
        const grads = [
          [[0.5, 0.25, -1, 0], [0.125, 2]], // moves 0.5, −1, 2: 3 of 6
          [[0, 0, 0, 0], [0, 0]], // moves none
          [[1, 1, 1, 1], [1, -1]], // moves all
        ];
        for (const [gw, gb] of grads) opt.step([b.upload(Float32Array.from(gw!), [2, 2]), b.upload(Float32Array.from(gb!), [2])], 0.2);
        expect(await opt.takeUpdateFractions()).toEqual([3 / 6, 0, 1]);
        expect(await opt.takeUpdateFractions()).toEqual([]); // taken
        // Coordinate 1 (g = 0.25, then 0, then 1): held at step 1, A = 0.25 + 0 + 1, moved once at step 3.
        const [state] = opt.stateTensors;
        expect(Array.from(await b.read(state![0]!))).toEqual([1.5, 1.25, 2, 1]);
        const wv = await b.read(w);
        expect(wv[1]).toBeCloseTo(1 - (0.2 * 1) / (1e-5 + 1.25), 6);
        // Coordinate 0 moved twice: A = 0.5 then 1.5.
        expect(wv[0]).toBeCloseTo(1 - (0.2 * 0.5) / (1e-5 + 0.5) - (0.2 * 1) / (1e-5 + 1.5), 6);
        opt.dispose();
      } finally {
        b.dispose();
      }
    });
  }

  it('the moved fractions of more steps than one device buffer holds come back in order', async () => {
    const b = new JsBackend();
    const p = b.upload(new Float32Array(4), [4]);
    const opt = new Optimizer(b, [p], optimizerConfig('classp', { threshold: 0.5 }));
    const want: number[] = [];
    for (let t = 0; t < 2100; t++) {
      const k = t % 5; // k of 4 coordinates above the threshold (k = 4: all)
      const g = Float32Array.from({ length: 4 }, (_, i) => (i < k ? 1 : 0.1));
      opt.step([b.upload(g, [4])], 0.01);
      want.push(Math.min(k, 4) / 4);
    }
    expect(await opt.takeUpdateFractions()).toEqual(want);
  });
});

describe('optimizer state: save, restore, continue', () => {
  const P = [[3, 4], [4]];
  async function run(b: Backend, name: OptimizerName, steps: number, from?: { state: Map<string, { data: Float32Array }>; weights: Float32Array[]; steps: number }) {
    const params = P.map((shape, i) => b.upload(from ? from.weights[i]! : randomArray(shape.reduce((x, y) => x * y, 1), 10 + i), shape));
    const over = name === 'sgd' ? { momentum: 0.9, weightDecay: 0.01 } : name === 'adagrad' ? { lrDecay: 0.01 } : name === 'classp' ? { threshold: 0.01, power: 1.5 } : {};
    const opt = new Optimizer(b, params, optimizerConfig(name, over));
    if (from) opt.loadState(from.state, ['0.weight', '0.bias'], from.steps);
    const t0 = opt.steps;
    for (let t = t0; t < t0 + steps; t++) {
      opt.step(P.map((shape, i) => b.upload(randomArray(shape.reduce((x, y) => x * y, 1), 100 * t + i), shape)), 0.05 / (1 + t));
    }
    const host = await opt.stateToHost(['0.weight', '0.bias']);
    const weights = await Promise.all(params.map((p) => b.read(p)));
    return { opt, host, weights };
  }

  for (const be of backends) {
    it.skipIf(!!be.skip)(`on ${be.name}: 5 steps, save, restore into a new optimizer, 4 more = 9 steps straight, bit for bit (every optimizer)`, async () => {
      const b = await be.create();
      try {
        for (const name of OPTIMIZERS) {
          const straight = await run(b, name, 9);
          const first = await run(b, name, 5);
          expect(first.host.map((t) => t.name)).toEqual(['0.weight', '0.bias'].flatMap((p) => OPTIMIZER_STATE_NAMES[name].map((k) => `${p}.${k}`)));
          const state = new Map(first.host.map((t) => [t.name, t]));
          const second = await run(b, name, 4, { state, weights: first.weights, steps: first.opt.steps });
          expect(second.opt.steps, name).toBe(9);
          second.weights.forEach((w, i) => expect(Array.from(w), `${name} weights ${i}`).toEqual(Array.from(straight.weights[i]!)));
          second.host.forEach((t, i) => expect(Array.from(t.data), `${name} ${t.name}`).toEqual(Array.from(straight.host[i]!.data)));
          for (const r of [straight, first, second]) r.opt.dispose();
        }
      } finally {
        b.dispose();
      }
    });
  }

  it('a state from another optimizer or model is refused, naming the file and the tensor, before any write', async () => {
    const b = new JsBackend();
    const p = b.upload(Float32Array.of(1, 2, 3), [3]);
    const adam = new Optimizer(b, [p], optimizerConfig('adam'));
    const sgdState = new Map([['w.momentum_buffer', { data: new Float32Array(3) }]]);
    expect(() => adam.loadState(sgdState, ['w'], 4, 'run/optimizer.safetensors')).toThrow(/run\/optimizer\.safetensors.*w\.exp_avg.*missing adam state tensor/);
    const short = new Map([['w.exp_avg', { data: new Float32Array(2) }], ['w.exp_avg_sq', { data: new Float32Array(3) }]]);
    expect(() => adam.loadState(short, ['w'], 4, 'f')).toThrow(/w\.exp_avg.*has 2 values; expected 3/);
    // Nothing was written: a partial load does not leave a half-restored state.
    const good = new Map([['w.exp_avg', { data: Float32Array.of(7, 7, 7) }], ['w.exp_avg_sq', { data: Float32Array.of(1, 1, 1) }]]);
    const bad = new Map([...good, ['w.exp_avg_sq', { data: new Float32Array(1) }]]);
    expect(() => adam.loadState(bad, ['w'], 4)).toThrow(/exp_avg_sq/);
    expect(Array.from(await b.read(adam.stateTensors[0]![0]!))).toEqual([0, 0, 0]);
    expect(adam.steps).toBe(0);
    expect(() => adam.loadState(good, ['w'], -1)).toThrow(/step count must be an integer ≥ 0/);
  });
});

describe('optimizer hyper-parameters', () => {
  it('defaults: AdaGrad as PyTorch, CLASSP as the paper (α 0.2, ε 1e-5, p 1)', () => {
    expect(optimizerConfig('adagrad')).toMatchObject({ lr: 0.01, eps: 1e-10, lrDecay: 0, weightDecay: 0 });
    expect(optimizerConfig('classp')).toMatchObject({ lr: 0.2, eps: 1e-5, power: 1, threshold: 1e-6 });
    expect(optimizerConfig('sgd')).not.toHaveProperty('power'); // recorded configs of the other optimizers are unchanged
  });
  it('bad values are refused naming the option', () => {
    expect(() => optimizerConfig('classp', { power: 0 })).toThrow(/classp-power.*positive/);
    expect(() => optimizerConfig('classp', { threshold: -1 })).toThrow(/classp-threshold.*≥ 0/);
    expect(() => optimizerConfig('classp', { threshold: NaN })).toThrow(/classp-threshold/);
    expect(() => optimizerConfig('classp', { weightDecay: 0.1 })).toThrow(/classp has no weight decay/);
    expect(() => optimizerConfig('classp', { momentum: 0.9 })).toThrow(/classp has no momentum/);
    expect(() => optimizerConfig('adagrad', { lrDecay: -1 })).toThrow(/lr-decay/);
    expect(() => optimizerConfig('sgd', { lrDecay: 0.1 })).toThrow(/only adagrad takes a learning-rate decay/);
    expect(() => optimizerConfig('adam', { threshold: 0.1 })).toThrow(/only classp takes a power and a threshold/);
    expect(() => optimizerConfig('adagrad', { lr: NaN })).toThrow(/positive learning rate/);
    expect(() => optimizerConfig('adagrad', { eps: Infinity })).toThrow(/eps/);
  });
});
