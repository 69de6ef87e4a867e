/**
 * slice and copyInto: plain copyBufferToBuffer commands recorded in the current batch (a tensor is
 * one buffer, and copies have no binding cap, so no tiling; f32 offsets are 4-byte aligned).
 * Many small copies, e.g. one Lanczos basis row each, share a submit like dispatches do.
 */
import { fail } from '../../../errors.js';
import { type Tensor, shapeSize } from '../../backend.js';
import { asGpu } from '../tensor.js';
import type { Ctx } from './ctx.js';

function checkRange(what: string, offset: number, n: number, size: number): void {
  if (!Number.isInteger(offset) || offset < 0 || offset + n > size) {
    fail('E_ARG', `${what} [${offset}, ${offset + n}) is outside a tensor of ${size} elements`);
  }
}

export function slice(ctx: Ctx, x: Tensor, offset: number, shape: readonly number[]): Tensor {
  const n = shapeSize(shape);
  const src = asGpu(x, 'f32', 'slice');
  checkRange('slice', offset, n, x.size);
  const out = ctx.alloc(shape);
  if (n > 0) ctx.rt.copy(src.buffer, offset * 4, out.buffer, 0, n * 4);
  return out;
}

export function copyInto(ctx: Ctx, dst: Tensor, dstOffset: number, src: Tensor): void {
  const d = asGpu(dst, 'f32', 'copyInto dst');
  const s = asGpu(src, 'f32', 'copyInto src');
  checkRange('copyInto', dstOffset, s.size, d.size);
  const bytes = s.size * 4;
  if (bytes === 0) return;
  const rt = ctx.rt;
  if (s.buffer !== d.buffer) {
    rt.copy(s.buffer, 0, d.buffer, dstOffset * 4, bytes);
    return;
  }
  // WebGPU forbids a copy within one buffer; go through a temporary (as TypedArray.set does).
  const tmp = rt.acquire(bytes);
  rt.copy(s.buffer, 0, tmp, 0, bytes);
  rt.copy(tmp, 0, d.buffer, dstOffset * 4, bytes);
  rt.release(tmp);
}
