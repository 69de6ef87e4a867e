/**
 * gatherRows (shaders/gather.wgsl). The output is cut into binding-sized chunks; when x itself
 * exceeds one binding it is bound in row chunks and each output chunk is visited once per x
 * chunk. An index outside [0, M) yields a row of NaN (the device cannot throw; the js
 * reference throws E_ARG).
 */
import { fail } from '../../../errors.js';
import type { Tensor } from '../../backend.js';
import { asGpu, dims2 } from '../tensor.js';
import type { Ctx } from './ctx.js';

export function gatherRows(ctx: Ctx, x: Tensor, idx: Tensor): Tensor {
  const [m, n] = dims2(x, 'gatherRows x');
  const rt = ctx.rt;
  const X = asGpu(x, 'f32', 'gatherRows x').buffer;
  const I = asGpu(idx, 'i32', 'gatherRows idx').buffer;
  const k = idx.size;
  const out = ctx.alloc([k, n]);
  const total = k * n;
  if (total === 0) return out;
  const maxE = rt.maxElems();
  if (n > maxE) fail('E_ARG', `gatherRows: rows of ${n} elements exceed the webgpu binding cap`);
  const xRowsPerChunk = Math.max(1, Math.floor(maxE / n));
  const outChunk = Math.max(n, Math.floor(maxE / n) * n);
  for (let first = 0; first < total; first += outChunk) {
    const cnt = Math.min(outChunk, total - first);
    const vo = rt.view(out.buffer, first, first + cnt);
    const vi = rt.view(I, Math.floor(first / n), Math.floor((first + cnt - 1) / n) + 1);
    for (let xRow0 = 0; xRow0 < Math.max(m, 1); xRow0 += xRowsPerChunk) {
      const xRows = Math.min(xRowsPerChunk, m - xRow0);
      const vx = rt.view(X, xRow0 * n, Math.max(xRow0 * n + 1, (xRow0 + xRows) * n));
      rt.dispatch(
        'gather',
        'main',
        {},
        { count: cnt, first, n, m, xRow0, xRows: Math.max(0, xRows), xBase: vx.base, iBase: vi.base, oBase: vo.base },
        { x: vx.binding, idx: vi.binding, o: vo.binding },
        Math.ceil(cnt / 256),
      );
    }
  }
  return out;
}
