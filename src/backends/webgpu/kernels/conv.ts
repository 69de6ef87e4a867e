/**
 * Convolution (shaders/conv.wgsl): forward, input gradient and weight gradient as implicit GEMMs
 * over 32 × 64 workgroup-memory tiles. Each dispatch takes a block of whole samples whose x, y
 * (or gy, gx) ranges fit one storage binding and whose columns fit 65 535 workgroups; the GEMM's
 * K is cut into pieces of ≤ 16 · loopChunk (the shader's tile loop stays under lavapipe's 65 535
 * iterations). Forward and input-gradient pieces accumulate into the output in order; the weight
 * gradient's K (every sample's every position) is cut into slices that each write a partial slot,
 * summed by weight_grad_finish in slot order, a group of slots at a time: deterministic, no atomics.
 * One sample's x and y, and the whole weight, must fit one binding (E_ARG otherwise).
 */
import { fail } from '../../../errors.js';
import type { Tensor } from '../../backend.js';
import type { Conv2dPlan } from '../../ops.js';
import type { Runtime } from '../runtime.js';
import { asGpu } from '../tensor.js';
import type { Ctx } from './ctx.js';

const FAMILY = 'conv';
const TM = 32;
const TN = 64;
const MAX_GROUPS = 65_535;
/** K elements of one weight-gradient slice at most: more slices, more workgroups in flight. */
const SLICE_K = 4096;

const IDLE = {
  n0: 0, nb: 0, k0: 0, kb: 0, accumulate: 0, hasBias: 0, xBase: 0, wBase: 0, gBase: 0, biasBase: 0, outBase: 0, count: 0, slots: 0, slot: 0,
};

function geometry(p: Conv2dPlan) {
  return { C: p.c, H: p.h, W: p.w, O: p.o, KH: p.kh, KW: p.kw, OH: p.oh, OW: p.ow, sh: p.strideH, sw: p.strideW, ph: p.padH, pw: p.padW };
}

/** Samples per dispatch: their ranges of every per-sample operand fit one binding, their columns the grid. */
function samplesPerDispatch(op: string, rt: Runtime, perSample: [string, number][], colsPerSample: number): number {
  const maxE = rt.maxElems();
  let nb = Math.floor((MAX_GROUPS * TN) / colsPerSample);
  for (const [what, n] of perSample) {
    if (n > maxE) fail('E_ARG', `${op}: one sample's ${what} has ${n} elements, more than one webgpu storage binding holds (${maxE})`);
    nb = Math.min(nb, Math.floor(maxE / n));
  }
  if (nb < 1) fail('E_ARG', `${op}: one sample has ${colsPerSample} output positions, more than one dispatch covers (${MAX_GROUPS * TN})`);
  return nb;
}
function weightFits(op: string, rt: Runtime, elems: number): void {
  if (elems > rt.maxElems()) fail('E_ARG', `${op}: the weight has ${elems} elements, more than one webgpu storage binding holds (${rt.maxElems()})`);
}

export function conv2d(ctx: Ctx, x: Tensor, weight: Tensor, bias: Tensor | undefined, p: Conv2dPlan): Tensor {
  const rt = ctx.rt;
  const P = p.oh * p.ow;
  const xs = p.c * p.h * p.w;
  const ys = p.o * P;
  const K = p.c * p.kh * p.kw;
  weightFits('conv2d', rt, p.o * K);
  const nbMax = samplesPerDispatch('conv2d', rt, [['input', xs], ['output', ys]], P);
  const y = ctx.alloc([p.n, p.o, p.oh, p.ow]);
  const X = asGpu(x).buffer;
  const vw = rt.view(asGpu(weight).buffer, 0, p.o * K);
  const vb = bias ? rt.view(asGpu(bias).buffer, 0, p.o) : vw; // bound, never read, without a bias
  const kb = 16 * rt.loopChunk;
  for (let n0 = 0; n0 < p.n; n0 += nbMax) {
    const nb = Math.min(nbMax, p.n - n0);
    const vx = rt.view(X, n0 * xs, (n0 + nb) * xs);
    const vy = rt.view(y.buffer, n0 * ys, (n0 + nb) * ys);
    for (let k0 = 0; k0 < K; k0 += kb) {
      rt.dispatch(
        FAMILY,
        'forward',
        {},
        {
          ...IDLE, ...geometry(p), n0, nb, k0, kb: Math.min(kb, K - k0), accumulate: k0 > 0 ? 1 : 0, hasBias: bias ? 1 : 0,
          xBase: vx.base, wBase: vw.base, biasBase: vb.base, outBase: vy.base,
        },
        { x: vx.binding, w: vw.binding, bias: vb.binding, y: vy.binding },
        [Math.ceil((nb * P) / TN), Math.ceil(p.o / TM)],
      );
    }
  }
  return y;
}

