/** Per-sample softmax cross-entropy and its gradient (shaders/softmax_ce.wgsl), tiled over rows. */
import { fail } from '../../../errors.js';
import type { Tensor } from '../../backend.js';
import { asGpu, dims2 } from '../tensor.js';
import type { Ctx } from './ctx.js';

export function softmaxCrossEntropy(ctx: Ctx, logits: Tensor, labels: Tensor): { loss: Tensor; grad: Tensor } {
  const [b, c] = dims2(logits, 'softmaxCrossEntropy logits');
  if (labels.size !== b) fail('E_SHAPE', `softmaxCrossEntropy: ${labels.size} labels for ${b} rows`);
  // One invocation walks a row; lavapipe stops loops at 65 535 iterations.
  if (c > 65_535) fail('E_ARG', `softmaxCrossEntropy: ${c} classes exceed the webgpu kernel's 65 535`);
  const rt = ctx.rt;
  const Z = asGpu(logits, 'f32', 'logits').buffer;
  const Y = asGpu(labels, 'i32', 'labels').buffer;
  const loss = ctx.alloc([b]);
  const grad = ctx.alloc([b, c]);
  if (c === 0) return { loss, grad };
  const rowsPerChunk = Math.max(1, Math.floor(rt.maxElems() / c));
  for (let first = 0; first < b; first += rowsPerChunk) {
    const n = Math.min(rowsPerChunk, b - first);
    const vz = rt.view(Z, first * c, (first + n) * c);
    const vg = rt.view(grad.buffer, first * c, (first + n) * c);
    const vy = rt.view(Y, first, first + n);
    const vl = rt.view(loss.buffer, first, first + n);
    rt.dispatch(
      'softmax_ce',
      'main',
      {},
      { count: n, first, c, zBase: vz.base, yBase: vy.base, lBase: vl.base, gBase: vg.base },
      { z: vz.binding, labels: vy.binding, loss: vl.binding, grad: vg.binding },
      Math.ceil(n / 64),
    );
  }
  return { loss, grad };
}
