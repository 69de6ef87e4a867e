/**
 * The parity test of every kernel of the Backend contract, on every backend from
 * backendsUnderTest(), against the js reference (js vs js is a sanity row).
 *
 * It depends only on the contract (src/backends/backend.ts), so every backend runs the same
 * cases. Tolerances are rtol 1e-4 / atol 1e-6 unless a case says otherwise and why:
 *   - matmul: atol 1e-6·K — a float32 dot product of K terms in [−1, 1] carries up to
 *     ~K·2⁻²⁴ of rounding next to the float64 reference, which matters for outputs near 0;
 *   - sum / dot / sumRows over n terms: atol 1e-6·√n — a float32 (e.g. GPU tree) reduction's
 *     typical error is ~2⁻²⁴·√n·rms, and the reference accumulates in float64;
 *   - cldScores: atol 1e-5 absolute, rtol 0 (the bound for CLD scores);
 *   - slice / copyInto: exact (rtol 0, atol 0) — they only move values.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTIVATIONS, type Backend, type BackendName, type CldKernelInput, type Tensor } from '../../src/backends/backend.js';
import { JsBackend } from '../../src/backends/js/index.js';
import { RiverbedError } from '../../src/errors.js';
import {
  AWKWARD_SIZES,
  DEFAULT_TOL,
  type Tolerance,
  backendsUnderTest,
  expectClose,
  randomArray,
  randomInts,
  rng,
} from '../helpers/backends.js';

const ref = new JsBackend();
// RIVERBED_TEST_BACKENDS=js,native narrows the run while a backend is being worked on; unset (CI), all three run.
const only = process.env.RIVERBED_TEST_BACKENDS?.split(',').map((s) => s.trim()).filter(Boolean) as BackendName[] | undefined;
const backends = await backendsUnderTest(only?.length ? only : undefined);

/** Uploads the same host arrays to a backend and to the reference. */
function pair(be: Backend, data: Float32Array, shape: number[]): [Tensor, Tensor] {
  return [be.upload(data, shape), ref.upload(data, shape)];
}
function pairInt(be: Backend, data: Int32Array, shape: number[]): [Tensor, Tensor] {
  return [be.uploadInt(data, shape), ref.uploadInt(data, shape)];
}
async function compare(be: Backend, got: Tensor, want: Tensor, label: string, tol: Tolerance = DEFAULT_TOL): Promise<void> {
  expect(got.shape, `${label} shape`).toEqual(want.shape);
  expect(got.dtype, `${label} dtype`).toBe(want.dtype);
  expectClose(await be.read(got), await ref.read(want), tol, label);
}
const reductionTol = (n: number): Tolerance => ({ rtol: 1e-4, atol: 1e-6 * Math.sqrt(n) });

/** Standardised class differences z [(E−1), C] from class mean validation losses v [E, C], as CldKernelInput documents. */
function classZFrom(v: Float64Array, E: number, C: number): Float64Array {
  const D = E - 1;
  const z = new Float64Array(D * C);
  for (let c = 0; c < C; c++) {
    let mean = 0;
    for (let e = 0; e < D; e++) mean += v[(e + 1) * C + c]! - v[e * C + c]!;
    mean /= D;
    let ss = 0;
    for (let e = 0; e < D; e++) ss += (v[(e + 1) * C + c]! - v[e * C + c]! - mean) ** 2;
    const std = Math.sqrt(ss / D);
    for (let e = 0; e < D; e++) z[e * C + c] = std === 0 ? 0 : (v[(e + 1) * C + c]! - v[e * C + c]! - mean) / std;
  }
  return z;
}

interface CldCase {
  E: number;
  N: number;
  C: number;
}

/**
 * A CLD input with every awkward sample kind: random losses, constant losses (every 97th
 * sample), exactly constant non-zero differences (every 89th: 1 + 0.25·e, exact in float32),
 * nearly constant differences (every 83rd),
 * and — when C > 1 — a class (the last) whose validation loss is flat, so its z is all zero.
 */
