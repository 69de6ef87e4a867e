/**
 * bisimulationLoss against the float64 js reference on awkward shapes, on every backend: one pair
 * (B = 1, its own partner), odd widths, no σ, rows repeated (distance 0 with a non-zero target:
 * the 0 subgradient), B = 70 001 pairs (past 65 535: native splits the pairs over its threads,
 * the mean is a multi-pass reduction on webgpu), embeddings wider than prediction and the other way.
 * webgpu also runs with 1 KiB bindings and loops of 3 (every tensor past one binding: partner rows
 * gathered, windows of rows, column chunks carried in the accumulator) and with 64 KiB bindings on
 * the large batch (hundreds of windows).
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Backend } from '../../src/backends/backend.js';
import { JsBackend } from '../../src/backends/js/index.js';
import { Rng } from '../../src/model/rng.js';
import { backendsUnderTest, expectClose, randomArray } from '../helpers/backends.js';

const backends = await backendsUnderTest();
const ref = new JsBackend();

interface Case {
  name: string;
  b: number;
  d: number;
  e: number;
  sigma: boolean;
  gamma: number;
  /** Rows of z repeated in blocks of this many (distance 0 for pairs inside a block). */
  repeat?: number;
  /** Small enough for webgpu with 1 KiB bindings (its gathers visit every window pair). */
  small: boolean;
}

const CASES: Case[] = [
  { name: 'one pair (B = 1)', b: 1, d: 4, e: 2, sigma: true, gamma: 0.99, small: true },
  { name: 'odd widths, D > E', b: 37, d: 7, e: 3, sigma: true, gamma: 0.9, small: true },
  { name: 'E > D, no σ', b: 29, d: 2, e: 9, sigma: false, gamma: 0.5, small: true },
  { name: 'repeated rows (distance 0)', b: 24, d: 5, e: 5, sigma: true, gamma: 0.99, repeat: 3, small: true },
  { name: 'wide rows', b: 6, d: 130, e: 41, sigma: true, gamma: 0.3, small: true },
  { name: 'B = 70 001', b: 70_001, d: 3, e: 2, sigma: true, gamma: 0.99, small: false },
];

function inputs(c: Case, seed: number) {
  const z = randomArray(c.b * c.d, seed);
  if (c.repeat) for (let i = 0; i < c.b; i++) z.copyWithin(i * c.d, Math.floor(i / c.repeat) * c.repeat * c.d, (Math.floor(i / c.repeat) * c.repeat + 1) * c.d);
  const perm = new Rng(seed).permutation(c.b);
  if (c.repeat) {
    // Pair rows 0 and 1 (equal rows: distance 0); the rest stays random.
    const k = perm.indexOf(1);
    [perm[0], perm[k]] = [1, perm[0]!];
  }
  return {
    z, perm,
    reward: randomArray(c.b, seed + 1, -2, 2),
    mu: randomArray(c.b * c.e, seed + 2),
    sigma: c.sigma ? randomArray(c.b * c.e, seed + 3, 0.05, 1) : undefined,
  };
}

async function run(be: Backend, c: Case, x: ReturnType<typeof inputs>) {
  const out = be.bisimulationLoss(
    be.upload(x.z, [c.b, c.d]), be.upload(x.reward, [c.b]), be.upload(x.mu, [c.b, c.e]),
    x.sigma ? be.upload(x.sigma, [c.b, c.e]) : undefined, x.perm, c.gamma,
  );
  return { loss: (await be.read(out.loss))[0]!, terms: await be.read(out.terms), grad: await be.read(out.grad) };
}

async function compare(be: Backend, which: (c: Case) => boolean): Promise<void> {
  let seed = 300;
  for (const c of CASES.filter(which)) {
    const x = inputs(c, (seed += 10));
    const got = await run(be, c, x);
    const want = await run(ref, c, x);
    expectClose([got.loss], [want.loss], { rtol: 1e-5, atol: 1e-7 }, `${c.name}: loss`);
    const termScale = Math.max(...want.terms);
    expectClose(got.terms, want.terms, { rtol: 1e-4, atol: 1e-5 * termScale }, `${c.name}: terms`);
    // Gradients are O(1/B): the tolerance follows their own scale.
    const gradScale = want.grad.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expectClose(got.grad, want.grad, { rtol: 1e-4, atol: 1e-5 * gradScale }, `${c.name}: grad`);
  }
}

for (const b of backends) {
  describe.skipIf(!!b.skip)(`bisimulationLoss: ${b.name}`, () => {
    let be: Backend;
    beforeAll(async () => {
      be = await b.create();
    });
    afterAll(() => be?.dispose());
    it('equals the float64 reference on awkward shapes', async () => {
      await compare(be, () => true);
    }, 120_000);
  });
}

const webgpu = backends.find((b) => b.name === 'webgpu');
describe.skipIf(!webgpu || !!webgpu.skip)('bisimulationLoss: webgpu past the binding cap', () => {
  it('1 KiB bindings and loops of 3: gathered partners, windows of rows, column chunks', async () => {
    const { createWebGpuBackend } = await import('../../src/backends/webgpu/index.js');
    const be = await createWebGpuBackend({ maxBindingBytes: 1024, loopChunk: 3 });
    try {
      await compare(be, (c) => c.small);
    } finally {
      be.dispose();
    }
  }, 120_000);
  it('64 KiB bindings on 70 001 pairs', async () => {
    const { createWebGpuBackend } = await import('../../src/backends/webgpu/index.js');
    const be = await createWebGpuBackend({ maxBindingBytes: 65_536 });
    try {
      await compare(be, (c) => !c.small);
    } finally {
      be.dispose();
    }
  }, 300_000);
});
