/**
 * The landscape ops on webgpu (shaders/landscape.wgsl): many grid points per dispatch.
 *
 * pointCombine: one elementwise pass over out with every basis term when the basis fits one
 * storage binding (the usual case: J ≤ 3 slices of a layer); otherwise one pass per term, each
 * binding only the slice of that term its chunk reads, accumulating into out.
 * batchedMatmul: a 32 × 32 block of C per workgroup, the point in the grid's y dimension
 * (y = point · mTiles + row tile), so a chunk of points is one dispatch; points are chunked so
 * that a, b, c and bias spans fit one binding and y stays ≤ 65 535, K in chunks of the runtime's
 * loop cap (later chunks accumulate). A point whose own operands exceed one binding is cut by rows.
 */
import { fail } from '../../../errors.js';
import type { Tensor } from '../../backend.js';
import type { Bindable } from '../runtime.js';
import { asGpu } from '../tensor.js';
import type { Ctx } from './ctx.js';

const FAMILY = 'landscape';
/** The two entries share one Params struct; every field must be written, so each starts from zeros. */
const ZERO: Record<string, number> = Object.fromEntries(
  ['count', 'first', 's', 'j', 't0', 'nt', 'accumulate', 'coefBase', 'basisBase', 'outBase', 'M', 'N', 'K', 'k0', 'kb', 'p0', 'm0', 'mb', 'mTiles', 'aBase', 'bBase', 'cBase', 'biasBase', 'hasBias', 'act'].map((k) => [k, 0]),
);

export function pointCombine(ctx: Ctx, coef: Tensor, basis: Tensor, plan: { p: number; j: number; s: number; act: number }): Tensor {
  const rt = ctx.rt;
  const { p: P, j: J, s: S } = plan;
  const out = ctx.alloc([P, ...basis.shape.slice(1)]);
  const total = P * S;
  if (total === 0) return out;
  const C = asGpu(coef).buffer;
  const B = asGpu(basis).buffer;
  const maxE = Math.max(1, rt.maxElems());
  const cv = rt.view(C, 0, P * J);
  const run = (first: number, n: number, t0: number, nt: number, accumulate: number, bv: { binding: Bindable; base: number }) => {
    const ov = rt.view(out.buffer, first, first + n);
    rt.dispatch(
      FAMILY,
      'combine',
      { OP: Math.max(0, plan.act - 1) },
      { ...ZERO, count: n, first, s: S, j: J, t0, nt, accumulate, coefBase: cv.base, basisBase: bv.base, outBase: ov.base, act: plan.act > 0 ? 1 : 0 },
      { coef: cv.binding, basis: bv.binding, out: ov.binding },
      Math.ceil(n / 256),
    );
  };
  if (J * S <= maxE) {
    const bv = rt.view(B, 0, J * S);
    for (let first = 0; first < total; first += maxE) run(first, Math.min(maxE, total - first), 0, J, 0, bv);
    return out;
  }
  // One term at a time, each chunk inside one point so that its basis slice is contiguous.
  for (let q = 0; q < P; q++) {
    for (let r0 = 0; r0 < S; r0 += maxE) {
      const n = Math.min(maxE, S - r0);
      for (let t = 0; t < J; t++) run(q * S + r0, n, t, 1, t > 0 ? 1 : 0, rt.view(B, t * S + r0, t * S + r0 + n));
    }
  }
  return out;
}

export function batchedMatmul(ctx: Ctx, a: Tensor, b: Tensor, bias: Tensor | undefined, plan: { p: number; m: number; n: number; k: number; act: number }): Tensor {
  const rt = ctx.rt;
  const { p: P, m: M, n: N, k: K } = plan;
  const out = ctx.alloc([P, M, N]);
  if (P === 0 || M === 0 || N === 0) return out;
  const A = asGpu(a).buffer;
  const B = asGpu(b).buffer;
  const Bias = bias ? asGpu(bias).buffer : undefined;
  if (K === 0 && !Bias && plan.act === 0) {
    rt.clear(out.buffer, 0, P * M * N * 4);
    return out;
  }
  const maxE = Math.max(1, rt.maxElems());
  if (N * K > maxE) fail('E_MEMORY', `batchedMatmul: one point's b [${N}, ${K}] exceeds the device's storage-binding limit (${maxE} elements)`);
  // Rows per dispatch: a whole point when its a and c fit, else as many rows as do.
  const rowsFit = Math.max(1, Math.min(M, Math.floor(maxE / Math.max(K, N, 1))));
  const wholePoint = rowsFit === M;
  const kb = Math.max(1, Math.min(K, rt.loopChunk));
  const xTiles = Math.ceil(N / 32);
  /** Points [p0, p0 + pc), rows [m0, m0 + mc) of each (mc = M when pc > 1): one dispatch per K chunk. */
  const dispatch = (p0: number, pc: number, m0: number, mc: number) => {
    const mTiles = Math.ceil(mc / 32);
    const av = rt.view(A, (p0 * M + m0) * K, ((p0 + pc - 1) * M + m0 + mc) * K);
    const cv = rt.view(out.buffer, (p0 * M + m0) * N, ((p0 + pc - 1) * M + m0 + mc) * N);
    const bv = rt.view(B, p0 * N * K, (p0 + pc) * N * K);
    // Without a bias the entry still declares one: b's view stands in, never read (hasBias = 0).
    const biasV = Bias ? rt.view(Bias, p0 * N, (p0 + pc) * N) : bv;
    const passes = K === 0 ? 1 : Math.ceil(K / kb);
    for (let c = 0; c < passes; c++) {
      const k0 = c * kb;
      rt.dispatch(
        FAMILY,
        'bmm',
        { OP: Math.max(0, plan.act - 1) },
        {
          ...ZERO, M, N, K, k0, kb: K === 0 ? 0 : Math.min(kb, K - k0), p0, m0, mb: mc, mTiles,
          aBase: av.base, bBase: bv.base, cBase: cv.base, biasBase: biasV.base, hasBias: Bias ? 1 : 0, accumulate: k0 > 0 ? 1 : 0, act: plan.act > 0 ? 1 : 0,
        },
        { a: av.binding, b: bv.binding, bias: biasV.binding, c: cv.binding },
        [xTiles, pc * mTiles],
      );
    }
  };
  if (wholePoint) {
    const perPoint = Math.max(M * K, N * K, M * N);
    const byBinding = Math.max(1, Math.floor(maxE / perPoint));
    const byGrid = Math.max(1, Math.floor(65_535 / Math.ceil(M / 32)));
    const pcMax = Math.min(byBinding, byGrid);
    for (let p0 = 0; p0 < P; p0 += pcMax) dispatch(p0, Math.min(pcMax, P - p0), 0, M);
  } else {
    const mcMax = Math.min(rowsFit, 65_535 * 32);
    for (let q = 0; q < P; q++) for (let m0 = 0; m0 < M; m0 += mcMax) dispatch(q, 1, m0, Math.min(mcMax, M - m0));
  }
  return out;
}
