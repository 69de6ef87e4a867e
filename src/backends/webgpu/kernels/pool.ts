/**
 * Pooling and the small helpers of convolutional models (shaders/pool.wgsl): max pooling with its
 * argmax and backward, gatherFlat, average pooling and its backward, channelSum. Work is cut into
 * blocks of whole (n, c) planes whose input and output ranges fit one storage binding; loops that
 * could pass lavapipe's 65 535-iteration cap (maxPool2dBackward's outputs per plane, channelSum's
 * elements per invocation) run in pieces of the runtime's loop chunk over several dispatches.
 */
import { fail } from '../../../errors.js';
import type { Tensor } from '../../backend.js';
import type { Pool2dPlan } from '../../ops.js';
import type { Runtime } from '../runtime.js';
import { asGpu } from '../tensor.js';
import type { Ctx } from './ctx.js';

const FAMILY = 'pool';
const IDLE = {
  count: 0, first: 0, C: 1, H: 1, W: 1, OH: 1, OW: 1, KH: 1, KW: 1, sh: 1, sw: 1, ph: 0, pw: 0, o0: 0, ob: 0, n: 0, x0: 0, xn: 0, n0: 0, nb: 0,
  accumulate: 0, xBase: 0, yBase: 0, aBase: 0, gBase: 0, iBase: 0,
};
const MAX_LOOP = 65_535;

interface Planes {
  planes: number;
  h: number;
  w: number;
  oh: number;
  ow: number;
}

/** Planes per dispatch: their input and output ranges each fit one binding. */
function planesPerDispatch(op: string, rt: Runtime, { h, w, oh, ow }: Planes): number {
  const maxE = rt.maxElems();
  const most = Math.max(h * w, oh * ow);
  if (most > maxE) fail('E_ARG', `${op}: one plane has ${most} elements, more than one webgpu storage binding holds (${maxE})`);
  return Math.floor(maxE / most);
}
function windowLoops(op: string, p: Pool2dPlan): void {
  if (p.kernelH > MAX_LOOP || p.kernelW > MAX_LOOP) fail('E_ARG', `${op}: a window side past ${MAX_LOOP} does not run on webgpu (lavapipe's loop cap)`);
}
const geometry = (p: Pool2dPlan) => ({
  C: p.c, H: p.h, W: p.w, OH: p.oh, OW: p.ow, KH: p.kernelH, KW: p.kernelW, sh: p.strideH, sw: p.strideW, ph: p.padH, pw: p.padW,
});

/** One invocation per output (max / avg forward). */
function poolForward(ctx: Ctx, op: string, entry: 'max_forward' | 'avg_forward', x: Tensor, p: Pool2dPlan, argmax: boolean): Tensor[] {
  const rt = ctx.rt;
  const shape = [p.n, p.c, p.oh, p.ow];
  const y = ctx.alloc(shape);
  const am = argmax ? ctx.alloc(shape, 'i32') : undefined;
  const planes = p.n * p.c;
  const HW = p.h * p.w;
  const OP = p.oh * p.ow;
  const per = planesPerDispatch(op, rt, { planes, ...p });
  const X = asGpu(x).buffer;
  for (let q0 = 0; q0 < planes; q0 += per) {
    const q = Math.min(per, planes - q0);
    const vx = rt.view(X, q0 * HW, (q0 + q) * HW);
    const vy = rt.view(y.buffer, q0 * OP, (q0 + q) * OP);
    const va = am ? rt.view(am.buffer, q0 * OP, (q0 + q) * OP) : undefined;
    rt.dispatch(
      FAMILY,
      entry,
      {},
      { ...IDLE, ...geometry(p), count: q * OP, first: q0 * OP, xBase: vx.base, yBase: vy.base, aBase: va?.base ?? 0 },
      { x: vx.binding, y: vy.binding, ...(va ? { amOut: va.binding } : {}) },
      Math.ceil((q * OP) / 256),
    );
  }
  return am ? [y, am] : [y];
}

export function maxPool2d(ctx: Ctx, x: Tensor, p: Pool2dPlan): { y: Tensor; argmax: Tensor } {
  windowLoops('maxPool2d', p);
  const [y, argmax] = poolForward(ctx, 'maxPool2d', 'max_forward', x, p, true);
  return { y: y!, argmax: argmax! };
}

export function avgPool2d(ctx: Ctx, x: Tensor, p: Pool2dPlan): Tensor {
  windowLoops('avgPool2d', p);
  return poolForward(ctx, 'avgPool2d', 'avg_forward', x, p, false)[0]!;
}