function cldInput({ E, N, C }: CldCase, f64: boolean, seed: number): CldKernelInput {
  const r = rng(seed);
  const T = f64 ? new Float64Array(E * N) : new Float32Array(E * N);
  for (let i = 0; i < E * N; i++) T[i] = 3 * r();
  // Nearly constant differences (a steep trend plus a few ulps of noise): a one-pass variance
  // without a shift would cancel catastrophically here.
  for (let i = 11; i < N; i += 83) for (let e = 0; e < E; e++) T[e * N + i] = 1 + 0.25 * e + 1e-5 * (r() - 0.5);
  for (let i = 0; i < N; i += 97) for (let e = 0; e < E; e++) T[e * N + i] = 0.75;
  for (let i = 5; i < N; i += 89) for (let e = 0; e < E; e++) T[e * N + i] = 1 + 0.25 * e;
  const v = new Float64Array(E * C);
  for (let i = 0; i < v.length; i++) v[i] = 2 * r();
  if (C > 1) for (let e = 0; e < E; e++) v[e * C + C - 1] = 0.5;
  return { trajectory: T, epochs: E, samples: N, labels: randomInts(N, seed + 1, C), numClasses: C, classZ: classZFrom(v, E, C) };
}

for (const b of backends) {
  describe.skipIf(!!b.skip)(`kernel parity: ${b.name} vs js`, () => {
    let be: Backend;
    beforeAll(async () => {
      be = await b.create();
    });
    afterAll(() => {
      be?.dispose();
    });

    it('upload / zeros / read round-trip', async () => {
      const x = randomArray(65_537, 1);
      expectClose(await be.read(be.upload(x, [65_537])), x, { rtol: 0, atol: 0 }, 'upload');
      const idx = randomInts(257, 2, 1000);
      expect(Array.from(await be.readInt(be.uploadInt(idx, [257])))).toEqual(Array.from(idx));
      const z = be.zeros([7, 3]);
      expect(z.shape).toEqual([7, 3]);
      expect(Array.from(await be.read(z))).toEqual(new Array(21).fill(0));
    });

    describe('matmul', () => {
      // [M, K, N]: 260×37×257 has 66 820 outputs (past 65 535) and enough work to run
      // multi-threaded; 20×300×2100 has K and N past the usual CPU blocking sizes (256, 2048).
      const shapes: [number, number, number][] = [
        [1, 1, 1],
        [7, 13, 5],
        [33, 65, 17],
        [260, 37, 257],
        [20, 300, 2100],
        // Narrow and short shapes (an MLP's last layer, small MLPs), where a CPU kernel may read
        // an operand in place instead of packing it: N = 10 under one register block with K past
        // 256; M = 24 (two full row blocks of 12) and M = 10 (one partial) against many columns.
        [50, 270, 10],
        [24, 300, 70],
        [10, 1030, 300],
      ];
      for (const [m, k, n] of shapes) {
        for (const transA of [false, true]) {
          for (const transB of [false, true]) {
            it(`${m}×${k}×${n} transA=${transA} transB=${transB}`, async () => {
              const [a, ar] = pair(be, randomArray(m * k, m * 31 + k), transA ? [k, m] : [m, k]);
              const [bb, br] = pair(be, randomArray(k * n, n * 17 + k), transB ? [n, k] : [k, n]);
              await compare(be, be.matmul(a, bb, transA, transB), ref.matmul(ar, br, transA, transB), 'matmul', {
                rtol: 1e-4,
                atol: 1e-6 * k,
              });
            });
          }
        }
      }
      it('rejects mismatched inner dimensions', () => {
        expect(() => be.matmul(be.zeros([2, 3]), be.zeros([4, 2]))).toThrow(/inner dimensions/);
      });
    });

    it.each([
      [1, 1],
      [1, 7],
      [7, 257],
      [2, 65_537],
    ])('addBias [%i, %i]', async (m, n) => {
      const [x, xr] = pair(be, randomArray(m * n, m + n), [m, n]);
      const [bias, biasr] = pair(be, randomArray(n, n + 3), [n]);
      await compare(be, be.addBias(x, bias), ref.addBias(xr, biasr), 'addBias');
    });

    for (const kind of ACTIVATIONS) {
      describe(`activation ${kind}`, () => {
        it.each([...AWKWARD_SIZES])('forward and gradient, n = %i', async (n) => {
          const xs = randomArray(n, n + 11, -6, 6);
          if (n >= 7) xs.set([0, -6, 6, 1e-3, -1e-3, 5.999, -5.999]); // exact 0 (ReLU's kink), both tails
          const [x, xr] = pair(be, xs, [n]);
          const [gy, gyr] = pair(be, randomArray(n, n + 13), [n]);
          await compare(be, be.activation(kind, x), ref.activation(kind, xr), `${kind}`);
          await compare(be, be.activationGrad(kind, x, gy), ref.activationGrad(kind, xr, gyr), `${kind}'`);
        });
      });
    }

    describe('softmaxCrossEntropy', () => {
      const cases: [string, number, number, number][] = [
        ['B=1, C=1', 1, 1, 3],
        ['B=7, C=10', 7, 10, 3],
        ['B=33, C=10, logits ±80', 33, 10, 80],
        ['B=6 554, C=10 (65 540 gradients)', 6_554, 10, 5],
        ['B=5, C=1 000, logits ±80', 5, 1_000, 80],
      ];
      it.each(cases)('%s', async (_name, bsz, c, scale) => {
        const [z, zr] = pair(be, randomArray(bsz * c, bsz * c + 7, -scale, scale), [bsz, c]);
        const [y, yr] = pairInt(be, randomInts(bsz, bsz + 9, c), [bsz]);
        const got = be.softmaxCrossEntropy(z, y);
        const want = ref.softmaxCrossEntropy(zr, yr);
        await compare(be, got.loss, want.loss, 'loss');
        await compare(be, got.grad, want.grad, 'grad');
        const loss = await be.read(got.loss);
        expect(loss.every(Number.isFinite), 'finite losses').toBe(true);
      });
    });

    it.each([
      [1, 1],
      [7, 13],
      [65_537, 3],
      [3, 65_537],
    ])('sumRows [%i, %i]', async (m, n) => {
      const [x, xr] = pair(be, randomArray(m * n, m * 3 + n), [m, n]);
      await compare(be, be.sumRows(x), ref.sumRows(xr), 'sumRows', reductionTol(m));
    });

    describe.each([...AWKWARD_SIZES])('BLAS-1, n = %i', (n) => {
      it('sum', async () => {
        const [x, xr] = pair(be, randomArray(n, n + 21), [n]);
        await compare(be, be.sum(x), ref.sum(xr), 'sum', reductionTol(n));
      });
      it('dot', async () => {
        const [x, xr] = pair(be, randomArray(n, n + 22), [n]);
        const [y, yr] = pair(be, randomArray(n, n + 23), [n]);
        await compare(be, be.dot(x, y), ref.dot(xr, yr), 'dot', reductionTol(n));
      });
      it('axpy', async () => {
        const [x, xr] = pair(be, randomArray(n, n + 24), [n]);
        const [y, yr] = pair(be, randomArray(n, n + 25), [n]);
        await compare(be, be.axpy(-0.37, x, y), ref.axpy(-0.37, xr, yr), 'axpy');
      });
      it('scale', async () => {
        const [x, xr] = pair(be, randomArray(n, n + 26), [n]);
        await compare(be, be.scale(2.5, x), ref.scale(2.5, xr), 'scale');
      });
    });

    describe('gatherRows', () => {
      it('repeated and out-of-order indices', async () => {
        const [x, xr] = pair(be, randomArray(50 * 7, 31), [50, 7]);
        const idx = Int32Array.from([0, 49, 3, 3, 3, 49, 0, 17, 3]);
        const [i, ir] = pairInt(be, idx, [idx.length]);
        await compare(be, be.gatherRows(x, i), ref.gatherRows(xr, ir), 'gatherRows');
      });
      it('70 000 gathered elements', async () => {
        const [x, xr] = pair(be, randomArray(1000 * 70, 32), [1000, 70]);
        const [i, ir] = pairInt(be, randomInts(1000, 33, 1000), [1000]);
        await compare(be, be.gatherRows(x, i), ref.gatherRows(xr, ir), 'gatherRows');
      });
      it('a single row of one column', async () => {
        const [x, xr] = pair(be, Float32Array.of(4.5), [1, 1]);
        const [i, ir] = pairInt(be, Int32Array.of(0, 0), [2]);
        await compare(be, be.gatherRows(x, i), ref.gatherRows(xr, ir), 'gatherRows');
      });
    });

    describe('sgdStep', () => {
      const variants = [
        { name: 'plain', momentum: 0, nesterov: false, weightDecay: 0 },
        { name: 'momentum', momentum: 0.9, nesterov: false, weightDecay: 0 },
        { name: 'nesterov + weight decay', momentum: 0.9, nesterov: true, weightDecay: 5e-4 },
        { name: 'momentum + weight decay', momentum: 0.8, nesterov: false, weightDecay: 1e-2 },
      ];
      for (const v of variants) {
        it.each([7, 65_537])(`${v.name}, n = %i, 3 steps`, async (n) => {
          const [p, pr] = pair(be, randomArray(n, n + 41), [n]);
          const [vel, velr] = pair(be, new Float32Array(n), [n]);
          for (let s = 0; s < 3; s++) {
            const [g, gr] = pair(be, randomArray(n, n + 42 + s), [n]);
            const h = { lr: 0.05, momentum: v.momentum, nesterov: v.nesterov, weightDecay: v.weightDecay };
            be.sgdStep(p, g, vel, h);
            ref.sgdStep(pr, gr, velr, h);
          }
          await compare(be, p, pr, 'param');
          await compare(be, vel, velr, 'velocity');
        });
      }
    });

    describe('adamStep', () => {
      for (const decoupled of [false, true]) {
        for (const steps of [1, 10]) {
          it.each([7, 65_537])(`${decoupled ? 'AdamW' : 'Adam'}, ${steps} step(s), n = %i`, async (n) => {
            const [p, pr] = pair(be, randomArray(n, n + 51), [n]);
            const [m, mr] = pair(be, new Float32Array(n), [n]);
            const [v, vr] = pair(be, new Float32Array(n), [n]);
            for (let s = 1; s <= steps; s++) {
              const [g, gr] = pair(be, randomArray(n, n + 52 + s), [n]);
              const h = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, step: s, decoupled };
              be.adamStep(p, g, m, v, h);
              ref.adamStep(pr, gr, mr, vr, h);
            }
            await compare(be, p, pr, 'param');
            await compare(be, m, mr, 'm');
            await compare(be, v, vr, 'v');
          });
        }
      }
    });

    describe('curvature: mul', () => {
      it.each([...AWKWARD_SIZES])('n = %i', async (n) => {
        const [x, xr] = pair(be, randomArray(n, n + 61, -3, 3), [n]);
        const [y, yr] = pair(be, randomArray(n, n + 62, -3, 3), [n]);
        await compare(be, be.mul(x, y), ref.mul(xr, yr), 'mul');
      });
      it('keeps x\'s shape and rejects different sizes', async () => {
        const [x, xr] = pair(be, randomArray(7 * 3, 63), [7, 3]);
        const [y, yr] = pair(be, randomArray(21, 64), [21]);
        await compare(be, be.mul(x, y), ref.mul(xr, yr), 'mul 2-D');
        expect(() => be.mul(be.zeros([3]), be.zeros([4]))).toThrow(RiverbedError);
      });
    });

    for (const kind of ACTIVATIONS) {
      describe(`curvature: activationRGrad ${kind}`, () => {
        it.each([...AWKWARD_SIZES])('n = %i', async (n) => {
          const zs = randomArray(n, n + 71, -6, 6);
          // exact 0 (ReLU's kink, GELU's f'' peak), both tails, GELU's f'' zeros at ±√2, tanh saturated at ±9
          if (n >= 9) zs.set([0, -6, 6, 1e-3, -1e-3, Math.SQRT2, -Math.SQRT2, 9, -9]);
          const [z, zr] = pair(be, zs, [n]);
          const [rz, rzr] = pair(be, randomArray(n, n + 72), [n]);
          const [ga, gar] = pair(be, randomArray(n, n + 73), [n]);
          const [rga, rgar] = pair(be, randomArray(n, n + 74), [n]);
          await compare(be, be.activationRGrad(kind, z, rz, ga, rga), ref.activationRGrad(kind, zr, rzr, gar, rgar), `R(${kind}')`);
        });
      });
    }
    it('activationRGrad rejects operands of different sizes', () => {
      const z = be.zeros([5]);
      const short = be.zeros([4]);
      expect(() => be.activationRGrad('tanh', z, short, z, z)).toThrow(RiverbedError);
      expect(() => be.activationRGrad('gelu', z, z, short, z)).toThrow(RiverbedError);
      expect(() => be.activationRGrad('relu', z, z, z, short)).toThrow(RiverbedError);
    });

    describe('curvature: softmaxHessianVec', () => {
      const cases: [string, number, number, number][] = [
        ['B=1, C=1 (always 0)', 1, 1, 3],
        ['B=7, C=10', 7, 10, 3],
        ['B=33, C=10, logits ±80', 33, 10, 80],
        ['B=6 554, C=10 (65 540 outputs)', 6_554, 10, 5],
        ['B=5, C=1 000, logits ±80', 5, 1_000, 80],
        ['B=2, C=65 537 (a row past 65 535)', 2, 65_537, 5],
      ];
      it.each(cases)('%s', async (_name, bsz, c, scale) => {
        const [z, zr] = pair(be, randomArray(bsz * c, bsz * c + 81, -scale, scale), [bsz, c]);
        const [r, rr] = pair(be, randomArray(bsz * c, bsz * c + 82), [bsz, c]);
        await compare(be, be.softmaxHessianVec(z, r), ref.softmaxHessianVec(zr, rr), 'H·r');
      });
      it('each row of H·r sums to 0 (H has the all-ones vector in its null space)', async () => {
        const bsz = 17;
        const c = 10;
        const got = await be.read(be.softmaxHessianVec(be.upload(randomArray(bsz * c, 83, -80, 80), [bsz, c]), be.upload(randomArray(bsz * c, 84), [bsz, c])));
        for (let i = 0; i < bsz; i++) {
          let s = 0;
          for (let j = 0; j < c; j++) s += got[i * c + j]!;
          expect(Math.abs(s), `row ${i}`).toBeLessThan(1e-5);
        }
      });
      it('rejects r of a different size and 1-D logits', () => {
        expect(() => be.softmaxHessianVec(be.zeros([3, 4]), be.zeros([3, 5]))).toThrow(RiverbedError);
        expect(() => be.softmaxHessianVec(be.zeros([12]), be.zeros([12]))).toThrow(RiverbedError);
      });
    });

    describe('curvature: slice and copyInto', () => {
      const n = 70_001;
      // [offset, shape]: the first element, the last one, the whole tensor, an odd offset, and
      // 65 537 elements ending exactly at the end.
      const slices: [number, number[]][] = [
        [0, [1]],
        [n - 1, [1]],
        [0, [n]],
        [1, [3, 257]],
        [n - 65_537, [65_537]],
        [12_345, [7, 11, 13]],
      ];
      it.each(slices)('slice at %i, shape %j', async (offset, shape) => {
        const [x, xr] = pair(be, randomArray(n, 91), [n]);
        await compare(be, be.slice(x, offset, shape), ref.slice(xr, offset, shape), 'slice');
      });
      it.each(slices)('copyInto at %i, %j elements', async (offset, shape) => {
        const size = shape.reduce((a, b) => a * b, 1);
        const [dst, dstr] = pair(be, randomArray(n, 92), [n]);
        const [src, srcr] = pair(be, randomArray(size, 93 + size), shape);
        be.copyInto(dst, offset, src);
        ref.copyInto(dstr, offset, srcr);
        await compare(be, dst, dstr, 'copyInto (the whole destination: nothing outside the range changes)', { rtol: 0, atol: 0 });
      });
      it('splits a flat vector into layer blocks and reassembles it exactly', async () => {
        const blocks: number[][] = [[32, 20], [32], [32, 32], [32], [5, 32], [5]];
        const total = blocks.reduce((acc, s) => acc + s.reduce((a, b) => a * b, 1), 0);
        const data = randomArray(total, 94);
        const v = be.upload(data, [total]);
        const out = be.zeros([total]);
        let off = 0;
        for (const shape of blocks) {
          const part = be.slice(v, off, shape);
          expect(part.shape).toEqual(shape);
          be.copyInto(out, off, be.scale(2, part));
          off += part.size;
        }
        expectClose(await be.read(out), data.map((x) => 2 * x), { rtol: 0, atol: 0 }, 'reassembled');
      });
      it('rejects offsets outside the tensor, non-integer and negative offsets, leaving dst unchanged', async () => {
        const data = randomArray(10, 95);
        const x = be.upload(data, [10]);
        const src = be.upload(randomArray(4, 96), [4]);
        for (const [off, shape] of [[-1, [2]], [9, [2]], [0, [11]], [10, [1]], [1.5, [2]], [NaN, [1]]] as [number, number[]][]) {
          expect(() => be.slice(x, off, shape), `slice(${off}, [${shape}])`).toThrow(RiverbedError);
        }
        for (const off of [-1, 7, 10, 0.5, NaN, Infinity]) {
          expect(() => be.copyInto(x, off, src), `copyInto(${off})`).toThrow(RiverbedError);
        }
        expectClose(await be.read(x), data, { rtol: 0, atol: 0 }, 'dst after rejected copies');
      });
    });

    describe('cldScores', () => {
      // Class counts 1, 10, 40, 100 and 300 reach every lookup strategy a CPU kernel might use
      // (register tables, gathers); odd and even epoch counts reach paired-epoch remainders.
      const cases: CldCase[] = [
        { E: 5, N: 70_001, C: 10 },
        { E: 3, N: 65_539, C: 1 },
        { E: 3, N: 1_000, C: 10 },
        { E: 50, N: 2_051, C: 10 },
        { E: 50, N: 333, C: 1 },
        { E: 4, N: 1_037, C: 40 },
        { E: 7, N: 4_099, C: 100 },
        { E: 50, N: 1_000, C: 300 },
        { E: 2, N: 17, C: 3 },
      ];
      for (const c of cases) {
        for (const f64 of [false, true]) {
          it(`E=${c.E} N=${c.N} C=${c.C} ${f64 ? 'float64' : 'float32'} trajectory`, async () => {
            const input = cldInput(c, f64, c.E * 1000 + c.N + (f64 ? 1 : 0));
            const want = await ref.cldScores(input);
            const got = await be.cldScores(input);
            expectClose(got, want, { rtol: 0, atol: 1e-5 }, 'cld r');
            // The awkward samples really are exactly 0, and scores are correlations.
            for (let i = 0; i < c.N; i += 97) expect(got[i], `constant loss, sample ${i}`).toBe(0);
            for (let i = 5; i < c.N; i += 89) expect(got[i], `constant differences, sample ${i}`).toBe(0);
            for (let i = 0; i < c.N; i++) if (!(Math.abs(got[i]!) <= 1 + 1e-5)) expect.fail(`|r| > 1 at ${i}: ${got[i]}`);
            if (c.C > 1 && c.E > 2) {
              let flat = 0;
              for (let i = 0; i < c.N; i++) if (input.labels[i] === c.C - 1) (flat++, expect(got[i]).toBe(0));
              expect(flat).toBeGreaterThan(0);
            }
          });
        }
      }
    });
  });
}
