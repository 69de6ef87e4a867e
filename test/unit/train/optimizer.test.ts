import { describe, expect, it } from 'vitest';
import { JsBackend } from '../../../src/backends/js/index.js';
import { Optimizer, optimizerConfig } from '../../../src/train/optimizer.js';

async function steps(name: 'sgd' | 'adam' | 'adamw', over: Parameters<typeof optimizerConfig>[1], p0: number[], gs: number[][], lr: number): Promise<Float32Array> {
  const b = new JsBackend();
  const p = b.upload(Float32Array.from(p0), [p0.length]);
  const opt = new Optimizer(b, [p], optimizerConfig(name, over));
  for (const g of gs) opt.step([b.upload(Float32Array.from(g), [g.length])], lr);
  return b.read(p);
}

describe('optimizers against hand-computed values', () => {
  it('SGD with momentum and weight decay (PyTorch semantics)', async () => {
    // g' = g + wd p; v = μ v + g'; p -= lr v
    const out = await steps('sgd', { momentum: 0.9, weightDecay: 0.1 }, [1, -2], [[0.5, 0.5], [1, 0]], 0.1);
    // step 1: g' = [0.6, 0.3]; v = g'; p = [0.94, -2.03]
    // step 2: g' = [1 + 0.094, 0 - 0.203] = [1.094, -0.203]; v = [0.54 + 1.094, 0.27 - 0.203]; p -= 0.1 v
    expect(out[0]).toBeCloseTo(0.94 - 0.1 * (0.54 + 1.094), 6);
    expect(out[1]).toBeCloseTo(-2.03 - 0.1 * (0.27 - 0.203), 6);
  });
  it('SGD with Nesterov momentum', async () => {
    const out = await steps('sgd', { momentum: 0.5, nesterov: true }, [1], [[2], [2]], 0.1);
    // step 1: v = 2, update g + μ v = 3 → p = 0.7; step 2: v = 3, update 2 + 1.5 = 3.5 → p = 0.35
    expect(out[0]).toBeCloseTo(0.35, 6);
  });
  it('one Adam step moves each weight by lr·sign(g) (bias correction)', async () => {
    const out = await steps('adam', {}, [1, 1, 1], [[0.3, -2, 1e-3]], 0.01);
    // m̂ = g, v̂ = g², step = lr·g/(|g| + eps)
    expect(out[0]).toBeCloseTo(1 - 0.01 * (0.3 / (0.3 + 1e-8)), 6);
    expect(out[1]).toBeCloseTo(1 + 0.01, 6);
    expect(out[2]).toBeCloseTo(1 - 0.01 * (1e-3 / (1e-3 + 1e-8)), 6);
  });
  it('two Adam steps, and AdamW decoupled decay', async () => {
    const b1 = 0.9;
    const b2 = 0.999;
    const g1 = 0.5;
    const g2 = -1;
    let m = (1 - b1) * g1;
    let v = (1 - b2) * g1 * g1;
    let p = 2 - (0.1 * (m / (1 - b1))) / (Math.sqrt(v / (1 - b2)) + 1e-8);
    m = b1 * m + (1 - b1) * g2;
    v = b2 * v + (1 - b2) * g2 * g2;
    p = p - (0.1 * (m / (1 - b1 ** 2))) / (Math.sqrt(v / (1 - b2 ** 2)) + 1e-8);
    expect((await steps('adam', {}, [2], [[g1], [g2]], 0.1))[0]).toBeCloseTo(p, 5);
    // AdamW, one step: p ← p(1 − lr·wd) − lr·sign(g)
    expect((await steps('adamw', { weightDecay: 0.5 }, [2], [[g1]], 0.1))[0]).toBeCloseTo(2 * (1 - 0.05) - 0.1, 6);
    // Adam with L2: g' = g + wd p = 0.5 + 1 → still a sign step of lr
    expect((await steps('adam', { weightDecay: 0.5 }, [2], [[g1]], 0.1))[0]).toBeCloseTo(1.9, 6);
  });
  it('validates hyper-parameters', () => {
    expect(() => optimizerConfig('sgd', { momentum: 1 })).toThrow(/momentum/);
    expect(() => optimizerConfig('adam', { lr: -1 })).toThrow(/lr/);
    expect(() => optimizerConfig('sgd', { momentum: 0, nesterov: true })).toThrow(/nesterov/);
  });
});
