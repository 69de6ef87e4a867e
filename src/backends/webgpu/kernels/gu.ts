/**
 * GU's projection (shaders/gu_project.wgsl): one op, all on the device —
 *   1. gram_partial per chunk of P: the Gram entries u_i·h·u_j and u_i·h·g as double-float pairs,
 *      one row of partial sums per workgroup; reduce.wgsl's cols_combine folds the rows to one;
 *   2. solve: one invocation, the k×k Jacobi-scaled Cholesky in double-float (k ≤ 32), writing the
 *      coefficients on the device — no read-back, so the op returns at once like every other;
 *   3. update per chunk: g − Σ a_i u_i.
 * The basis is bound whole when it fits one storage binding (rows P apart); otherwise each chunk's
 * slice of every active row is first copied into a compact [k, n] scratch buffer (buffer copies
 * have no binding cap), so any P works.
 */
import type { Tensor } from '../../backend.js';
import type { GuProjectPlan } from '../../ops.js';
import type { Bindable } from '../runtime.js';
import { asGpu } from '../tensor.js';
import type { Ctx } from './ctx.js';

const FAMILY = 'gu_project';
const TILE = 64;
const ONES = { one_a: 1, one_b: 1 };

export function guProject(ctx: Ctx, g: Tensor, basis: Tensor, metric: Tensor | undefined, plan: GuProjectPlan): Tensor {
  const rt = ctx.rt;
  const { p: P, k: K, first, count: k } = plan;
  const out = ctx.alloc(g.shape);
  const G = asGpu(g).buffer;
  if (P === 0) return out;
  if (k === 0) {
    rt.copy(G, 0, out.buffer, 0, P * 4);
    return out;
  }
  const U = asGpu(basis).buffer;
  const H = metric ? asGpu(metric).buffer : undefined;
  const maxE = Math.max(1, rt.maxElems());
  const nt = (k * (k + 1)) / 2 + k;
  const whole = K * P <= maxE;
  // Chunks of P: every binding of a chunk (g, h, out, and the scratch rows) fits the cap.
  const chunk = whole ? maxE : Math.max(1, Math.floor(maxE / k));
  // Elements per workgroup: 16 tiles, more when the partial rows would not fit one binding.
  const tilesTotal = Math.ceil(P / TILE) + Math.ceil(P / chunk);
  const tilesPerGroup = Math.min(1024, Math.max(16, Math.ceil((tilesTotal * nt * 2) / maxE)));
  const per = tilesPerGroup * TILE;
  let rows = 0;
  for (let p0 = 0; p0 < P; p0 += chunk) rows += Math.ceil(Math.min(chunk, P - p0) / per);

  /** Bindings and row addressing of the basis for elements [p0, p0 + n). */
  const basisFor = (p0: number, n: number): { u: Bindable; scratch?: GPUBuffer; addr: Record<string, number> } => {
    if (whole) {
      const v = rt.view(U, 0, K * P);
      return { u: v.binding, addr: { uBase: v.base, ucol0: 0, stride: P, rowK: K, rowFirst: first } };
    }
    const scratch = rt.acquire(k * n * 4);
    for (let i = 0; i < k; i++) rt.copy(U, (((first + i) % K) * P + p0) * 4, scratch, i * n * 4, n * 4);
    return { u: rt.view(scratch, 0, k * n).binding, scratch, addr: { uBase: 0, ucol0: p0, stride: n, rowK: k, rowFirst: 0 } };
  };

  const pairs = rt.acquire(rows * nt * 8);
  let outBase = 0;
  for (let p0 = 0; p0 < P; p0 += chunk) {
    const n = Math.min(chunk, P - p0);
    const b = basisFor(p0, n);
    const vg = rt.view(G, p0, p0 + n);
    const vh = H ? rt.view(H, p0, p0 + n) : vg;
    const groups = Math.ceil(n / per);
    rt.dispatch(
      FAMILY,
      'gram_partial',
      {},
      { ...ONES, ...b.addr, count: n, first: p0, gBase: vg.base, hBase: vh.base, oBase: 0, nact: k, weighted: H ? 1 : 0, per, outBase },
      { u: b.u, g: vg.binding, h: vh.binding, pout: pairs },
      groups,
    );
    if (b.scratch) rt.release(b.scratch);
    outBase += groups;
  }
  // Fold the partial rows (reduce.wgsl's column sums of a [rows, nt] pair matrix, 256 rows a pass).
  let cur = pairs;
  let left = rows;
  while (left > 1) {
    const next = Math.ceil(left / 256);
    const nextPairs = rt.acquire(next * nt * 8);
    rt.dispatch('reduce', 'cols_combine', {}, { count: left, first: 0, xBase: 0, yBase: 0, outBase: 0, n: nt, rows: left, ...ONES }, { pin: cur, pout: nextPairs }, Math.ceil(nt / 256) * next);
    rt.release(cur);
    cur = nextPairs;
    left = next;
  }
  const coef = rt.acquire(Math.max(1, k) * 8);
  const idle = { count: 0, first: 0, gBase: 0, hBase: 0, oBase: 0, uBase: 0, ucol0: 0, stride: 0, rowK: 1, rowFirst: 0, weighted: 0, per: 0, outBase: 0 };
  rt.dispatch(FAMILY, 'solve', {}, { ...ONES, ...idle, nact: k }, { pin: cur, coef }, 1);
  rt.release(cur);
  for (let p0 = 0; p0 < P; p0 += chunk) {
    const n = Math.min(chunk, P - p0);
    const b = basisFor(p0, n);
    const vg = rt.view(G, p0, p0 + n);
    const vo = rt.view(out.buffer, p0, p0 + n);
    rt.dispatch(
      FAMILY,
      'update',
      {},
      { ...ONES, ...idle, ...b.addr, count: n, first: p0, gBase: vg.base, oBase: vo.base, nact: k },
      { u: b.u, g: vg.binding, coef, o: vo.binding },
      Math.ceil(n / 256),
    );
    if (b.scratch) rt.release(b.scratch);
  }
  rt.release(coef);
  return out;
}
