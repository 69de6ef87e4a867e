/**
 * The bisimulation loss API (src/train/bisimulation.ts) on every backend: a three-pair batch
 * worked out by hand in float64; the gradient against central finite differences of a float64
 * loss written here (the target held constant: only z moves); π = identity; an embedding that
 * collapsed to one point (loss = mean of the squared targets, gradient 0); the seeded default
 * pairing; misuse.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../../src/backends/backend.js';
import { RiverbedError } from '../../../src/errors.js';
import { Rng } from '../../../src/model/rng.js';
import { bisimulationLoss } from '../../../src/train/bisimulation.js';
import { backendsUnderTest, expectClose, randomArray } from '../../helpers/backends.js';

const backends = await backendsUnderTest();

/** The loss in float64, straight from its definition. */
function loss64(z: ArrayLike<number>, r: ArrayLike<number>, mu: ArrayLike<number>, sigma: ArrayLike<number> | undefined, perm: ArrayLike<number>, d: number, e: number, gamma: number): number {
  const b = perm.length;
  let s = 0;
  for (let i = 0; i < b; i++) {
    const j = perm[i]!;
    let zz = 0;
    for (let c = 0; c < d; c++) zz += (z[i * d + c]! - z[j * d + c]!) ** 2;
    let w = 0;
    for (let c = 0; c < e; c++) w += (mu[i * e + c]! - mu[j * e + c]!) ** 2 + (sigma ? (sigma[i * e + c]! - sigma[j * e + c]!) ** 2 : 0);
    s += (Math.sqrt(zz) - (Math.abs(r[i]! - r[j]!) + gamma * Math.sqrt(w))) ** 2;
  }
  return s / b;
}

async function lossOf(be: Backend, z: Float32Array, r: Float32Array, mu: Float32Array, sigma: Float32Array | undefined, b: number, d: number, e: number, opts: Parameters<typeof bisimulationLoss>[2]) {
  const out = await bisimulationLoss(be, { z: be.upload(z, [b, d]), reward: be.upload(r, [b, 1]), mu: be.upload(mu, [b, e]), sigma: sigma ? be.upload(sigma, [b, e]) : undefined }, opts);
  return { loss: out.loss, terms: await be.read(out.terms), grad: await be.read(out.grad), perm: out.perm };
}

