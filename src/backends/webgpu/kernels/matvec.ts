/**
 * Matrix × vector (shaders/matvec.wgsl): what matmul runs when N = 1 or M = 1, e.g. the
 * Q·w and Qᵀ·h of a Lanczos reorthogonalisation with Q [k, P]. The register-blocked matmul
 * would waste most of its tile on the vector and run a long K inside a single workgroup; here a
 * K-major matrix takes one invocation per output (coalesced), and a long row-major K is split
 * into blocks reduced by whole workgroups, then summed per row. Every binding stays under the cap.
 */
import { fail } from '../../../errors.js';
import type { Runtime } from '../runtime.js';

const FAMILY = 'matvec';
/** Row-major K above which rows are split over workgroups instead of one invocation each. */
export const SPLIT_K = 512;
/**
 * Elements one workgroup reduces in rows_split. lavapipe runs a workgroup on one core and its
 * barriers are slow: 32 768 (128 per invocation) measured 2–3× faster there than 4 096 on the
 * Lanczos product [20, 100 000]·[100 000, 1]; a real GPU wants more, smaller blocks.
 */
const BLOCK_SOFTWARE = 32_768;
const BLOCK_GPU = 4096;

/** Which layout the matrix has: element (r, k) at k·R + r ('cols') or r·K + k ('rows'). */
export type MatvecMode = 'rows' | 'cols';

const IDLE = { R: 0, K: 0, r0: 0, rc: 0, k0: 0, kc: 0, mBase: 0, vBase: 0, yBase: 0, pBase: 0, nb: 0, nbc: 0, b0: 0, bs: 0, accumulate: 0 };

/** y [R] = mat · v for a matrix of R outputs × K terms, written into `y` (not accumulated). */
export function matvec(rt: Runtime, mat: GPUBuffer, v: GPUBuffer, y: GPUBuffer, R: number, K: number, mode: MatvecMode): void {
  const maxE = rt.maxElems();
  if (mode === 'cols') {
    const rb = Math.min(R, maxE);
    const kb = Math.max(1, Math.min(K, rt.loopChunk, Math.floor((maxE - rb) / R) + 1));
    for (let r0 = 0; r0 < R; r0 += rb) {
      const rc = Math.min(rb, R - r0);
      const vy = rt.view(y, r0, r0 + rc);
      for (let k0 = 0; k0 < K; k0 += kb) {
        const kc = Math.min(kb, K - k0);
        const vm = rt.view(mat, k0 * R + r0, (k0 + kc - 1) * R + r0 + rc);
        const vv = rt.view(v, k0, k0 + kc);
        const params = { ...IDLE, R, K, r0, rc, k0, kc, mBase: vm.base, vBase: vv.base, yBase: vy.base, accumulate: k0 > 0 ? 1 : 0 };
        rt.dispatch(FAMILY, 'cols', {}, params, { m: vm.binding, v: vv.binding, y: vy.binding }, Math.ceil(rc / 256));
      }
    }
    return;
  }
  if (K <= SPLIT_K) {
    const kb = Math.min(K, rt.loopChunk, maxE);
    const rb = Math.max(1, Math.min(R, Math.floor((maxE - kb) / K) + 1));
    for (let r0 = 0; r0 < R; r0 += rb) {
      const rc = Math.min(rb, R - r0);
      const vy = rt.view(y, r0, r0 + rc);
      for (let k0 = 0; k0 < K; k0 += kb) {
        const kc = Math.min(kb, K - k0);
        const vm = rt.view(mat, r0 * K + k0, (r0 + rc - 1) * K + k0 + kc);
        const vv = rt.view(v, k0, k0 + kc);
        const params = { ...IDLE, R, K, r0, rc, k0, kc, mBase: vm.base, vBase: vv.base, yBase: vy.base, accumulate: k0 > 0 ? 1 : 0 };
        rt.dispatch(FAMILY, 'rows_short', {}, params, { m: vm.binding, v: vv.binding, y: vy.binding }, Math.ceil(rc / 256));
      }
    }
    return;
  }
  const bs = Math.min(rt.gpu.software ? BLOCK_SOFTWARE : BLOCK_GPU, maxE);
  const nb = Math.ceil(K / bs);
  if (nb > Math.min(65_535, maxE)) fail('E_ARG', `matmul: K = ${K} is too long for the webgpu matrix-vector kernel`);
  const kb = Math.min(K, Math.max(bs, Math.floor(maxE / bs) * bs));
  const part = rt.acquire(R * nb * 4);
  for (let k0 = 0; k0 < K; k0 += kb) {
    const kc = Math.min(kb, K - k0);
    const nbc = Math.ceil(kc / bs);
    const b0 = k0 / bs;
    const rb = Math.max(1, Math.min(R, Math.floor((maxE - kc) / K) + 1, Math.floor((maxE - nbc) / nb) + 1));
    for (let r0 = 0; r0 < R; r0 += rb) {
      const rc = Math.min(rb, R - r0);
      const vm = rt.view(mat, r0 * K + k0, (r0 + rc - 1) * K + k0 + kc);
      const vv = rt.view(v, k0, k0 + kc);
      const vp = rt.view(part, r0 * nb + b0, (r0 + rc - 1) * nb + b0 + nbc);
      const params = { ...IDLE, R, K, r0, rc, k0, kc, mBase: vm.base, vBase: vv.base, pBase: vp.base, nb, nbc, b0, bs };
      rt.dispatch(FAMILY, 'rows_split', {}, params, { m: vm.binding, v: vv.binding, part: vp.binding }, rc * nbc);
    }
  }
  const rf = Math.max(1, Math.floor(maxE / nb));
  for (let r0 = 0; r0 < R; r0 += rf) {
    const rc = Math.min(rf, R - r0);
    const vp = rt.view(part, r0 * nb, (r0 + rc) * nb);
    const vy = rt.view(y, r0, r0 + rc);
    rt.dispatch(FAMILY, 'rows_finish', {}, { ...IDLE, R, K, r0, rc, nb, pBase: vp.base, yBase: vy.base }, { y: vy.binding, part: vp.binding }, Math.ceil(rc / 256));
  }
  rt.release(part);
}