export function conv2dInputGrad(ctx: Ctx, gy: Tensor, weight: Tensor, p: Conv2dPlan): Tensor {
  const rt = ctx.rt;
  const P = p.oh * p.ow;
  const HW = p.h * p.w;
  const xs = p.c * HW;
  const ys = p.o * P;
  const K = p.o * p.kh * p.kw;
  weightFits('conv2dInputGrad', rt, p.o * p.c * p.kh * p.kw);
  const nbMax = samplesPerDispatch('conv2dInputGrad', rt, [['input gradient', xs], ['output gradient', ys]], HW);
  const gx = ctx.alloc([p.n, p.c, p.h, p.w]);
  const G = asGpu(gy).buffer;
  const vw = rt.view(asGpu(weight).buffer, 0, p.o * p.c * p.kh * p.kw);
  const kb = 16 * rt.loopChunk;
  for (let n0 = 0; n0 < p.n; n0 += nbMax) {
    const nb = Math.min(nbMax, p.n - n0);
    const vg = rt.view(G, n0 * ys, (n0 + nb) * ys);
    const vx = rt.view(gx.buffer, n0 * xs, (n0 + nb) * xs);
    for (let k0 = 0; k0 < K; k0 += kb) {
      rt.dispatch(
        FAMILY,
        'input_grad',
        {},
        { ...IDLE, ...geometry(p), n0, nb, k0, kb: Math.min(kb, K - k0), accumulate: k0 > 0 ? 1 : 0, wBase: vw.base, gBase: vg.base, outBase: vx.base },
        { gy: vg.binding, w: vw.binding, gx: vx.binding },
        [Math.ceil((nb * HW) / TN), Math.ceil(p.c / TM)],
      );
    }
  }
  return gx;
}

export function conv2dWeightGrad(ctx: Ctx, x: Tensor, gy: Tensor, p: Conv2dPlan): Tensor {
  const rt = ctx.rt;
  const maxE = rt.maxElems();
  const P = p.oh * p.ow;
  const xs = p.c * p.h * p.w;
  const ys = p.o * P;
  const CKK = p.c * p.kh * p.kw;
  const wel = p.o * CKK;
  weightFits('conv2dWeightGrad', rt, wel);
  // Samples one slice may touch: their x and gy ranges fit one binding each.
  const perBinding = samplesPerDispatch('conv2dWeightGrad', rt, [['input', xs], ['output gradient', ys]], 1);
  // K = every (sample, position): slices of ≤ SLICE_K and ≤ 16 · loopChunk, touching ≤ perBinding samples.
  const total = p.n * P;
  const kMax = Math.min(SLICE_K, 16 * rt.loopChunk);
  const slices: [number, number][] = [];
  for (let k0 = 0; k0 < total; ) {
    const end = Math.min(total, k0 + kMax, (Math.floor(k0 / P) + perBinding) * P);
    slices.push([k0, end]);
    k0 = end;
  }
  // Slots summed per finish: they fit one binding, and the finish loop the loop chunk.
  const group = Math.max(1, Math.min(slices.length, rt.loopChunk, Math.floor(maxE / wel)));
  const part = rt.acquire(group * wel * 4);
  const gw = ctx.alloc([p.o, p.c, p.kh, p.kw]);
  const X = asGpu(x).buffer;
  const G = asGpu(gy).buffer;
  const vp = rt.view(part, 0, group * wel);
  const vw = rt.view(gw.buffer, 0, wel);
  for (let g0 = 0; g0 < slices.length; g0 += group) {
    const slots = Math.min(group, slices.length - g0);
    for (let s = 0; s < slots; s++) {
      const [k0, k1] = slices[g0 + s]!;
      const na = Math.floor(k0 / P);
      const nz = Math.floor((k1 - 1) / P) + 1;
      const vx = rt.view(X, na * xs, nz * xs);
      const vg = rt.view(G, na * ys, nz * ys);
      rt.dispatch(
        FAMILY,
        'weight_grad',
        {},
        { ...IDLE, ...geometry(p), k0, kb: k1 - k0, xBase: vx.base, gBase: vg.base, outBase: vp.base, slot: s },
        { x: vx.binding, gy: vg.binding, part: vp.binding },
        [Math.ceil(CKK / TN), Math.ceil(p.o / TM)],
      );
    }
    rt.dispatch(
      FAMILY,
      'weight_grad_finish',
      {},
      { ...IDLE, ...geometry(p), count: wel, slots, accumulate: g0 > 0 ? 1 : 0 },
      { part: vp.binding, gw: vw.binding },
      Math.ceil(wel / 256),
    );
  }
  rt.release(part);
  return gw;
}