for (const bt of backends) {
  describe.skipIf(!!bt.skip)(`bisimulation loss: ${bt.name}`, () => {
    let be: Backend;
    beforeAll(async () => {
      be = await bt.create();
    });
    afterAll(() => be?.dispose());

    it('a three-pair batch worked out by hand', async () => {
      // z rows (0,0), (3,4), (1,1); pairs 0→1, 1→2, 2→0; γ = 0.5.
      const z = Float32Array.of(0, 0, 3, 4, 1, 1);
      const r = Float32Array.of(1, 0, 0.5);
      const mu = Float32Array.of(0, 0, 1, 0, 0, 2);
      const sigma = Float32Array.of(1, 1, 1, 2, 2, 1);
      const perm = [1, 2, 0];
      // Pair 0→1: ‖(−3,−4)‖ = 5, |1 − 0| = 1, W₂ = √(1 + 1) (μ differ by (−1,0), σ by (0,−1)).
      const d0 = 5;
      const res0 = d0 - (1 + 0.5 * Math.SQRT2);
      // Pair 1→2: ‖(2,3)‖ = √13, |0 − 0.5| = 0.5, W₂ = √(5 + 2) (μ: (1,−2), σ: (−1,1)).
      const d1 = Math.sqrt(13);
      const res1 = d1 - (0.5 + 0.5 * Math.sqrt(7));
      // Pair 2→0: ‖(1,1)‖ = √2, |0.5 − 1| = 0.5, W₂ = √(4 + 1) (μ: (0,2), σ: (1,0)).
      const d2 = Math.SQRT2;
      const res2 = d2 - (0.5 + 0.5 * Math.sqrt(5));
      const loss = (res0 ** 2 + res1 ** 2 + res2 ** 2) / 3;
      // ∂/∂z: pair i adds c_i·(z_i − z_j) to row i and subtracts it from row j, c_i = 2·res_i/(3·d_i).
      const [c0, c1, c2] = [(2 * res0) / (3 * d0), (2 * res1) / (3 * d1), (2 * res2) / (3 * d2)];
      const grad = [
        c0 * -3 - c2 * 1, c0 * -4 - c2 * 1, // row 0: +pair 0 (z0 − z1), −pair 2 (z2 − z0)
        c1 * 2 - c0 * -3, c1 * 3 - c0 * -4, // row 1: +pair 1 (z1 − z2), −pair 0
        c2 * 1 - c1 * 2, c2 * 1 - c1 * 3, // row 2: +pair 2 (z2 − z0), −pair 1
      ];
      const got = await lossOf(be, z, r, mu, sigma, 3, 2, 2, { perm, gamma: 0.5 });
      expect(got.loss).toBeCloseTo(loss, 6);
      expectClose(got.terms, [res0 ** 2, res1 ** 2, res2 ** 2], { rtol: 1e-6, atol: 1e-7 }, 'terms');
      expectClose(got.grad, grad, { rtol: 1e-5, atol: 1e-7 }, 'grad');
      expect([...got.perm]).toEqual(perm);
    });

    it('the gradient w.r.t. z equals central finite differences of the float64 loss (target constant)', async () => {
      const b = 9;
      const d = 5;
      const e = 3;
      const z = randomArray(b * d, 11);
      const r = randomArray(b, 12, -1, 1);
      const mu = randomArray(b * e, 13);
      const sigma = randomArray(b * e, 14, 0.1, 1);
      const perm = new Rng(15).permutation(b);
      const got = await lossOf(be, z, r, mu, sigma, b, d, e, { perm, gamma: 0.9 });
      const z64 = Float64Array.from(z);
      expect(got.loss).toBeCloseTo(loss64(z64, r, mu, sigma, perm, d, e, 0.9), 5);
      const h = 1e-6;
      const fd = z64.map((_, k) => {
        const up = Float64Array.from(z64);
        const down = Float64Array.from(z64);
        up[k] = up[k]! + h;
        down[k] = down[k]! - h;
        return (loss64(up, r, mu, sigma, perm, d, e, 0.9) - loss64(down, r, mu, sigma, perm, d, e, 0.9)) / (2 * h);
      });
      const scale = fd.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expect(scale).toBeGreaterThan(1e-3);
      expectClose(got.grad, fd, { rtol: 1e-4, atol: 1e-5 * scale }, 'grad vs finite differences');
    });

    it('π = identity pairs every sample with itself: every distance and target is 0, so loss = mean of target² = 0 and the gradient is 0', async () => {
      const b = 6;
      const got = await lossOf(be, randomArray(b * 4, 21), randomArray(b, 22), randomArray(b * 2, 23), randomArray(b * 2, 24, 0.1, 1), b, 4, 2, {
        perm: Int32Array.from({ length: b }, (_, i) => i),
      });
      expect(got.loss).toBe(0);
      expect([...got.terms]).toEqual(new Array(b).fill(0));
      expect(got.grad.every((v) => v === 0)).toBe(true);
    });

    it('an embedding collapsed to one point: loss = mean of the squared targets, gradient 0 (the 0 subgradient of ‖·‖ at 0)', async () => {
      const b = 7;
      const d = 3;
      const e = 2;
      const z = new Float32Array(b * d).fill(0.25);
      const r = randomArray(b, 31, -1, 1);
      const mu = randomArray(b * e, 32);
      const sigma = randomArray(b * e, 33, 0.1, 1);
      const perm = new Rng(34).permutation(b);
      const targets = Array.from(perm, (j, i) => {
        let w = 0;
        for (let c = 0; c < e; c++) w += (mu[i * e + c]! - mu[j * e + c]!) ** 2 + (sigma[i * e + c]! - sigma[j * e + c]!) ** 2;
        return Math.abs(r[i]! - r[j]!) + 0.99 * Math.sqrt(w);
      });
      expect(targets.some((t) => t > 0.1)).toBe(true);
      const got = await lossOf(be, z, r, mu, sigma, b, d, e, { perm });
      expect(got.loss).toBeCloseTo(targets.reduce((s, t) => s + t * t, 0) / b, 6);
      expectClose(got.terms, targets.map((t) => t * t), { rtol: 1e-5, atol: 1e-7 }, 'terms');
      expect(got.grad.every((v) => v === 0)).toBe(true);
    });

    it('without σ the predictions are deterministic: W₂ = ‖μ_i − μ_j‖', async () => {
      const b = 5;
      const z = randomArray(b * 2, 41);
      const r = randomArray(b, 42);
      const mu = randomArray(b * 3, 43);
      const perm = new Rng(44).permutation(b);
      const got = await lossOf(be, z, r, mu, undefined, b, 2, 3, { perm, gamma: 0.7 });
      expect(got.loss).toBeCloseTo(loss64(z, r, mu, undefined, perm, 2, 3, 0.7), 6);
    });

    it('the default pairing is a permutation drawn from the seed: reproducible, different per seed, the one the loss used', async () => {
      const b = 50;
      const z = randomArray(b * 3, 51);
      const r = randomArray(b, 52);
      const mu = randomArray(b * 2, 53);
      const a = await lossOf(be, z, r, mu, undefined, b, 3, 2, { seed: 7 });
      const again = await lossOf(be, z, r, mu, undefined, b, 3, 2, { seed: 7 });
      const other = await lossOf(be, z, r, mu, undefined, b, 3, 2, { seed: 8 });
      expect([...a.perm].sort((x, y) => x - y)).toEqual(Array.from({ length: b }, (_, i) => i));
      expect([...again.perm]).toEqual([...a.perm]);
      expect([...other.perm]).not.toEqual([...a.perm]);
      expect(a.loss).toBeCloseTo(loss64(z, r, mu, undefined, a.perm, 3, 2, 0.99), 5);
      // A training loop's own stream: successive batches get successive pairings.
      const rng = new Rng(9);
      const first = await lossOf(be, z, r, mu, undefined, b, 3, 2, { rng });
      const second = await lossOf(be, z, r, mu, undefined, b, 3, 2, { rng });
      expect([...second.perm]).not.toEqual([...first.perm]);
    });

    it('misuse: a pairing that is not a permutation, fractional entries, a bad seed, mismatched shapes', async () => {
      const code = async (fn: () => Promise<unknown>) => fn().then(() => 'ok', (err) => (err instanceof RiverbedError ? err.code : String(err)));
      const z = be.upload(randomArray(12, 61), [4, 3]);
      const reward = be.upload(randomArray(4, 62), [4]);
      const mu = be.upload(randomArray(8, 63), [4, 2]);
      expect(await code(() => bisimulationLoss(be, { z, reward, mu }, { perm: [0, 1, 1, 3] }))).toBe('E_ARG');
      expect(await code(() => bisimulationLoss(be, { z, reward, mu }, { perm: [0, 1, 2.5, 3] }))).toBe('E_ARG');
      expect(await code(() => bisimulationLoss(be, { z, reward, mu }, { seed: -1 }))).toBe('E_ARG');
      expect(await code(() => bisimulationLoss(be, { z, reward, mu }, { gamma: -1 }))).toBe('E_ARG');
      expect(await code(() => bisimulationLoss(be, { z, reward, mu: be.upload(randomArray(6, 64), [3, 2]) }))).toBe('E_SHAPE');
      expect(await code(() => bisimulationLoss(be, { z, reward, mu, sigma: be.upload(randomArray(4, 65), [4, 1]) }))).toBe('E_SHAPE');
    });
  });
}
