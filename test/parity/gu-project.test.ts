/**
 * GU's projection op (guProject) on every backend against truths computed here in float64:
 *   - the formula g⊥ = (I − U(UᵀHU)⁻¹UᵀH)·g by dense normal equations (Gaussian elimination with
 *     partial pivoting — not the op's scaled Cholesky);
 *   - ⟨u_i, g⊥⟩_H = 0 to float32 precision; projecting twice equals once; g in span(U) gives 0;
 *   - H = I equals the ordinary orthogonal projection, computed by modified Gram–Schmidt;
 *   - a dependent row (a multiple of another) changes nothing: it is skipped, not divided by ~0;
 *   - the ring (first, count) picks the right rows; count = 0 is the identity;
 *   - sizes past one dispatch (P > 65 535) and, on webgpu, a basis past the storage-binding cap
 *     (the scratch-copy path) agree with the js reference.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, Tensor } from '../../src/backends/backend.js';
import { guProjectReference } from '../../src/backends/js/gu.js';
import { RiverbedError } from '../../src/errors.js';
import { backendsUnderTest, randomArray } from '../helpers/backends.js';

const backends = await backendsUnderTest();

/** Rows (first + j) mod K, j < count, of U [K, P] as float64 arrays. */
function activeRows(U: Float32Array, K: number, P: number, first: number, count: number): Float64Array[] {
  return Array.from({ length: count }, (_, j) => Float64Array.from(U.subarray(((first + j) % K) * P, ((first + j) % K) * P + P)));
}
const hdot = (a: ArrayLike<number>, b: ArrayLike<number>, h?: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]! * (h ? h[i]! : 1);
  return s;
};

/** g − U(UᵀHU)⁻¹UᵀHg with Gaussian elimination (partial pivoting) in float64. */
function denseProjection(rows: Float64Array[], g: ArrayLike<number>, h?: ArrayLike<number>): Float64Array {
  const k = rows.length;
  const A = rows.map((ri) => [...rows.map((rj) => hdot(ri, rj, h)), hdot(ri, g, h)]);
  for (let col = 0; col < k; col++) {
    let piv = col;
    for (let r = col + 1; r < k; r++) if (Math.abs(A[r]![col]!) > Math.abs(A[piv]![col]!)) piv = r;
    [A[col], A[piv]] = [A[piv]!, A[col]!];
    for (let r = col + 1; r < k; r++) {
      const f = A[r]![col]! / A[col]![col]!;
      for (let c = col; c <= k; c++) A[r]![c]! -= f * A[col]![c]!;
    }
  }
  const a = new Float64Array(k);
  for (let r = k - 1; r >= 0; r--) {
    let v = A[r]![k]!;
    for (let c = r + 1; c < k; c++) v -= A[r]![c]! * a[c]!;
    a[r] = v / A[r]![r]!;
  }
  const out = Float64Array.from(g);
  rows.forEach((ri, i) => ri.forEach((v, p) => (out[p] = out[p]! - a[i]! * v)));
  return out;
}

/** The ordinary orthogonal projection g − QQᵀg, Q from modified Gram–Schmidt (twice). */
function gramSchmidtProjection(rows: Float64Array[], g: ArrayLike<number>): Float64Array {
  const Q: Float64Array[] = [];
  for (const r of rows) {
    const q = Float64Array.from(r);
    for (let pass = 0; pass < 2; pass++) for (const e of Q) {
      const c = hdot(q, e);
      q.forEach((v, i) => (q[i] = v - c * e[i]!));
    }
    const n = Math.sqrt(hdot(q, q));
    Q.push(q.map((v) => v / n));
  }
  const out = Float64Array.from(g);
  for (const e of Q) {
    const c = hdot(out, e);
    out.forEach((v, i) => (out[i] = v - c * e[i]!));
  }
  return out;
}

const norm = (a: ArrayLike<number>, h?: ArrayLike<number>) => Math.sqrt(hdot(a, a, h));
function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d / Math.max(1e-30, Math.max(...Array.from(b, Math.abs)));
}

