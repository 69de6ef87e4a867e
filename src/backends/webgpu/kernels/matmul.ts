/**
 * matmul with transposes (shaders/matmul.wgsl). C [M,N] is cut into blocks (mb × nb) and K into
 * chunks of ≤ loopChunk so that (a) no shader loop passes lavapipe's 65 535-iteration cap and (b)
 * every operand's bound range — the contiguous span of its rows/columns the block touches —
 * stays under the storage-binding cap. Chunks after the first accumulate into C.
 */
import { fail } from '../../../errors.js';
import type { Tensor } from '../../backend.js';
import { asGpu, dims2 } from '../tensor.js';
import type { Ctx } from './ctx.js';
import { matvec } from './matvec.js';

/** Elements spanned by rows [r0, r0 + nr) × cols [c0, c0 + nc) of a row-major matrix with `ld` columns. */
function span(nr: number, nc: number, ld: number): number {
  return (nr - 1) * ld + nc;
}

export interface MatmulBlocks {
  mb: number;
  nb: number;
  kb: number;
}

/** Block sizes such that every operand's span fits in `maxElems` (pure; unit-testable). */
export function matmulBlocks(M: number, N: number, K: number, transA: boolean, transB: boolean, maxElems: number, loopChunk: number): MatmulBlocks {
  let mb = Math.min(M, 65_535 * 32);
  let nb = Math.min(N, 65_535 * 32);
  let kb = Math.min(K, loopChunk);
  const spanA = () => (transA ? span(kb, mb, M) : span(mb, kb, K));
  const spanB = () => (transB ? span(nb, kb, K) : span(kb, nb, N));
  const spanC = () => span(mb, nb, N);
  for (let guard = 0; guard < 200; guard++) {
    if (spanA() <= maxElems && spanB() <= maxElems && spanC() <= maxElems) return { mb, nb, kb };
    if (spanC() > maxElems) {
      if (mb > 1) mb = Math.ceil(mb / 2);
      else nb = Math.ceil(nb / 2);
    } else if (spanA() > maxElems) {
      if (transA ? kb > 1 : mb > 1) {
        if (transA) kb = Math.ceil(kb / 2);
        else mb = Math.ceil(mb / 2);
      } else if (transA) mb = Math.ceil(mb / 2);
      else kb = Math.ceil(kb / 2);
    } else {
      if (transB ? nb > 1 : kb > 1) {
        if (transB) nb = Math.ceil(nb / 2);
        else kb = Math.ceil(kb / 2);
      } else if (transB) kb = Math.ceil(kb / 2);
      else nb = Math.ceil(nb / 2);
    }
  }
  return fail('E_INTERNAL', `matmul ${M}x${K}x${N}: no tiling fits a ${maxElems}-element binding`);
}

export function matmul(ctx: Ctx, a: Tensor, b: Tensor, transA = false, transB = false): Tensor {
  const [ar, ac] = dims2(a, 'matmul A');
  const [br, bc] = dims2(b, 'matmul B');
  const [M, K] = transA ? [ac, ar] : [ar, ac];
  const [K2, N] = transB ? [bc, br] : [br, bc];
  if (K !== K2) fail('E_SHAPE', `matmul: inner dimensions differ (${K} vs ${K2})`);
  const A = asGpu(a, 'f32', 'matmul A').buffer;
  const B = asGpu(b, 'f32', 'matmul B').buffer;
  const out = ctx.alloc([M, N]);
  const rt = ctx.rt;
  if (M === 0 || N === 0) return out;
  if (K === 0) {
    rt.clear(out.buffer, 0, Math.ceil((M * N * 4) / 4) * 4);
    return out;
  }
  // A vector operand: no blocking wins, and a long K must not run inside one workgroup.
  if (N === 1) {
    matvec(rt, A, B, out.buffer, M, K, transA ? 'cols' : 'rows');
    return out;
  }
  if (M === 1) {
    matvec(rt, B, A, out.buffer, N, K, transB ? 'rows' : 'cols');
    return out;
  }
  const { mb, nb, kb } = matmulBlocks(M, N, K, transA, transB, rt.maxElems(), rt.loopChunk);
  const constants = { TRANS_A: transA ? 1 : 0, TRANS_B: transB ? 1 : 0 };
  // 8 × 8 outputs per invocation measured faster without transposes, 4 × 4 with (lavapipe).
  const wide = !transA && !transB;
  const entry = wide ? 'main8' : 'main';
  const tile = wide ? 64 : 32;
  for (let m0 = 0; m0 < M; m0 += mb) {
    const mc = Math.min(mb, M - m0);
    for (let n0 = 0; n0 < N; n0 += nb) {
      const nc = Math.min(nb, N - n0);
      const vc = rt.view(out.buffer, m0 * N + n0, (m0 + mc - 1) * N + n0 + nc);
      for (let k0 = 0; k0 < K; k0 += kb) {
        const kc = Math.min(kb, K - k0);
        const va = transA ? rt.view(A, k0 * M + m0, (k0 + kc - 1) * M + m0 + mc) : rt.view(A, m0 * K + k0, (m0 + mc - 1) * K + k0 + kc);
        const vb = transB ? rt.view(B, n0 * K + k0, (n0 + nc - 1) * K + k0 + kc) : rt.view(B, k0 * N + n0, (k0 + kc - 1) * N + n0 + nc);
        rt.dispatch(
          'matmul',
          entry,
          constants,
          { M, N, K, m0, n0, k0, mb: mc, nb: nc, kb: kc, aBase: va.base, bBase: vb.base, cBase: vc.base, accumulate: k0 > 0 ? 1 : 0 },
          { a: va.binding, b: vb.binding, c: vc.binding },
          [Math.ceil(nc / tile), Math.ceil(mc / tile)],
        );
      }
    }
  }
  return out;
}
