/**
 * Convolution and pooling (issue 12) on every backend, against truths written here:
 *
 *   - a direct float64 reference of every op (zero- or −inf-padded copies of the input, windows
 *     read straight off the definition; gradients as scatters of each output into its window) —
 *     neither the backends' gather loops nor an im2col/GEMM path;
 *   - central finite differences (float64) of a scalar loss L = Σ r ⊙ f(x, w, b) through that
 *     reference forward, for the input, weight and bias gradients and both pools' backwards;
 *   - hand-worked max-pool ties, −inf windows and NaN (PyTorch's rules);
 *   - bad input: E_SHAPE / E_ARG with the sizes named.
 *
 * Shapes are modest but awkward: odd sizes, stride 2, padding 0/1/2, kernels 1, 3, 5 and [3, 2],
 * one and many channels, batch 1, and a batch of 65 537 (past one dispatch's 65 535 workgroups).
 * Tolerances: a float32 sum of K terms in [−1, 1] carries up to ~K·2⁻²⁴ next to float64, so
 * atol = 1e-6·K with K the terms per output (C·KH·KW forward, O·KH·KW input gradient,
 * N·OH·OW weight gradient), rtol 1e-4; pooling moves or averages a window: 1e-6.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, BackendName, Tensor } from '../../src/backends/backend.js';
import type { Conv2dGeom, OpName, Pool2dGeom } from '../../src/backends/ops.js';
import { RiverbedError } from '../../src/errors.js';
import { backendsUnderTest, expectClose, randomArray, randomInts, rng } from '../helpers/backends.js';

const only = process.env.RIVERBED_TEST_BACKENDS?.split(',').map((s) => s.trim()).filter(Boolean) as BackendName[] | undefined;
const backends = await backendsUnderTest(only?.length ? only : undefined);

type Arr = ArrayLike<number>;
type Shape4 = [number, number, number, number];

// ---- the float64 reference -----------------------------------------------------------------------

const outDim = (size: number, k: number, s: number, p: number) => Math.floor((size + 2 * p - k) / s) + 1;

/** x [N,C,H,W] copied into [N,C,H+2ph,W+2pw] filled with `fill` around it. */
function padded(x: Arr, [N, C, H, W]: Shape4, ph: number, pw: number, fill: number): { xp: Float64Array; Hp: number; Wp: number } {
  const Hp = H + 2 * ph;
  const Wp = W + 2 * pw;
  const xp = new Float64Array(N * C * Hp * Wp).fill(fill);
  for (let p = 0; p < N * C; p++) for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) xp[(p * Hp + i + ph) * Wp + j + pw] = x[(p * H + i) * W + j]!;
  return { xp, Hp, Wp };
}
/** The [N,C,H,W] interior of a padded array. */
function crop(xp: Float64Array, [N, C, H, W]: Shape4, ph: number, pw: number): Float64Array {
  const Hp = H + 2 * ph;
  const Wp = W + 2 * pw;
  const x = new Float64Array(N * C * H * W);
  for (let p = 0; p < N * C; p++) for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) x[(p * H + i) * W + j] = xp[(p * Hp + i + ph) * Wp + j + pw]!;
  return x;
}

interface ConvCase {
  name: string;
  x: Shape4;
  /** [O, KH, KW] */
  w: [number, number, number];
  g: Conv2dGeom;
  bias: boolean;
}

function refConv(x: Arr, w: Arr, b: Arr | undefined, cs: ConvCase): Float64Array {
  const [N, C] = cs.x;
  const [O, KH, KW] = cs.w;
  const { strideH: sh, strideW: sw, padH: ph, padW: pw } = cs.g;
  const OH = outDim(cs.x[2], KH, sh, ph);
  const OW = outDim(cs.x[3], KW, sw, pw);
  const { xp, Hp, Wp } = padded(x, cs.x, ph, pw, 0);
  const y = new Float64Array(N * O * OH * OW);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let i = 0; i < OH; i++)
        for (let j = 0; j < OW; j++) {
          let s = b ? b[o]! : 0;
          for (let c = 0; c < C; c++)
            for (let ky = 0; ky < KH; ky++)
              for (let kx = 0; kx < KW; kx++) s += xp[((n * C + c) * Hp + i * sh + ky) * Wp + j * sw + kx]! * w[((o * C + c) * KH + ky) * KW + kx]!;
          y[((n * O + o) * OH + i) * OW + j] = s;
        }
  return y;
}

/** The three gradients of L = Σ gy ⊙ conv(x, w, b): each output scattered into its window. */
function refConvGrads(x: Arr, w: Arr, gy: Arr, cs: ConvCase): { gx: Float64Array; gw: Float64Array; gb: Float64Array } {
  const [N, C] = cs.x;
  const [O, KH, KW] = cs.w;
  const { strideH: sh, strideW: sw, padH: ph, padW: pw } = cs.g;
  const OH = outDim(cs.x[2], KH, sh, ph);
  const OW = outDim(cs.x[3], KW, sw, pw);
  const { xp, Hp, Wp } = padded(x, cs.x, ph, pw, 0);
  const gxp = new Float64Array(xp.length);
  const gw = new Float64Array(O * C * KH * KW);
  const gb = new Float64Array(O);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let i = 0; i < OH; i++)
        for (let j = 0; j < OW; j++) {
          const g = gy[((n * O + o) * OH + i) * OW + j]!;
          gb[o]! += g;
          for (let c = 0; c < C; c++)
            for (let ky = 0; ky < KH; ky++)
              for (let kx = 0; kx < KW; kx++) {
                const at = ((n * C + c) * Hp + i * sh + ky) * Wp + j * sw + kx;
                const wi = ((o * C + c) * KH + ky) * KW + kx;
                gxp[at]! += g * w[wi]!;
                gw[wi]! += g * xp[at]!;
              }
        }
  return { gx: crop(gxp, cs.x, ph, pw), gw, gb };
}