export function avgPool2dBackward(ctx: Ctx, gy: Tensor, p: Pool2dPlan): Tensor {
  windowLoops('avgPool2dBackward', p);
  const rt = ctx.rt;
  const gx = ctx.alloc([p.n, p.c, p.h, p.w]);
  const planes = p.n * p.c;
  const HW = p.h * p.w;
  const OP = p.oh * p.ow;
  const per = planesPerDispatch('avgPool2dBackward', rt, { planes, ...p });
  const G = asGpu(gy).buffer;
  for (let q0 = 0; q0 < planes; q0 += per) {
    const q = Math.min(per, planes - q0);
    const vg = rt.view(G, q0 * OP, (q0 + q) * OP);
    const vx = rt.view(gx.buffer, q0 * HW, (q0 + q) * HW);
    rt.dispatch(
      FAMILY,
      'avg_backward',
      {},
      { ...IDLE, ...geometry(p), count: q * HW, first: q0 * HW, gBase: vg.base, xBase: vx.base },
      { gy: vg.binding, gx: vx.binding },
      Math.ceil((q * HW) / 256),
    );
  }
  return gx;
}

export function maxPool2dBackward(ctx: Ctx, gy: Tensor, argmax: Tensor, p: { n: number; c: number; h: number; w: number; oh: number; ow: number }): Tensor {
  const rt = ctx.rt;
  const gx = ctx.alloc([p.n, p.c, p.h, p.w]);
  const planes = p.n * p.c;
  const HW = p.h * p.w;
  const OP = p.oh * p.ow;
  rt.clear(gx.buffer, 0, planes * HW * 4);
  const per = planesPerDispatch('maxPool2dBackward', rt, { planes, ...p });
  const G = asGpu(gy).buffer;
  const A = asGpu(argmax, 'i32').buffer;
  const ob = rt.loopChunk;
  for (let q0 = 0; q0 < planes; q0 += per) {
    const q = Math.min(per, planes - q0);
    const vg = rt.view(G, q0 * OP, (q0 + q) * OP);
    const va = rt.view(A, q0 * OP, (q0 + q) * OP);
    const vx = rt.view(gx.buffer, q0 * HW, (q0 + q) * HW);
    // Outputs of every plane in pieces, in order: each plane's adds stay in scan order.
    for (let o0 = 0; o0 < OP; o0 += ob) {
      rt.dispatch(
        FAMILY,
        'max_backward',
        {},
        { ...IDLE, H: p.h, W: p.w, OH: p.oh, OW: p.ow, count: q, first: q0, o0, ob: Math.min(ob, OP - o0), gBase: vg.base, aBase: va.base, xBase: vx.base },
        { gy: vg.binding, am: va.binding, gx: vx.binding },
        Math.ceil(q / 64),
      );
    }
  }
  return gx;
}

export function gatherFlat(ctx: Ctx, x: Tensor, idx: Tensor, p: { n: number; k: number }): Tensor {
  const rt = ctx.rt;
  const y = ctx.alloc([...idx.shape]);
  const maxE = rt.maxElems();
  const X = asGpu(x).buffer;
  const I = asGpu(idx, 'i32').buffer;
  // Output chunks × x chunks: each dispatch writes the outputs whose source lies in its x chunk.
  for (let first = 0; first < p.k; first += maxE) {
    const count = Math.min(maxE, p.k - first);
    const vi = rt.view(I, first, first + count);
    const vy = rt.view(y.buffer, first, first + count);
    for (let x0 = 0; x0 < p.n; x0 += maxE) {
      const xn = Math.min(maxE, p.n - x0);
      const vx = rt.view(X, x0, x0 + xn);
      rt.dispatch(
        FAMILY,
        'gather_flat',
        {},
        { ...IDLE, count, first, n: p.n, x0, xn, xBase: vx.base, iBase: vi.base, yBase: vy.base },
        { x: vx.binding, idx: vi.binding, y: vy.binding },
        Math.ceil(count / 256),
      );
    }
  }
  return y;
}

export function channelSum(ctx: Ctx, gy: Tensor, p: { n: number; c: number; hw: number }): Tensor {
  const rt = ctx.rt;
  const out = ctx.alloc([p.c]);
  const sample = p.c * p.hw;
  const maxE = rt.maxElems();
  if (sample > maxE) fail('E_ARG', `channelSum: one sample has ${sample} elements, more than one webgpu storage binding holds (${maxE})`);
  // Samples per dispatch: their range fits one binding and each invocation loops ≤ loopChunk times.
  const byLoop = Math.floor((256 * rt.loopChunk) / p.hw);
  if (byLoop < 1) fail('E_ARG', `channelSum: planes of ${p.hw} elements are longer than one webgpu dispatch reduces (${256 * rt.loopChunk})`);
  const per = Math.min(Math.floor(maxE / sample), byLoop);
  const G = asGpu(gy).buffer;
  const vo = rt.view(out.buffer, 0, p.c);
  for (let n0 = 0; n0 < p.n; n0 += per) {
    const nb = Math.min(per, p.n - n0);
    const vg = rt.view(G, n0 * sample, (n0 + nb) * sample);
    rt.dispatch(
      FAMILY,
      'channel_sum',
      {},
      { ...IDLE, C: p.c, H: 1, W: p.hw, n0, nb, accumulate: n0 > 0 ? 1 : 0, gBase: vg.base },
      { gy: vg.binding, y: vo.binding },
      p.c,
    );
  }
  return out;
}
