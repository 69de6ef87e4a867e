/** axpy, scale and mul (shaders/axpy.wgsl). */
import type { Tensor } from '../../backend.js';
import { asGpu, sameSize } from '../tensor.js';
import type { Ctx } from './ctx.js';
import { runMap } from './map.js';

export function axpy(ctx: Ctx, alpha: number, x: Tensor, y: Tensor): Tensor {
  sameSize(x, y, 'axpy');
  const out = ctx.alloc(y.shape);
  runMap(ctx.rt, { family: 'axpy', entry: 'axpy' }, y.size, [
    { name: 'x', buffer: asGpu(x).buffer, base: 'xBase' },
    { name: 'y', buffer: asGpu(y).buffer, base: 'yBase' },
    { name: 'o', buffer: out.buffer, base: 'oBase' },
  ], { alpha });
  return out;
}

export function scale(ctx: Ctx, alpha: number, x: Tensor): Tensor {
  const out = ctx.alloc(x.shape);
  runMap(ctx.rt, { family: 'axpy', entry: 'scale' }, x.size, [
    { name: 'x', buffer: asGpu(x).buffer, base: 'xBase' },
    { name: 'o', buffer: out.buffer, base: 'oBase' },
  ], { alpha, yBase: 0 });
  return out;
}

export function mul(ctx: Ctx, x: Tensor, y: Tensor): Tensor {
  sameSize(x, y, 'mul');
  const out = ctx.alloc(x.shape);
  runMap(ctx.rt, { family: 'axpy', entry: 'mul' }, x.size, [
    { name: 'x', buffer: asGpu(x, 'f32', 'mul x').buffer, base: 'xBase' },
    { name: 'y', buffer: asGpu(y, 'f32', 'mul y').buffer, base: 'yBase' },
    { name: 'o', buffer: out.buffer, base: 'oBase' },
  ], { alpha: 0 });
  return out;
}
