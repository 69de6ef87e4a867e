/**
 * The bisimulation loss (shaders/bisim.wgsl): dist_z and dist_pred over the pairs (in column
 * chunks of at most `loopChunk`, the three sums of squares carried in a [B] vec4 scratch),
 * pair_terms, grad_rows over the gradient's elements, then the mean of the terms through
 * reduce.wgsl (double-float sum) and axpy.wgsl's scale. Nothing comes back to the host.
 *
 * When z, μ, σ and the per-pair arrays each fit one storage binding (on a GPU: up to 128 MiB or
 * more per tensor, far past any batch) they are bound whole and a pair reads its partner's row
 * directly: nothing of z's size is written but the gradient. Otherwise the partner rows are first
 * gathered into row order (gather.wgsl, which tiles past the cap) and every pass runs over windows
 * of rows; a single row wider than one binding is refused (E_ARG), as gatherRows refuses it.
 */
import { fail } from '../../../errors.js';
import { type Tensor, shapeSize } from '../../backend.js';
import type { BisimulationPlan } from '../../ops.js';
import type { Bindable } from '../runtime.js';
import { GpuTensor, asGpu } from '../tensor.js';
import { scale } from './axpy.js';
import type { Ctx } from './ctx.js';
import { gatherRows } from './gather.js';
import { sum } from './reduce.js';

const FAMILY = 'bisim';
const WG = 256;
/** Every Params field; a dispatch overrides the ones it uses. */
const ZERO_BASES = {
  zBase: 0, zpBase: 0, zqBase: 0, muBase: 0, mpBase: 0, sgBase: 0, spBase: 0, rwBase: 0, rpBase: 0,
  permBase: 0, invBase: 0, accBase: 0, termsBase: 0, coefBase: 0, cqBase: 0, gradBase: 0,
};

