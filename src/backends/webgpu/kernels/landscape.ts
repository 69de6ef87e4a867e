/**
 * The landscape ops on webgpu (shaders/landscape.wgsl): many grid points per dispatch.
 *
 * pointCombine: one elementwise pass over out with every basis term when the basis fits one
 * storage binding (the usual case: J ≤ 3 slices of a layer); otherwise one pass per term, each
 * binding only the slice of that term its chunk reads, accumulating into out.
 * batchedMatmul: a 32 × 32 block of C per workgroup, the point in the grid's y dimension
 * (y = point · mTiles + row tile), so a chunk of points is one dispatch; points are chunked so
 * that a, b, c and bias spans fit one binding and y stays ≤ 65 535, K in chunks of the runtime's
 * loop cap (later chunks accumulate). A point whose own operands exceed one binding is tiled as
 * matmul() tiles one product (rows, columns and K chunks that each fit a binding).
 */
import type { Tensor } from '../../backend.js';
import type { Bindable } from '../runtime.js';
import { asGpu } from '../tensor.js';
import { matmulBlocks } from './matmul.js';
import type { Ctx } from './ctx.js';

const FAMILY = 'landscape';
/** The two entries share one Params struct; every field must be written, so each starts from zeros. */
const ZERO: Record<string, number> = Object.fromEntries(
  ['count', 'first', 's', 'j', 't0', 'nt', 'accumulate', 'coefBase', 'basisBase', 'outBase', 'M', 'N', 'K', 'k0', 'kb', 'p0', 'm0', 'mb', 'n0', 'nb', 'mTiles', 'aBase', 'bBase', 'cBase', 'biasBase', 'hasBias', 'act'].map((k) => [k, 0]),
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
  // Each dispatch binds the coefficients of the points its chunk touches only.
  const coefView = (first: number, n: number) => rt.view(C, Math.floor(first / S) * J, (Math.floor((first + n - 1) / S) + 1) * J);
  const run = (first: number, n: number, t0: number, nt: number, accumulate: number, bv: { binding: Bindable; base: number }) => {
    const ov = rt.view(out.buffer, first, first + n);
    const cv = coefView(first, n);
    rt.dispatch(
      FAMILY,
      'combine',
      { OP: Math.max(0, plan.act - 1) },
      { ...ZERO, count: n, first, s: S, j: J, t0, nt, accumulate, coefBase: cv.base, basisBase: bv.base, outBase: ov.base, act: plan.act > 0 ? 1 : 0 },
      { coef: cv.binding, basis: bv.binding, out: ov.binding },
      Math.ceil(n / 256),
    );
  };
  // Chunks of at most maxE/(J + 1) outputs: their points' coefficients fit a binding too.
  const chunk = Math.max(1, Math.floor(maxE / (J + 1)));
  if (J * S <= maxE) {
    const bv = rt.view(B, 0, J * S);
    for (let first = 0; first < total; first += chunk) run(first, Math.min(chunk, total - first), 0, J, 0, bv);
    return out;
  }
  // One term at a time, each chunk inside one point so that its basis slice is contiguous.
  for (let q = 0; q < P; q++) {
    for (let r0 = 0; r0 < S; r0 += chunk) {
      const n = Math.min(chunk, S - r0);
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
  const kbMax = Math.max(1, Math.min(K, rt.loopChunk));
  /**
   * Points [p0, p0 + pc), rows [m0, m0 + mc), columns [n0, n0 + nc), K in chunks of kb: one
   * dispatch per chunk. With pc > 1 the tile is whole points (mc = M, nc = N), so every view is one
   * contiguous range; with pc = 1 each view spans only the tile's rows and K chunk.
   */
  const tile = (p0: number, pc: number, m0: number, mc: number, n0: number, nc: number, kb: number) => {
    const mTiles = Math.ceil(mc / 32);
    const passes = K === 0 ? 1 : Math.ceil(K / kb);
    for (let c = 0; c < passes; c++) {
      const k0 = c * kb;
      const kc = K === 0 ? 0 : Math.min(kb, K - k0);
      const whole = pc > 1;
      const av = whole ? rt.view(A, p0 * M * K, (p0 + pc) * M * K) : rt.view(A, (p0 * M + m0) * K + k0, (p0 * M + m0 + mc - 1) * K + k0 + Math.max(kc, 1));
      const bv = whole ? rt.view(B, p0 * N * K, (p0 + pc) * N * K) : rt.view(B, (p0 * N + n0) * K + k0, (p0 * N + n0 + nc - 1) * K + k0 + Math.max(kc, 1));
      const cv = whole ? rt.view(out.buffer, p0 * M * N, (p0 + pc) * M * N) : rt.view(out.buffer, (p0 * M + m0) * N + n0, (p0 * M + m0 + mc - 1) * N + n0 + nc);
      // Without a bias the entry still declares one: b's view stands in, never read (hasBias = 0).
      const biasV = Bias ? rt.view(Bias, p0 * N + n0, (p0 + pc - 1) * N + n0 + nc) : bv;
      rt.dispatch(
        FAMILY,
        'bmm',
        { OP: Math.max(0, plan.act - 1) },
        {
          ...ZERO, M, N, K, k0, kb: kc, p0, m0, mb: mc, n0, nb: nc, mTiles,
          aBase: av.base, bBase: bv.base, cBase: cv.base, biasBase: biasV.base, hasBias: Bias ? 1 : 0, accumulate: k0 > 0 ? 1 : 0, act: plan.act > 0 ? 1 : 0,
        },
        { a: av.binding, b: bv.binding, bias: biasV.binding, c: cv.binding },
        [Math.ceil(nc / 32), pc * mTiles],
      );
    }
  };
  const perPoint = Math.max(M * K, N * K, M * N);
  if (perPoint <= maxE && Math.ceil(M / 32) <= 65_535) {
    // Whole points: as many per dispatch as the bindings and the grid's y dimension allow.
    const pcMax = Math.max(1, Math.min(Math.floor(maxE / perPoint), Math.floor(65_535 / Math.ceil(M / 32))));
    for (let p0 = 0; p0 < P; p0 += pcMax) tile(p0, Math.min(pcMax, P - p0), 0, M, 0, N, kbMax);
  } else {
    // A point larger than a binding: matmul()'s tiling of one [M,K]·[N,K]ᵀ product, point by point.
    const { mb, nb, kb } = matmulBlocks(M, N, Math.max(K, 1), false, true, maxE, rt.loopChunk);
    for (let q = 0; q < P; q++) {
      for (let m0 = 0; m0 < M; m0 += mb) for (let n0 = 0; n0 < N; n0 += nb) tile(q, 1, m0, Math.min(mb, M - m0), n0, Math.min(nb, N - n0), Math.min(kb, kbMax));
    }
  }
  return out;
}
