/**
 * Reductions (shaders/reduce.wgsl): sum, dot, sumRows. Double-float accumulation in workgroup
 * trees: the result is within a few f32 ulps of the exact sum of the f32 inputs (dot: plus the
 * f32 rounding of each product, ≤ 2⁻²⁴·Σ|x·y|). Every shader loop is ≤ 256 iterations; long
 * inputs take more passes (4096 elements per workgroup per pass), so sizes past 65 535 are fine.
 */
import { fail } from '../../../errors.js';
import type { Tensor } from '../../backend.js';
import type { Runtime } from '../runtime.js';
import { asGpu, dims2, sameSize } from '../tensor.js';
import type { Ctx } from './ctx.js';

const FAMILY = 'reduce';
const BLOCK = 4096;
const ONES = { one_a: 1, one_b: 1 };
const IDLE = { first: 0, xBase: 0, yBase: 0, outBase: 0, n: 1, rows: 1, ...ONES };

/** Reduces `count` pairs in `pairs` to one and writes hi + lo into `out` (element 0). */
function finishPairs(rt: Runtime, pairs: GPUBuffer, count: number, out: GPUBuffer, cols = 1): void {
  let cur = pairs;
  let n = count;
  while (n > 1) {
    const next = rt.acquire(Math.ceil(n / BLOCK) * 8);
    rt.dispatch(FAMILY, 'combine', {}, { ...IDLE, count: n }, { pin: cur, pout: next }, Math.ceil(n / BLOCK));
    if (cur !== pairs) rt.release(cur);
    cur = next;
    n = Math.ceil(n / BLOCK);
  }
  rt.dispatch(FAMILY, 'finalize', {}, { ...IDLE, count: cols }, { pin: cur, outv: out }, Math.ceil(cols / 256));
  if (cur !== pairs) rt.release(cur);
}

function reduceAll(ctx: Ctx, x: Tensor, y: Tensor | undefined): Tensor {
  const rt = ctx.rt;
  const out = ctx.alloc([1]);
  const count = x.size;
  if (count === 0) {
    rt.clear(out.buffer, 0, 4);
    return out;
  }
  const X = asGpu(x).buffer;
  const Y = y ? asGpu(y).buffer : undefined;
  // Chunks fit one binding; each writes ceil(n / BLOCK) partial pairs after the previous ones.
  const maxE = rt.maxElems();
  const chunk = maxE >= BLOCK ? Math.floor(maxE / BLOCK) * BLOCK : maxE;
  let blocks = 0;
  for (let first = 0; first < count; first += chunk) blocks += Math.ceil(Math.min(chunk, count - first) / BLOCK);
  const pairs = rt.acquire(blocks * 8);
  let outBase = 0;
  for (let first = 0; first < count; first += chunk) {
    const n = Math.min(chunk, count - first);
    const vx = rt.view(X, first, first + n);
    const vy = Y ? rt.view(Y, first, first + n) : undefined;
    rt.dispatch(
      FAMILY,
      'partial',
      { MODE: Y ? 1 : 0 },
      { ...IDLE, count: n, first, xBase: vx.base, yBase: vy?.base ?? 0, outBase },
      // sum binds x as y too (y is in the entry's layout; MODE 0 never reads it).
      { x: vx.binding, y: vy?.binding ?? vx.binding, pout: pairs },
      Math.ceil(n / BLOCK),
    );
    outBase += Math.ceil(n / BLOCK);
  }
  finishPairs(rt, pairs, blocks, out.buffer);
  rt.release(pairs);
  return out;
}

export function sum(ctx: Ctx, x: Tensor): Tensor {
  return reduceAll(ctx, x, undefined);
}

export function dot(ctx: Ctx, x: Tensor, y: Tensor): Tensor {
  sameSize(x, y, 'dot');
  return reduceAll(ctx, x, y);
}

export function sumRows(ctx: Ctx, x: Tensor): Tensor {
  const [m, n] = dims2(x, 'sumRows x');
  const rt = ctx.rt;
  const out = ctx.alloc([n]);
  if (n === 0) return out;
  if (m === 0) {
    rt.clear(out.buffer, 0, n * 4);
    return out;
  }
  const X = asGpu(x).buffer;
  const groups = Math.ceil(n / 256);
  // Row chunks that fit one binding; each writes ceil(rc / 256) partial rows after the previous ones.
  const rowsPerChunk = Math.floor(rt.maxElems() / n);
  if (rowsPerChunk < 1) fail('E_ARG', `sumRows: rows of ${n} elements are too long for the webgpu binding cap`);
  let rows = 0;
  for (let r0 = 0; r0 < m; r0 += rowsPerChunk) rows += Math.ceil(Math.min(rowsPerChunk, m - r0) / 256);
  if (rows * n * 2 > rt.maxElems()) fail('E_ARG', `sumRows: [${m}, ${n}] is too large for the webgpu binding cap`);
  let pairs = rt.acquire(rows * n * 8);
  let outBase = 0;
  for (let r0 = 0; r0 < m; r0 += rowsPerChunk) {
    const rc = Math.min(rowsPerChunk, m - r0);
    const v = rt.view(X, r0 * n, (r0 + rc) * n);
    rt.dispatch(FAMILY, 'cols_partial', {}, { ...IDLE, count: rc, first: r0, xBase: v.base, n, outBase }, { x: v.binding, pout: pairs }, groups * Math.ceil(rc / 256));
    outBase += Math.ceil(rc / 256);
  }
  while (rows > 1) {
    const next = Math.ceil(rows / 256);
    const nextPairs = rt.acquire(next * n * 8);
    rt.dispatch(FAMILY, 'cols_combine', {}, { ...IDLE, count: rows, n }, { pin: pairs, pout: nextPairs }, groups * next);
    rt.release(pairs);
    pairs = nextPairs;
    rows = next;
  }
  rt.dispatch(FAMILY, 'finalize', {}, { ...IDLE, count: n }, { pin: pairs, outv: out.buffer }, Math.ceil(n / 256));
  rt.release(pairs);
  return out;
}