for (const b of backends) {
  describe.skipIf(!!b.skip)(`guProject: ${b.name}`, () => {
    let be: Backend;
    beforeAll(async () => {
      be = await b.create();
    });
    afterAll(() => be?.dispose());

    const project = async (g: Float32Array, U: Float32Array, K: number, h: Float32Array | undefined, first: number, count: number) => {
      const P = g.length;
      const gT = be.upload(g, [P]);
      const uT = be.upload(U, [K, P]);
      const hT = h ? be.upload(h, [P]) : undefined;
      const out = be.guProject(gT, uT, hT, first, count);
      const v = await be.read(out);
      for (const t of [gT, uT, hT, out]) if (t) be.free(t as Tensor);
      return v;
    };

    it('equals the dense formula, leaves ⟨u_i, g⊥⟩_H at zero, and projecting twice changes nothing', async () => {
      const K = 6;
      const P = 333;
      const U = randomArray(K * P, 1);
      const g = randomArray(P, 2);
      const h = randomArray(P, 3, 0.2, 3);
      const first = 4;
      const count = 5;
      const out = await project(g, U, K, h, first, count);
      const rows = activeRows(U, K, P, first, count);
      expect(maxRelDiff(out, denseProjection(rows, g, h))).toBeLessThan(2e-6);
      for (const r of rows) expect(Math.abs(hdot(r, out, h)) / (norm(r, h) * norm(g, h))).toBeLessThan(2e-7);
      const twice = await project(out, U, K, h, first, count);
      expect(maxRelDiff(twice, out)).toBeLessThan(2e-6);
    });

    it('H = I is the ordinary orthogonal projection; the inactive ring rows are ignored', async () => {
      const K = 5;
      const P = 257;
      const U = randomArray(K * P, 4);
      const g = randomArray(P, 5);
      const out = await project(g, U, K, undefined, 3, 4); // rows 3, 4, 0, 1
      const rows = activeRows(U, K, P, 3, 4);
      expect(maxRelDiff(out, gramSchmidtProjection(rows, g))).toBeLessThan(2e-6);
      const ones = await project(g, U, K, new Float32Array(P).fill(1), 3, 4);
      expect(maxRelDiff(ones, out)).toBeLessThan(1e-6);
      // Row 2 is not active: changing it changes nothing.
      const U2 = Float32Array.from(U);
      U2.fill(7, 2 * P, 3 * P);
      expect(Array.from(await project(g, U2, K, undefined, 3, 4))).toEqual(Array.from(out));
    });

    it('a g in span(U) projects to zero; count = 0 is the identity', async () => {
      const K = 4;
      const P = 200;
      const U = randomArray(K * P, 6);
      const h = randomArray(P, 7, 0.5, 2);
      const g = new Float32Array(P);
      for (let p = 0; p < P; p++) g[p] = 0.7 * U[p]! - 1.3 * U[P + p]! + 0.2 * U[3 * P + p]!;
      const out = await project(g, U, K, h, 0, 4);
      expect(norm(out) / norm(g)).toBeLessThan(1e-5);
      expect(Array.from(await project(g, U, K, h, 1, 0))).toEqual(Array.from(g));
    });

    it('a dependent row (a multiple of an earlier one) is skipped: same result as without it', async () => {
      const K = 4;
      const P = 150;
      const U = randomArray(K * P, 8);
      for (let p = 0; p < P; p++) U[2 * P + p] = -2.5 * U[p]!; // row 2 ∥ row 0
      const g = randomArray(P, 9);
      const h = randomArray(P, 10, 0.5, 2);
      const out = await project(g, U, K, h, 0, 4);
      const independent = [0, 1, 3].map((r) => Float64Array.from(U.subarray(r * P, r * P + P)));
      expect(maxRelDiff(out, denseProjection(independent, g, h))).toBeLessThan(2e-6);
      expect(out.every(Number.isFinite)).toBe(true);
    });

    it('P past one dispatch (70 001 elements, k = 8) matches the js reference', async () => {
      const K = 8;
      const P = 70_001;
      const U = randomArray(K * P, 11);
      const g = randomArray(P, 12);
      const h = randomArray(P, 13, 0.1, 2);
      const out = await project(g, U, K, h, 5, 8);
      const ref = guProjectReference(g, U, K, h, 5, 8);
      expect(maxRelDiff(out, ref)).toBeLessThan(1e-5);
    });

    // native's register tiles are 4×4 (AVX-512) or 3×3 (AVX2): row counts around and between the
    // tile sides, up to the 32-row cap, with and without a metric, over threads and an odd tail.
    // Rows share a common part (cosines ≈ 0.6), so every Gram entry matters to the result.
    it.each([1, 2, 3, 4, 5, 7, 9, 13, 32])('k = %i correlated rows, P = 40 009, with and without a metric, matches the js reference', async (k) => {
      const K = Math.max(k, 3);
      const P = 40_009;
      const common = randomArray(P, 19);
      const U = randomArray(K * P, 20 + k).map((v, i) => v + 1.5 * common[i % P]!);
      const g = randomArray(P, 21).map((v, i) => v + common[i]!);
      const h = randomArray(P, 22, 0.1, 2);
      for (const metric of [h, undefined]) {
        const out = await project(g, U, K, metric, K - 1, k);
        const ref = guProjectReference(g, U, K, metric, K - 1, k);
        expect(maxRelDiff(out, ref)).toBeLessThan(1e-5);
      }
    });

    it('misuse: too many rows, count outside [0, K], a metric of another size', async () => {
      const code = (fn: () => unknown) => {
        try {
          fn();
          return 'ok';
        } catch (e) {
          return e instanceof RiverbedError ? e.code : String(e);
        }
      };
      const g = be.zeros([10]);
      expect(code(() => be.guProject(g, be.zeros([33, 10]), undefined, 0, 1))).toBe('E_SHAPE');
      expect(code(() => be.guProject(g, be.zeros([3, 10]), undefined, 0, 4))).toBe('E_ARG');
      expect(code(() => be.guProject(g, be.zeros([3, 10]), undefined, 3, 1))).toBe('E_ARG');
      expect(code(() => be.guProject(g, be.zeros([3, 10]), be.zeros([9]), 0, 1))).toBe('E_SHAPE');
      expect(code(() => be.guProject(g, be.zeros([3, 11]), undefined, 0, 1))).toBe('E_SHAPE');
    });
  });
}

describe.skipIf(!!backends.find((b) => b.name === 'webgpu')?.skip)('guProject: webgpu past the storage-binding cap', () => {
  it('a basis larger than one binding (scratch copies per chunk) gives the whole-binding result', async () => {
    const { createWebGpuBackend } = await import('../../src/backends/webgpu/index.js');
    const tiny = await createWebGpuBackend({ maxBindingBytes: 4096 });
    try {
      const K = 3;
      const P = 5003;
      const U = randomArray(K * P, 14);
      const g = randomArray(P, 15);
      const h = randomArray(P, 16, 0.5, 2);
      const out = await tiny.read(tiny.guProject(tiny.upload(g, [P]), tiny.upload(U, [K, P]), tiny.upload(h, [P]), 1, 3));
      expect(maxRelDiff(out, guProjectReference(g, U, K, h, 1, 3))).toBeLessThan(1e-5);
    } finally {
      tiny.dispose();
    }
  });
});
