/**
 * The Lanczos basis on the device: rows of a [capacity, n] tensor Q, written with copyInto. Each
 * step multiplies the newest row, reorthogonalises against every row with two matmuls, twice
 * (classical Gram–Schmidt twice, "DGKS"), and reads back only the projection coefficients
 * c = Q·(A q_j) (whose entries are the column j of the projected matrix T = Q A Qᵀ: α_j on the
 * diagonal, β_{j−1} just above it) and the norm β_j of what is left. T is kept in float64 on the host.
 */
import type { Backend, Tensor } from '../backends/backend.js';
import { type LinearOperator, applyOperator } from './operator.js';
import { gaussian } from './probes.js';
import type { Rng } from '../model/rng.js';

export class KrylovBasis {
  readonly backend: Backend;
  readonly n: number;
  /** Basis rows [capacity, n]; rows ≥ count are zero. */
  q: Tensor;
  /** Number of basis rows in use. */
  count = 0;
  /** Projected matrix T (capacity × capacity, row-major, float64). */
  t: Float64Array;
  /** The next (unit) vector after the last step, and the norm β of the residual it came from. */
  next: Tensor | undefined;
  beta = 0;
  /** Products used. */
  matvecs = 0;
  /** Steps where the Krylov space was exhausted (β ≈ 0). */
  breakdowns = 0;

  constructor(
    readonly op: LinearOperator,
    readonly capacity: number,
  ) {
    this.backend = op.backend;
    this.n = op.size;
    this.q = this.backend.zeros([capacity, this.n]);
    this.t = new Float64Array(capacity * capacity);
  }

  /** Starts from v (host), normalised. */
  start(v: Float32Array): void {
    const b = this.backend;
    let s = 0;
    for (const x of v) s += x * x;
    const norm = Math.sqrt(s);
    const row = b.upload(v.map((x) => x / norm), [1, this.n]);
    this.setNext(row, norm);
  }

  /** Largest |T| entry so far (a scale for breakdown tests). */
  scale(): number {
    let m = 0;
    for (let i = 0; i < this.count; i++) m = Math.max(m, Math.abs(this.t[i * this.capacity + i]!));
    for (let i = 1; i < this.count; i++) m = Math.max(m, Math.abs(this.t[i * this.capacity + i - 1]!));
    return m;
  }

  /**
   * Appends `next` as row `count` and multiplies it: fills column `count` of T and leaves the
   * orthogonalised residual as the new `next` (β its norm). Returns false when the basis is full.
   */
  async step(): Promise<void> {
    const b = this.backend;
    const j = this.count;
    const qj = this.next!;
    b.copyInto(this.q, j * this.n, qj);
    this.count++;
    const w = await applyOperator(this.op, qj);
    this.matvecs++;
    b.free(qj);
    this.next = undefined;
    const c = b.matmul(w, this.q, false, true); // [1, capacity]
    const ch = await b.read(c);
    const cap = this.capacity;
    for (let i = 0; i <= j; i++) {
      this.t[i * cap + j] = ch[i]!;
      this.t[j * cap + i] = ch[i]!;
    }
    const w2 = this.subtractProjection(w, c);
    b.free(c);
    b.free(w);
    const w3 = this.orthogonalise(w2);
    b.free(w2);
    const nn = b.dot(w3, w3);
    const beta = Math.sqrt(Math.max(0, (await b.read(nn))[0]!));
    b.free(nn);
    this.beta = beta;
    this.next = beta > 0 ? b.scale(1 / beta, w3) : b.zeros([1, this.n]);
    b.free(w3);
  }

  /**
   * Replaces a collapsed residual (β ≈ 0: an invariant subspace was found) by a fresh random
   * direction orthogonal to the basis, so eigen-solvers keep exploring. The coupling to it is 0.
   */
  async freshDirection(rng: Rng): Promise<void> {
    const b = this.backend;
    if (this.next) b.free(this.next);
    this.breakdowns++;
    const v = b.upload(gaussian(this.n, rng), [1, this.n]);
    const w = this.orthogonalise(v);
    b.free(v);
    const w2 = this.orthogonalise(w);
    b.free(w);
    const nn = b.dot(w2, w2);
    const norm = Math.sqrt((await b.read(nn))[0]!);
    b.free(nn);
    this.next = b.scale(1 / norm, w2);
    b.free(w2);
    this.beta = 0;
  }

  /** w − Qᵀ(Q w) as a new tensor. */
  orthogonalise(w: Tensor): Tensor {
    const c = this.backend.matmul(w, this.q, false, true);
    const out = this.subtractProjection(w, c);
    this.backend.free(c);
    return out;
  }

  private subtractProjection(w: Tensor, c: Tensor): Tensor {
    const p = this.backend.matmul(c, this.q); // [1, n]
    const out = this.backend.axpy(-1, p, w);
    this.backend.free(p);
    return out;
  }

  private setNext(row: Tensor, beta: number): void {
    if (this.next) this.backend.free(this.next);
    this.next = row;
    this.beta = beta;
  }

  /** The leading count × count block of T as a dense row-major array. */
  projected(): Float64Array {
    const m = this.count;
    const out = new Float64Array(m * m);
    for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) out[i * m + j] = this.t[i * this.capacity + j]!;
    return out;
  }

  /** Σ_i coef[r][i] q_i for each row r of coef ([rows, count] row-major): [rows, n] on the device. */
  combine(coef: Float64Array, rows: number): Tensor {
    const padded = new Float32Array(rows * this.capacity);
    for (let r = 0; r < rows; r++) for (let i = 0; i < this.count; i++) padded[r * this.capacity + i] = coef[r * this.count + i]!;
    const c = this.backend.upload(padded, [rows, this.capacity]);
    const out = this.backend.matmul(c, this.q);
    this.backend.free(c);
    return out;
  }

  /**
   * Thick restart (Wu & Simon): keeps `keep` Ritz vectors (columns `cols` of the eigenvector
   * matrix s of T, with Ritz values theta) as the first rows and the current `next` after them;
   * T becomes diag(θ) plus the coupling β·s_last filled in by the next step's projections.
   */
  restart(cols: number[], theta: Float64Array, s: Float64Array): void {
    const b = this.backend;
    const m = this.count;
    const keep = cols.length;
    const coef = new Float64Array(keep * m);
    cols.forEach((col, r) => {
      for (let i = 0; i < m; i++) coef[r * m + i] = s[i * m + col]!;
    });
    const y = this.combine(coef, keep);
    const q = b.zeros([this.capacity, this.n]);
    b.copyInto(q, 0, y);
    b.free(y);
    b.free(this.q);
    this.q = q;
    this.t.fill(0);
    const cap = this.capacity;
    cols.forEach((col, r) => {
      this.t[r * cap + r] = theta[col]!;
    });
    this.count = keep;
  }

  dispose(): void {
    this.backend.free(this.q);
    if (this.next) this.backend.free(this.next);
    this.next = undefined;
  }
}