interface PoolCase {
  name: string;
  x: Shape4;
  p: Pool2dGeom;
}
const poolOut = (pc: PoolCase): Shape4 => [pc.x[0], pc.x[1], outDim(pc.x[2], pc.p.kernelH, pc.p.strideH, pc.p.padH), outDim(pc.x[3], pc.p.kernelW, pc.p.strideW, pc.p.padW)];

/** Max pooling over a −inf-padded copy: a strictly larger value or a NaN takes over (PyTorch's rule). */
function refMaxPool(x: Arr, pc: PoolCase): { y: Float64Array; argmax: Int32Array } {
  const [N, C, H, W] = pc.x;
  const { kernelH: kh, kernelW: kw, strideH: sh, strideW: sw, padH: ph, padW: pw } = pc.p;
  const [, , OH, OW] = poolOut(pc);
  const { xp, Hp, Wp } = padded(x, pc.x, ph, pw, -Infinity);
  const y = new Float64Array(N * C * OH * OW);
  const argmax = new Int32Array(y.length);
  for (let p = 0; p < N * C; p++)
    for (let i = 0; i < OH; i++)
      for (let j = 0; j < OW; j++) {
        let best = -Infinity;
        // With nothing above −inf, PyTorch reports the window's first cell inside the input.
        let at = Math.max(i * sh - ph, 0) * W + Math.max(j * sw - pw, 0);
        for (let ky = 0; ky < kh; ky++)
          for (let kx = 0; kx < kw; kx++) {
            const v = xp[(p * Hp + i * sh + ky) * Wp + j * sw + kx]!;
            if (v > best || Number.isNaN(v)) {
              best = v;
              at = (i * sh + ky - ph) * W + (j * sw + kx - pw);
            }
          }
        y[(p * OH + i) * OW + j] = best;
        argmax[(p * OH + i) * OW + j] = p * H * W + at;
      }
  return { y, argmax };
}

function refAvgPool(x: Arr, pc: PoolCase): Float64Array {
  const [N, C] = pc.x;
  const { kernelH: kh, kernelW: kw, strideH: sh, strideW: sw, padH: ph, padW: pw } = pc.p;
  const [, , OH, OW] = poolOut(pc);
  const { xp, Hp, Wp } = padded(x, pc.x, ph, pw, 0);
  const y = new Float64Array(N * C * OH * OW);
  for (let p = 0; p < N * C; p++)
    for (let i = 0; i < OH; i++)
      for (let j = 0; j < OW; j++) {
        let s = 0;
        for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) s += xp[(p * Hp + i * sh + ky) * Wp + j * sw + kx]!;
        y[(p * OH + i) * OW + j] = s / (kh * kw);
      }
  return y;
}
/** avg-pool backward: each output's gy/(KH·KW) scattered over its padded window. */
function refAvgPoolGrad(gy: Arr, pc: PoolCase): Float64Array {
  const [N, C] = pc.x;
  const { kernelH: kh, kernelW: kw, strideH: sh, strideW: sw, padH: ph, padW: pw } = pc.p;
  const [, , OH, OW] = poolOut(pc);
  const Hp = pc.x[2] + 2 * ph;
  const Wp = pc.x[3] + 2 * pw;
  const gxp = new Float64Array(N * C * Hp * Wp);
  for (let p = 0; p < N * C; p++)
    for (let i = 0; i < OH; i++)
      for (let j = 0; j < OW; j++) {
        const g = gy[(p * OH + i) * OW + j]! / (kh * kw);
        for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) gxp[(p * Hp + i * sh + ky) * Wp + j * sw + kx]! += g;
      }
  return crop(gxp, pc.x, ph, pw);
}
/** max-pool backward: each gy added at its argmax. */
function refMaxPoolGrad(gy: Arr, argmax: Arr, size: number): Float64Array {
  const gx = new Float64Array(size);
  for (let i = 0; i < gy.length; i++) gx[argmax[i]!]! += gy[i]!;
  return gx;
}

