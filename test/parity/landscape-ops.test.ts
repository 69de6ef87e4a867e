/**
 * The landscape ops against the js reference on awkward sizes, on every backend, and on webgpu
 * with tiny storage bindings (1 KiB: a basis larger than one binding is combined term by term, a
 * point's a and c cut by rows, points chunked) and short loops (K in chunks of 3, later chunks
 * accumulating, the activation after the last) — every path of kernels/landscape.ts.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Activation, Backend } from '../../src/backends/backend.js';
import { JsBackend } from '../../src/backends/js/index.js';
import { backendsUnderTest, expectClose, randomArray } from '../helpers/backends.js';

const backends = await backendsUnderTest();
const ref = new JsBackend();

const CASES: { name: string; p: number; m: number; n: number; k: number; bias: boolean; act?: Activation }[] = [
  { name: 'one point, no bias, no activation', p: 1, m: 7, n: 5, k: 9, bias: false },
  { name: 'points with bias and relu, edge tiles', p: 5, m: 37, n: 33, k: 41, bias: true, act: 'relu' },
  { name: 'tall points, gelu', p: 3, m: 130, n: 17, k: 70, bias: true, act: 'gelu' },
  { name: 'K = 0: the bias through sigmoid', p: 2, m: 3, n: 4, k: 0, bias: true, act: 'sigmoid' },
];

async function compare(be: Backend): Promise<void> {
  let seed = 100;
  for (const c of CASES) {
    const A = randomArray(c.p * c.m * c.k, seed++);
    const B = randomArray(c.p * c.n * c.k, seed++);
    const bias = randomArray(c.p * c.n, seed++);
    const run = async (b: Backend) => b.read(b.batchedMatmul(b.upload(A, [c.p, c.m, c.k]), b.upload(B, [c.p, c.n, c.k]), c.bias ? b.upload(bias, [c.p, c.n]) : undefined, c.act));
    expectClose(await run(be), await run(ref), { rtol: 1e-4, atol: 1e-5 }, `batchedMatmul ${c.name}`);
  }
  for (const [p, j, shape, act] of [[1, 1, [1, 9], undefined], [6, 3, [3, 50, 21], 'tanh'], [9, 2, [2, 300], 'relu'], [100, 3, [3, 2], undefined]] as [number, number, number[], Activation | undefined][]) {
    const coef = randomArray(p * j, seed++, -2, 2);
    const basis = randomArray(shape.reduce((a, b) => a * b, 1), seed++);
    const run = async (b: Backend) => b.read(b.pointCombine(b.upload(coef, [p, j]), b.upload(basis, shape), act));
    expectClose(await run(be), await run(ref), { rtol: 1e-5, atol: 1e-6 }, `pointCombine ${p}×${j} ${shape.join('x')} ${act ?? ''}`);
  }
}

for (const b of backends) {
  describe.skipIf(!!b.skip)(`landscape ops: ${b.name}`, () => {
    let be: Backend;
    beforeAll(async () => {
      be = await b.create();
    });
    afterAll(() => be?.dispose());
    it('batchedMatmul and pointCombine equal the js reference on awkward sizes', async () => {
      await compare(be);
    });
  });
}

const webgpu = backends.find((b) => b.name === 'webgpu');
describe.skipIf(!webgpu || !!webgpu.skip)('landscape ops: webgpu with 1 KiB bindings and loops of 3', () => {
  let be: Backend;
  beforeAll(async () => {
    const { createWebGpuBackend } = await import('../../src/backends/webgpu/index.js');
    be = await createWebGpuBackend({ maxBindingBytes: 1024, loopChunk: 3 });
  });
  afterAll(() => be?.dispose());
  it('every tiled path equals the js reference', async () => {
    await compare(be);
  });
});