export function bisimulationLoss(
  ctx: Ctx, z: Tensor, reward: Tensor, mu: Tensor, sigma: Tensor | undefined, plan: BisimulationPlan,
): { loss: Tensor; terms: Tensor; grad: Tensor } {
  const rt = ctx.rt;
  const { b, d, e, gamma, hasSigma, perm, inv } = plan;
  const maxE = Math.max(1, rt.maxElems());
  if (d > maxE || e > maxE) fail('E_ARG', `bisimulationLoss: rows of ${Math.max(d, e)} elements exceed the webgpu binding cap of ${maxE}`);
  const terms = ctx.alloc([b]);
  const grad = ctx.alloc([b, d]);

  // Intermediates: buffers of the pool, handed back below (not tensors of the backend).
  const scratch: GPUBuffer[] = [];
  const take = (bytes: number): GPUBuffer => {
    const buf = rt.acquire(Math.max(16, bytes));
    scratch.push(buf);
    return buf;
  };
  const local: Ctx = {
    rt,
    alloc: (shape, dtype = 'f32') => new GpuTensor(dtype, [...shape], take(shapeSize(shape) * 4)),
  };
  const alias = (buffer: GPUBuffer, shape: number[], dtype: 'f32' | 'i32' = 'f32') => new GpuTensor(dtype, shape, buffer);

  const Z = asGpu(z).buffer;
  const M = asGpu(mu).buffer;
  const S = sigma ? asGpu(sigma).buffer : M;
  const R = asGpu(reward).buffer;
  const P = take(b * 4);
  const I = take(b * 4);
  rt.write(P, 0, perm);
  rt.write(I, 0, inv);
  const coef = take(b * 4);
  const acc = take(b * 16);
  const common = { d, e, gamma, hasSigma, scale: 2 / b };
  const aligned = Math.max(b * d, b * e, 4 * b) > maxE;
  const cz = Math.min(d, rt.loopChunk);
  const ce = Math.min(e, rt.loopChunk);

  /** Pass 1 over pairs [first, first + n) with these bindings and bases. */
  const pairs = (first: number, n: number, bind: Record<string, { binding: Bindable; base: number }>, align: number): void => {
    const base = (k: string) => bind[k]!.base;
    const params = {
      ...ZERO_BASES, ...common, count: n, first, aligned: align, zBase: base('z'), zpBase: base('zp'), muBase: base('mu'), mpBase: base('mp'),
      sgBase: base('sg'), spBase: base('sp'), rwBase: base('rw'), rpBase: base('rp'), permBase: base('perm'), accBase: base('acc'),
      termsBase: base('terms'), coefBase: base('coefw'),
    };
    const b_ = (...names: string[]) => Object.fromEntries(names.map((k) => [k, bind[k]!.binding]));
    const groups = Math.ceil(n / WG);
    for (let c0 = 0; c0 < d; c0 += cz) rt.dispatch(FAMILY, 'dist_z', {}, { ...params, c0, cn: cz }, b_('z', 'zp', 'perm', 'acc'), groups);
    for (let c0 = 0; c0 < e; c0 += ce) rt.dispatch(FAMILY, 'dist_pred', {}, { ...params, c0, cn: ce }, b_('mu', 'mp', 'sg', 'sp', 'perm', 'acc'), groups);
    rt.dispatch(FAMILY, 'pair_terms', {}, { ...params, c0: 0, cn: 0 }, b_('acc', 'rw', 'rp', 'perm', 'terms', 'coefw'), groups);
  };

  if (!aligned) {
    const whole = (buf: GPUBuffer, n: number, elemBytes = 4) => rt.view(buf, 0, n, elemBytes);
    const zb = whole(Z, b * d);
    const mb = whole(M, b * e);
    const sb = whole(S, b * e);
    const rb = whole(R, b);
    const pb = whole(P, b);
    const cb = whole(coef, b);
    pairs(0, b, { z: zb, zp: zb, mu: mb, mp: mb, sg: sb, sp: sb, rw: rb, rp: rb, perm: pb, acc: whole(acc, b, 16), terms: whole(terms.buffer, b), coefw: cb }, 0);
    const ib = whole(I, b);
    for (let first = 0; first < b * d; first += maxE) {
      const n = Math.min(maxE, b * d - first);
      const vg = rt.view(grad.buffer, first, first + n);
      rt.dispatch(
        FAMILY, 'grad_rows', {},
        { ...ZERO_BASES, ...common, count: n, first, c0: 0, cn: 0, aligned: 0, gradBase: vg.base },
        { z: zb.binding, zp: zb.binding, zq: zb.binding, perm: pb.binding, inv: ib.binding, coef: cb.binding, cq: cb.binding, grad: vg.binding },
        Math.ceil(n / WG),
      );
    }
  } else {
    const permT = alias(P, [b], 'i32');
    const invT = alias(I, [b], 'i32');
    const zT = alias(Z, [b, d]);
    const zp = asGpu(gatherRows(local, zT, permT)).buffer;
    const mp = asGpu(gatherRows(local, alias(M, [b, e]), permT)).buffer;
    const sp = sigma ? asGpu(gatherRows(local, alias(S, [b, e]), permT)).buffer : mp;
    const rp = asGpu(gatherRows(local, alias(R, [b, 1]), permT)).buffer;
    // Windows of rows: every binding of a window (rows × d, rows × e, rows vec4s) fits the cap.
    const rows = Math.max(1, Math.floor(maxE / Math.max(d, e, 4)));
    for (let r0 = 0; r0 < b; r0 += rows) {
      const n = Math.min(rows, b - r0);
      const win = (buf: GPUBuffer, w: number, elemBytes = 4) => rt.view(buf, r0 * w, (r0 + n) * w, elemBytes);
      pairs(r0, n, {
        z: win(Z, d), zp: win(zp, d), mu: win(M, e), mp: win(mp, e), sg: win(S, e), sp: win(sp, e), rw: win(R, 1), rp: win(rp, 1),
        perm: win(P, 1), acc: win(acc, 1, 16), terms: win(terms.buffer, 1), coefw: win(coef, 1),
      }, 1);
    }
    const zq = asGpu(gatherRows(local, zT, invT)).buffer;
    const cq = asGpu(gatherRows(local, alias(coef, [b, 1]), invT)).buffer;
    const gradRows = Math.max(1, Math.floor(maxE / d));
    for (let r0 = 0; r0 < b; r0 += gradRows) {
      const n = Math.min(gradRows, b - r0);
      const win = (buf: GPUBuffer, w: number) => rt.view(buf, r0 * w, (r0 + n) * w);
      const [vz, vzp, vzq, vg, vp, vi, vc, vcq] = [win(Z, d), win(zp, d), win(zq, d), win(grad.buffer, d), win(P, 1), win(I, 1), win(coef, 1), win(cq, 1)];
      rt.dispatch(
        FAMILY, 'grad_rows', {},
        {
          ...ZERO_BASES, ...common, count: n * d, first: r0 * d, c0: 0, cn: 0, aligned: 1,
          zBase: vz.base, zpBase: vzp.base, zqBase: vzq.base, gradBase: vg.base, permBase: vp.base, invBase: vi.base, coefBase: vc.base, cqBase: vcq.base,
        },
        { z: vz.binding, zp: vzp.binding, zq: vzq.binding, grad: vg.binding, perm: vp.binding, inv: vi.binding, coef: vc.binding, cq: vcq.binding },
        Math.ceil((n * d) / WG),
      );
    }
  }
  const total = sum(local, terms);
  const loss = scale(ctx, 1 / b, total);
  for (const buf of scratch) rt.release(buf);
  return { loss, terms, grad };
}