/** Central differences of Σ r ⊙ f(v) in every coordinate of v (float64). */
function finiteDiff(v: Float64Array, r: Arr, f: (v: Float64Array) => Float64Array, h = 1e-6): Float64Array {
  const g = new Float64Array(v.length);
  const loss = (y: Float64Array) => y.reduce((s, yi, i) => s + yi * r[i]!, 0);
  for (let i = 0; i < v.length; i++) {
    const keep = v[i]!;
    v[i] = keep + h;
    const up = loss(f(v));
    v[i] = keep - h;
    const down = loss(f(v));
    v[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

// ---- the cases -----------------------------------------------------------------------------------

const geom = (sh: number, sw: number, ph: number, pw: number): Conv2dGeom => ({ strideH: sh, strideW: sw, padH: ph, padW: pw });
const CONV_CASES: ConvCase[] = [
  { name: 'batch 1, 1→1 channel, 3×3 pad 1, odd 7×9', x: [1, 1, 7, 9], w: [1, 3, 3], g: geom(1, 1, 1, 1), bias: true },
  { name: '3→5, 5×5 stride 2 pad 2 on 11×8', x: [2, 3, 11, 8], w: [5, 5, 5], g: geom(2, 2, 2, 2), bias: true },
  { name: '4→6, [3,2] kernel, stride [2,1], pad [0,1], no bias', x: [3, 4, 6, 7], w: [6, 3, 2], g: geom(2, 1, 0, 1), bias: false },
  { name: '7→3, 1×1 stride 2 pad 0', x: [2, 7, 5, 5], w: [3, 1, 1], g: geom(2, 2, 0, 0), bias: true },
  { name: 'many channels 16→24, 3×3 pad 1 on 9×9', x: [2, 16, 9, 9], w: [24, 3, 3], g: geom(1, 1, 1, 1), bias: true },
  { name: 'the CNN first layer 1→32, 3×3 pad 1 on 28×28, batch 3', x: [3, 1, 28, 28], w: [32, 3, 3], g: geom(1, 1, 1, 1), bias: true },
  { name: 'kernel as large as the padded input: 5×5 on 3×3 pad 1', x: [2, 2, 3, 3], w: [4, 5, 5], g: geom(1, 1, 1, 1), bias: true },
  { name: 'stride past the kernel (3 > 2): inputs no window reads', x: [2, 2, 8, 7], w: [3, 2, 2], g: geom(3, 3, 0, 1), bias: true },
  { name: 'rows wider than 32 and 5 outputs, 2→5 3×3 pad 1 on 5×37', x: [2, 2, 5, 37], w: [5, 3, 3], g: geom(1, 1, 1, 1), bias: true },
  { name: '1×1 stride 1 pad 0 (im2col is the input), 6→3 on 5×7, no bias', x: [2, 6, 5, 7], w: [3, 1, 1], g: geom(1, 1, 0, 0), bias: false },
  { name: 'stride 1 with the width kept but not the height: 9→3, [5,3] pad 1 on 6×5', x: [2, 9, 6, 5], w: [3, 5, 3], g: geom(1, 1, 1, 1), bias: true },
  { name: 'batch 65 537 (past one dispatch), 1→2, 2×2 on 3×4', x: [65_537, 1, 3, 4], w: [2, 2, 2], g: geom(1, 2, 0, 1), bias: true },
];
// Small enough for finite differences of every input, weight and bias.
const FD_CONV: ConvCase[] = [
  { name: '2→3, [3,2] stride [2,1] pad [1,1]', x: [2, 2, 5, 6], w: [3, 3, 2], g: geom(2, 1, 1, 1), bias: true },
  { name: '1→2, 5×5 stride 2 pad 2', x: [1, 1, 6, 5], w: [2, 5, 5], g: geom(2, 2, 2, 2), bias: true },
];

const pool = (kh: number, kw: number, sh: number, sw: number, ph: number, pw: number): Pool2dGeom => ({ kernelH: kh, kernelW: kw, strideH: sh, strideW: sw, padH: ph, padW: pw });
const POOL_CASES: PoolCase[] = [
  { name: '2×2 stride 2 (the CNN) on 28×28', x: [2, 3, 28, 28], p: pool(2, 2, 2, 2, 0, 0) },
  { name: '2×2 stride 2 on odd 7×9 (last row/column dropped)', x: [1, 2, 7, 9], p: pool(2, 2, 2, 2, 0, 0) },
  { name: '2×2 stride 2 on 5×71 (rows of 35 outputs: two vectors of 16 and a tail)', x: [2, 3, 5, 71], p: pool(2, 2, 2, 2, 0, 0) },
  { name: '3×3 stride 2 pad 1 (overlapping windows)', x: [2, 3, 9, 8], p: pool(3, 3, 2, 2, 1, 1) },
  { name: '[3,2] stride [1,2] pad [1,0]', x: [3, 2, 6, 7], p: pool(3, 2, 1, 2, 1, 0) },
  { name: '5×5 stride 1 pad 2', x: [1, 4, 6, 5], p: pool(5, 5, 1, 1, 2, 2) },
  { name: '1×1 stride 2', x: [2, 2, 5, 5], p: pool(1, 1, 2, 2, 0, 0) },
  { name: 'global 7×7', x: [3, 5, 7, 7], p: pool(7, 7, 1, 1, 0, 0) },
  { name: '65 537 planes (past one dispatch), 2×2 stride 1 on 3×3', x: [65_537, 1, 3, 3], p: pool(2, 2, 1, 1, 0, 0) },
];
const FD_POOL: PoolCase[] = [
  { name: '3×3 stride 2 pad 1', x: [2, 2, 5, 6], p: pool(3, 3, 2, 2, 1, 1) },
  { name: '[2,3] stride [1,2] pad [1,1]', x: [1, 3, 4, 5], p: pool(2, 3, 1, 2, 1, 1) },
];

const CONV_OPS: OpName[] = ['conv2d', 'conv2dInputGrad', 'conv2dWeightGrad', 'channelSum', 'maxPool2d', 'maxPool2dBackward', 'gatherFlat', 'avgPool2d', 'avgPool2dBackward'];
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const convOut = (cs: ConvCase): Shape4 => [cs.x[0], cs.w[0], outDim(cs.x[2], cs.w[1], cs.g.strideH, cs.g.padH), outDim(cs.x[3], cs.w[2], cs.g.strideW, cs.g.padW)];
const weightShape = (cs: ConvCase): Shape4 => [cs.w[0], cs.x[1], cs.w[1], cs.w[2]];
/** Values in [−1, 1] rounded to float32 (what a backend holds), as float64. */
const data = (n: number, seed: number) => Float64Array.from(randomArray(n, seed));

async function codeOf(fn: () => unknown): Promise<[string, string]> {
  try {
    await fn();
    return ['ok', ''];
  } catch (e) {
    return e instanceof RiverbedError ? [e.code, e.message] : ['not a RiverbedError', (e as Error).message];
  }
}

for (const b of backends) {
  describe.skipIf(!!b.skip)(`convolution and pooling: ${b.name}`, () => {
    let be: Backend;
    beforeAll(async () => {
      be = await b.create();
    });
    afterAll(() => be?.dispose());
    const up = (v: Arr, shape: readonly number[]) => be.upload(Float32Array.from(v), [...shape]);
    const read = (t: Tensor) => be.read(t);

    it('has every op', () => {
      for (const op of CONV_OPS) expect(typeof (be as unknown as Record<string, unknown>)[op], `${b.name} lacks ${op}`).toBe('function');
    });

    describe('conv2d and its gradients against the float64 reference', () => {
      CONV_CASES.forEach((cs, k) => {
        it(cs.name, async () => {
          const x = data(size(cs.x), 100 + k);
          const w = data(size(weightShape(cs)), 200 + k);
          const bias = cs.bias ? data(cs.w[0], 300 + k) : undefined;
          const ys = convOut(cs);
          const gy = data(size(ys), 400 + k);
          const [N, C] = cs.x;
          const [O, KH, KW] = cs.w;
          const X = up(x, cs.x);
          const W = up(w, weightShape(cs));
          const y = be.conv2d!(X, W, bias && up(bias, [O]), cs.g);
          expect(y.shape).toEqual(ys);
          expectClose(await read(y), refConv(x, w, bias, cs), { rtol: 1e-4, atol: 1e-6 * C * KH * KW }, 'y');

          const want = refConvGrads(x, w, gy, cs);
          const GY = up(gy, ys);
          const gx = be.conv2dInputGrad!(GY, W, cs.g, cs.x);
          expect(gx.shape).toEqual(cs.x);
          expectClose(await read(gx), want.gx, { rtol: 1e-4, atol: 1e-6 * O * KH * KW }, 'gx');
          const gw = be.conv2dWeightGrad!(X, GY, cs.g, [KH, KW]);
          expect(gw.shape).toEqual(weightShape(cs));
          expectClose(await read(gw), want.gw, { rtol: 1e-4, atol: 1e-6 * N * ys[2] * ys[3] }, 'gw');
          const gb = be.channelSum!(GY);
          expect(gb.shape).toEqual([O]);
          expectClose(await read(gb), want.gb, { rtol: 1e-4, atol: 1e-6 * N * ys[2] * ys[3] }, 'gb');
        });
      });
    });

    describe('conv2d gradients against central finite differences of Σ r ⊙ conv(x, w, b)', () => {
      FD_CONV.forEach((cs, k) => {
        it(cs.name, async () => {
          const x = data(size(cs.x), 500 + k);
          const w = data(size(weightShape(cs)), 600 + k);
          const bias = data(cs.w[0], 700 + k);
          const ys = convOut(cs);
          const r = data(size(ys), 800 + k);
          const GY = up(r, ys);
          const tol = { rtol: 1e-4, atol: 1e-5 };
          expectClose(await read(be.conv2dInputGrad!(GY, up(w, weightShape(cs)), cs.g, cs.x)), finiteDiff(x, r, (v) => refConv(v, w, bias, cs)), tol, 'gx');
          expectClose(await read(be.conv2dWeightGrad!(up(x, cs.x), GY, cs.g, [cs.w[1], cs.w[2]])), finiteDiff(w, r, (v) => refConv(x, v, bias, cs)), tol, 'gw');
          expectClose(await read(be.channelSum!(GY)), finiteDiff(bias, r, (v) => refConv(x, w, v, cs)), tol, 'gb');
        });
      });
    });

    describe('pooling against the float64 reference', () => {
      POOL_CASES.forEach((pc, k) => {
        it(pc.name, async () => {
          const x = data(size(pc.x), 900 + k);
          const ys = poolOut(pc);
          const gy = data(size(ys), 1000 + k);
          const X = up(x, pc.x);
          const GY = up(gy, ys);
          const want = refMaxPool(x, pc);
          const { y, argmax } = be.maxPool2d!(X, pc.p);
          expect(y.shape).toEqual(ys);
          expect(argmax.shape).toEqual(ys);
          expect(argmax.dtype).toBe('i32');
          expectClose(await read(y), want.y, { rtol: 0, atol: 0 }, 'max y');
          expect(Array.from(await be.readInt(argmax))).toEqual(Array.from(want.argmax));
          const gx = be.maxPool2dBackward!(GY, argmax, pc.x);
          expect(gx.shape).toEqual(pc.x);
          expectClose(await read(gx), refMaxPoolGrad(gy, want.argmax, size(pc.x)), { rtol: 1e-6, atol: 1e-6 }, 'max gx');
          // The R-operator of max pooling: rx read at the argmax.
          const rx = data(size(pc.x), 1100 + k);
          const ry = be.gatherFlat!(up(rx, pc.x), argmax);
          expect(ry.shape).toEqual(ys);
          expectClose(await read(ry), Array.from(want.argmax, (a) => rx[a]!), { rtol: 0, atol: 0 }, 'gatherFlat');

          const avg = be.avgPool2d!(X, pc.p);
          expect(avg.shape).toEqual(ys);
          expectClose(await read(avg), refAvgPool(x, pc), { rtol: 1e-6, atol: 1e-6 }, 'avg y');
          const agx = be.avgPool2dBackward!(GY, pc.p, pc.x);
          expect(agx.shape).toEqual(pc.x);
          expectClose(await read(agx), refAvgPoolGrad(gy, pc), { rtol: 1e-6, atol: 1e-6 }, 'avg gx');
        });
      });
    });

    describe('pooling backwards against central finite differences', () => {
      FD_POOL.forEach((pc, k) => {
        it(pc.name, async () => {
          const x = data(size(pc.x), 1200 + k);
          const ys = poolOut(pc);
          const r = data(size(ys), 1300 + k);
          const GY = up(r, ys);
          const tol = { rtol: 1e-5, atol: 1e-6 };
          const { argmax } = be.maxPool2d!(up(x, pc.x), pc.p);
          expectClose(await read(be.maxPool2dBackward!(GY, argmax, pc.x)), finiteDiff(x, r, (v) => refMaxPool(v, pc).y), tol, 'max gx');
          expectClose(await read(be.avgPool2dBackward!(GY, pc.p, pc.x)), finiteDiff(x, r, (v) => refAvgPool(v, pc)), tol, 'avg gx');
        });
      });
    });

    it("max pooling's ties, −inf windows and NaN follow PyTorch", async () => {
      // One 4×4 plane, 2×2 windows, stride 2, padding 1: windows cover [-1,0]×[-1,0], [-1,0]×[1,2], …
      const NaN_ = Number.NaN;
      const x = [
        5, 5, 1, 2, //
        5, 0, 3, 3, //
        -Infinity, -Infinity, NaN_, 7, //
        -Infinity, -Infinity, 9, NaN_,
      ];
      const { y, argmax } = be.maxPool2d!(up(x, [1, 1, 4, 4]), pool(2, 2, 2, 2, 1, 1));
      // Window (0,0) holds x[0] only; (0,1) x[1],x[2] → 5 at 1; (0,2) x[3] → 2;
      // (1,0) x[4],x[8] → 5 at 4; (1,1) x[5],x[6],x[9],x[10] → the NaN at 10;
      // (1,2) x[7],x[11] → 7 at 11; (2,0) x[12] = −inf → index 12 (first cell inside);
      // (2,1) x[13],x[14] → 9 at 14; (2,2) x[15] = NaN.
      expect(Array.from(await be.readInt(argmax))).toEqual([0, 1, 3, 4, 10, 11, 12, 14, 15]);
      const yy = Array.from(await read(y));
      expect(yy.map((v) => (Number.isNaN(v) ? 'NaN' : v))).toEqual([5, 5, 2, 5, 'NaN', 7, -Infinity, 9, 'NaN']);
      // Ties inside one window: the first in row-major order; a later NaN wins over all, the last NaN over an earlier one.
      const t = be.maxPool2d!(up([4, 4, 4, 4, NaN_, 1, NaN_, 2, -Infinity], [1, 1, 3, 3]), pool(3, 3, 1, 1, 0, 0));
      expect(Array.from(await be.readInt(t.argmax))).toEqual([6]);
      const t2 = be.maxPool2d!(up([1, 4, 4, 4], [1, 1, 2, 2]), pool(2, 2, 1, 1, 0, 0));
      expect(Array.from(await be.readInt(t2.argmax))).toEqual([1]);
    });

    it('2×2 windows, stride 2, no padding (native: 16 windows per vector) follow the same rules', async () => {
      // A 3×35 plane: 17 windows over rows 0–1 (one vector of 16 and a tail of 1); row 2 and
      // column 34 lie in no window (100 there must never win). Window j holds the cells
      // (0,2j) (0,2j+1) (1,2j) (1,2j+1) of one of these patterns, worked by PyTorch's rule
      // (row-major; a strictly larger value or a NaN takes over):
      const NaN_ = Number.NaN;
      const patterns: { cells: number[]; at: number; y: number }[] = [
        { cells: [4, 4, 4, 4], at: 0, y: 4 }, // ties: the first
        { cells: [9, 1, 2, NaN_], at: 3, y: NaN_ }, // a NaN wins over a larger value
        { cells: [NaN_, 1, NaN_, 2], at: 2, y: NaN_ }, // the last NaN
        { cells: [-Infinity, -Infinity, -Infinity, -Infinity], at: 0, y: -Infinity }, // all −inf: the first cell
        { cells: [1, 2, 3, 4], at: 3, y: 4 },
        { cells: [1, 5, 5, 0], at: 1, y: 5 }, // a later tie does not take over
        { cells: [-0, 0, 0, 0], at: 0, y: -0 }, // 0 is not larger than −0
      ];
      const W = 35;
      const x = new Array<number>(3 * W).fill(100);
      const want = { argmax: [] as number[], y: [] as number[] };
      for (let j = 0; j < 17; j++) {
        const pt = patterns[j % patterns.length]!;
        const at = [2 * j, 2 * j + 1, W + 2 * j, W + 2 * j + 1];
        at.forEach((k, q) => (x[k] = pt.cells[q]!));
        want.argmax.push(at[pt.at]!);
        want.y.push(pt.y);
      }
      const { y, argmax } = be.maxPool2d!(up(x, [1, 1, 3, W]), pool(2, 2, 2, 2, 0, 0));
      expect(Array.from(await be.readInt(argmax))).toEqual(want.argmax);
      const yy = Array.from(await read(y));
      yy.forEach((v, j) => expect(Object.is(v, want.y[j]), `window ${j}: ${v} vs ${want.y[j]}`).toBe(true));
      // The backward puts each gy at its window's argmax and 0 everywhere else (the dropped row and column too).
      const gy = Array.from({ length: 17 }, (_, j) => j - 8.5);
      const gx = Array.from(await read(be.maxPool2dBackward!(up(gy, [1, 1, 1, 17]), argmax, [1, 1, 3, W])));
      const wantGx = new Array<number>(3 * W).fill(0);
      want.argmax.forEach((k, j) => (wantGx[k] = gy[j]!));
      expect(gx).toEqual(wantGx);
    });

    it('maxPool2dBackward sums every window that picked the same input', async () => {
      // 3×3 windows, stride 1 on 4×4: the global maximum (15 at index 5 after the shuffle) wins all four windows.
      const x = [0, 1, 2, 3, 4, 15, 6, 7, 8, 9, 10, 11, 12, 13, 14, 5];
      const { argmax } = be.maxPool2d!(up(x, [1, 1, 4, 4]), pool(3, 3, 1, 1, 0, 0));
      expect(Array.from(await be.readInt(argmax))).toEqual([5, 5, 5, 5]);
      const gx = await read(be.maxPool2dBackward!(up([0.5, 0.25, 2, -1], [1, 1, 2, 2]), argmax, [1, 1, 4, 4]));
      expect(Array.from(gx)).toEqual([0, 0, 0, 0, 0, 1.75, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    });

    it('bad input fails with the sizes named', async () => {
      const x = up(randomArray(1 * 3 * 5 * 5, 1), [1, 3, 5, 5]);
      const w = up(randomArray(2 * 3 * 3 * 3, 2), [2, 3, 3, 3]);
      const g1 = geom(1, 1, 0, 0);
      const cases: [string, () => unknown, string, RegExp][] = [
        ['output height ≤ 0', () => be.conv2d!(up(randomArray(12, 3), [1, 3, 2, 2]), w, undefined, g1), 'E_SHAPE', /height would be 0.*input height 2.*padding 0.*kernel 3/],
        ['output width ≤ 0 with stride 2', () => be.conv2d!(up(randomArray(3 * 5 * 2, 3), [1, 3, 5, 2]), w, undefined, geom(2, 2, 0, 0)), 'E_SHAPE', /width would be 0.*input width 2.*kernel 3/],
        ['channels that disagree', () => be.conv2d!(x, up(randomArray(2 * 4 * 9, 4), [2, 4, 3, 3]), undefined, g1), 'E_SHAPE', /3 channels.*\[2, 4, 3, 3\] expects 4/],
        ['a 3-D weight', () => be.conv2d!(x, up(randomArray(2 * 3 * 9, 4), [2, 3, 9]), undefined, g1), 'E_SHAPE', /weight must be 4-D, got \[2, 3, 9\]/],
        ['a bias of the wrong size', () => be.conv2d!(x, w, up(randomArray(3, 5), [3]), g1), 'E_SHAPE', /bias has 3 elements, expected 2/],
        ['a zero stride', () => be.conv2d!(x, w, undefined, geom(0, 1, 0, 0)), 'E_ARG', /strideH must be an integer >= 1, got 0/],
        ['a fractional padding', () => be.conv2d!(x, w, undefined, geom(1, 1, 0.5, 0)), 'E_ARG', /padH must be an integer >= 0, got 0.5/],
        ['input gradient with gy of the wrong shape', () => be.conv2dInputGrad!(up(randomArray(2 * 4 * 3, 6), [1, 2, 4, 3]), w, g1, [1, 3, 5, 5]), 'E_SHAPE', /gy is \[1, 2, 4, 3\] but .* gives \[1, 2, 3, 3\]/],
        ['input gradient with inputShape of 3 channels for a 4-channel weight', () => be.conv2dInputGrad!(up(randomArray(18, 6), [1, 2, 3, 3]), up(randomArray(72, 7), [2, 4, 3, 3]), g1, [1, 3, 5, 5]), 'E_SHAPE', /3 channels.*expects 4/],
        ['input gradient with a 3-entry inputShape', () => be.conv2dInputGrad!(up(randomArray(18, 6), [1, 2, 3, 3]), w, g1, [3, 5, 5]), 'E_SHAPE', /inputShape must be 4 positive integers, got \[3,5,5\]/],
        ['weight gradient with gy of the wrong shape', () => be.conv2dWeightGrad!(x, up(randomArray(2 * 9, 6), [1, 2, 9, 1]), g1, [3, 3]), 'E_SHAPE', /gy is \[1, 2, 9, 1\] but x \[1, 3, 5, 5\] with kernel \[3, 3\] gives \[1, 2, 3, 3\]/],
        ['weight gradient with a 1-entry kernel', () => be.conv2dWeightGrad!(x, up(randomArray(18, 6), [1, 2, 3, 3]), g1, [3]), 'E_SHAPE', /kernel must be 2 positive integers/],
        ['channelSum of a 2-D tensor', () => be.channelSum!(up(randomArray(6, 8), [2, 3])), 'E_SHAPE', /must be 4-D, got \[2, 3\]/],
        ['pool output ≤ 0', () => be.maxPool2d!(up(randomArray(4, 9), [1, 1, 2, 2]), pool(3, 3, 1, 1, 0, 0)), 'E_SHAPE', /height would be 0.*input height 2.*kernel 3/],
        ['avg pool output ≤ 0', () => be.avgPool2d!(up(randomArray(4, 9), [1, 1, 2, 2]), pool(1, 5, 1, 1, 0, 1)), 'E_SHAPE', /width would be 0.*input width 2 \+ 2·padding 1 < kernel 5/],
        ['pool padding past half the kernel', () => be.maxPool2d!(x, pool(2, 2, 2, 2, 2, 0)), 'E_ARG', /padding \[2, 0\] must be at most half the kernel \[2, 2\]/],
        ['avg backward with gy of the wrong shape', () => be.avgPool2dBackward!(up(randomArray(4, 9), [1, 1, 2, 2]), pool(2, 2, 2, 2, 0, 0), [1, 1, 5, 6]), 'E_SHAPE', /gy is \[1, 1, 2, 2\] but pooling input \[1, 1, 5, 6\] gives \[1, 1, 2, 3\]/],
        ['max backward with argmax of another shape', () => be.maxPool2dBackward!(up(randomArray(4, 9), [1, 1, 2, 2]), be.uploadInt(new Int32Array(4), [1, 1, 4, 1]), [1, 1, 4, 4]), 'E_SHAPE', /argmax is \[1, 1, 4, 1\] but gy gives \[1, 1, 2, 2\]/],
        ['max backward with another batch', () => be.maxPool2dBackward!(up(randomArray(4, 9), [1, 1, 2, 2]), be.uploadInt(new Int32Array(4), [1, 1, 2, 2]), [2, 1, 4, 4]), 'E_SHAPE', /differ in batch or channels/],
      ];
      for (const [what, fn, code, msg] of cases) {
        const [got, message] = await codeOf(fn);
        expect(got, what).toBe(code);
        expect(message, what).toMatch(msg);
      }
    });

    // A shader cannot throw: webgpu skips such indices (documented on the ops); js and native refuse them.
    it.skipIf(b.name === 'webgpu')('indices outside their range → E_ARG', async () => {
      const x = up(randomArray(8, 1), [1, 2, 2, 2]);
      const [c1, m1] = await codeOf(() => be.gatherFlat!(x, be.uploadInt(Int32Array.of(0, 8), [2])));
      expect(c1).toBe('E_ARG');
      expect(m1).toMatch(/index 8 \(idx\[1\]\) is outside \[0, 8\)/);
      expect((await codeOf(() => be.gatherFlat!(x, be.uploadInt(Int32Array.of(-1), [1]))))[0]).toBe('E_ARG');
      // argmax 4 of plane 0 points into plane 1.
      const [c2, m2] = await codeOf(() => be.maxPool2dBackward!(up([1, 1], [1, 2, 1, 1]), be.uploadInt(Int32Array.of(0, 3), [1, 2, 1, 1]), [1, 2, 2, 2]));
      expect(c2).toBe('E_ARG');
      expect(m2).toMatch(/argmax\[1\] = 3 is outside its \(n, c\) plane \[4, 8\)/);
      expect((await codeOf(() => be.maxPool2dBackward!(up([1, 1], [1, 2, 1, 1]), be.uploadInt(Int32Array.of(4, 4), [1, 2, 1, 1]), [1, 2, 2, 2])))[0]).toBe('E_ARG');
    });

    it('random argmax with repeats (not from maxPool2d) scatters like the reference', async () => {
      const n = 3 * 2 * 5 * 5;
      const gy = data(3 * 2 * 4 * 4, 1400);
      const r = rng(1401);
      const am = Int32Array.from({ length: gy.length }, (_, i) => Math.floor(i / 16) * 25 + Math.floor(r() * 25));
      const gx = be.maxPool2dBackward!(up(gy, [3, 2, 4, 4]), be.uploadInt(am, [3, 2, 4, 4]), [3, 2, 5, 5]);
      expectClose(await read(gx), refMaxPoolGrad(gy, am, n), { rtol: 1e-6, atol: 1e-6 }, 'gx');
      const idx = randomInts(1000, 1402, n);
      const src = data(n, 1403);
      expectClose(await read(be.gatherFlat!(up(src, [n]), be.uploadInt(idx, [10, 10, 10]))), Array.from(idx, (i) => src[i]!), { rtol: 0, atol: 0 }, 'gatherFlat');
    });
  });
}

describe.skipIf(!backends.some((b) => b.name === 'webgpu' && !b.skip))('convolution and pooling: webgpu past one binding and one loop', () => {
  // 4 KiB bindings (under 1 000 floats) and loops of 2 tiles: samples and planes in several
  // blocks, the GEMMs' K in pieces (forward 45, input gradient 36 > 32), the weight gradient in
  // many slices summed two slots per finish, max-pool backward in pieces of 2 outputs, gatherFlat
  // with x in chunks, channelSum over several sample blocks.
  let be: Backend;
  beforeAll(async () => {
    const { createWebGpuBackend } = await import('../../src/backends/webgpu/index.js');
    be = await createWebGpuBackend({ maxBindingBytes: 4096, loopChunk: 2 });
  });
  afterAll(() => be?.dispose());
  const up = (v: Arr, shape: readonly number[]) => be.upload(Float32Array.from(v), [...shape]);

  it('conv2d, both gradients and channelSum', async () => {
    const cs: ConvCase = { name: 'tiled', x: [5, 5, 7, 6], w: [4, 3, 3], g: geom(1, 2, 1, 0), bias: true };
    const x = data(size(cs.x), 1500);
    const w = data(size(weightShape(cs)), 1501);
    const bias = data(4, 1502);
    const ys = convOut(cs);
    const gy = data(size(ys), 1503);
    const want = refConvGrads(x, w, gy, cs);
    const W = up(w, weightShape(cs));
    const GY = up(gy, ys);
    const tol = (k: number) => ({ rtol: 1e-4, atol: 1e-6 * k });
    expectClose(await be.read(be.conv2d!(up(x, cs.x), W, up(bias, [4]), cs.g)), refConv(x, w, bias, cs), tol(45), 'y');
    expectClose(await be.read(be.conv2dInputGrad!(GY, W, cs.g, cs.x)), want.gx, tol(36), 'gx');
    expectClose(await be.read(be.conv2dWeightGrad!(up(x, cs.x), GY, cs.g, [3, 3])), want.gw, tol(5 * ys[2] * ys[3]), 'gw');
    expectClose(await be.read(be.channelSum!(GY)), want.gb, tol(5 * ys[2] * ys[3]), 'gb');
  });

  it('max and avg pooling, their backwards and gatherFlat', async () => {
    const pc: PoolCase = { name: 'tiled', x: [6, 5, 9, 8], p: pool(3, 2, 2, 1, 1, 1) };
    const x = data(size(pc.x), 1510);
    const ys = poolOut(pc);
    const gy = data(size(ys), 1511);
    const want = refMaxPool(x, pc);
    const { y, argmax } = be.maxPool2d!(up(x, pc.x), pc.p);
    expectClose(await be.read(y), want.y, { rtol: 0, atol: 0 }, 'max y');
    expect(Array.from(await be.readInt(argmax))).toEqual(Array.from(want.argmax));
    expectClose(await be.read(be.maxPool2dBackward!(up(gy, ys), argmax, pc.x)), refMaxPoolGrad(gy, want.argmax, size(pc.x)), { rtol: 1e-6, atol: 1e-6 }, 'max gx');
    const rx = data(size(pc.x), 1512);
    expectClose(await be.read(be.gatherFlat!(up(rx, pc.x), argmax)), Array.from(want.argmax, (a) => rx[a]!), { rtol: 0, atol: 0 }, 'gatherFlat');
    expectClose(await be.read(be.avgPool2d!(up(x, pc.x), pc.p)), refAvgPool(x, pc), { rtol: 1e-6, atol: 1e-6 }, 'avg y');
    expectClose(await be.read(be.avgPool2dBackward!(up(gy, ys), pc.p, pc.x)), refAvgPoolGrad(gy, pc), { rtol: 1e-6, atol: 1e-6 }, 'avg gx');
  });
});

describe.skipIf(!backends.some((b) => b.name === 'webgpu' && !b.skip))('webgpu: indices a shader cannot refuse', () => {
  it('gatherFlat gives NaN for an index outside x; maxPool2dBackward skips an argmax outside its plane', async () => {
    const be = (await backends.find((b) => b.name === 'webgpu')!.create()) as Backend;
    try {
      const x = be.upload(Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8), [1, 2, 2, 2]);
      const g = Array.from(await be.read(be.gatherFlat!(x, be.uploadInt(Int32Array.of(7, 8, -1, 0), [4]))));
      expect(g.map((v) => (Number.isNaN(v) ? 'NaN' : v))).toEqual([8, 'NaN', 'NaN', 1]);
      const gx = await be.read(be.maxPool2dBackward!(be.upload(Float32Array.of(1, 2), [1, 2, 1, 1]), be.uploadInt(Int32Array.of(1, 3), [1, 2, 1, 1]), [1, 2, 2, 2]));
      expect(Array.from(gx)).toEqual([0, 1, 0, 0, 0, 0, 0, 0]);
    } finally {
      be.dispose();
    }
  });
});
