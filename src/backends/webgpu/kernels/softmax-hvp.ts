/**
 * Softmax cross-entropy Hessian times r, per row (shaders/softmax_hvp.wgsl), tiled over rows so
 * every binding stays under the cap. Short rows take one invocation each; longer rows take a
 * workgroup each (strided loops, so no loop nears lavapipe's 65 535 cap, and parallel rows on a GPU).
 * On lavapipe a workgroup's barriers cost ~50 µs, so there one invocation per row is faster up to
 * the longest loop allowed (measured, B·C = 200 000: C = 10: 18 vs 996 ms; C = 1000: 2.5 vs 8.9 ms;
 * C = 16 384: 2.7 vs 2.5 ms).
 */
import { fail } from '../../../errors.js';
import type { Tensor } from '../../backend.js';
import { asGpu, dims2, sameSize } from '../tensor.js';
import type { Ctx } from './ctx.js';

/** Longest row handled one invocation per row on a hardware GPU. */
export const ROWS_MAX_C_GPU = 64;

export function softmaxHessianVec(ctx: Ctx, logits: Tensor, r: Tensor): Tensor {
  const [b, c] = dims2(logits, 'softmaxHessianVec logits');
  sameSize(logits, r, 'softmaxHessianVec');
  const rt = ctx.rt;
  const Z = asGpu(logits, 'f32', 'softmaxHessianVec logits').buffer;
  const R = asGpu(r, 'f32', 'softmaxHessianVec r').buffer;
  const out = ctx.alloc(logits.shape);
  if (b === 0 || c === 0) return out;
  const maxE = rt.maxElems();
  if (c > maxE) fail('E_ARG', `softmaxHessianVec: rows of ${c} elements exceed the webgpu binding cap`);
  const wide = c > (rt.gpu.software ? rt.loopChunk : ROWS_MAX_C_GPU);
  const rowsPerChunk = Math.floor(maxE / c);
  for (let first = 0; first < b; first += rowsPerChunk) {
    const n = Math.min(rowsPerChunk, b - first);
    const vz = rt.view(Z, first * c, (first + n) * c);
    const vr = rt.view(R, first * c, (first + n) * c);
    const vo = rt.view(out.buffer, first * c, (first + n) * c);
    rt.dispatch(
      'softmax_hvp',
      wide ? 'wide' : 'rows',
      {},
      { count: n, first, c, zBase: vz.base, rBase: vr.base, oBase: vo.base },
      { z: vz.binding, r: vr.binding, o: vo.binding },
      wide ? n : Math.ceil(n / 64),
    );
  }
  return out;
}
