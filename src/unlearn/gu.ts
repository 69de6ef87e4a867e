/**
 * GU — geometric-disentanglement unlearning (Zhou et al., 2025), the official README's rule:
 *
 *   g⊥ = (I − U(UᵀHU)⁻¹UᵀH)·g_f,   so ⟨u_i, g⊥⟩_H = 0 for every retain direction u_i,
 *
 * and the step ascends the forget loss along g⊥ while descending the retain loss with weight α:
 * the direction handed to the step is d = −γ·g⊥ + α·g_r (γ = 1).
 *
 * U holds the last k retain-batch gradients of the run (a ring on the device, `RetainBasis`); a new
 * one enters only if its residual after Gram–Schmidt in the H-metric against the rows that stay is
 * at least `accept` (1e-3) of its H-norm, else the ring is left as it is. Scope `layer` keeps one
 * ring and one projection per parameter tensor; `global` one over all parameters (flattened).
 *
 * Geometry: `sgd` — H = I and θ ← θ − η·d. `adam` — the metric of Adam's step, D = √v + ε with v the
 * running second moment of d (β2 = 0.999, seeded on the first step with d², so no bias correction):
 * the vectors Adam moves along are D⁻¹·∇, and the formula with H = D applied to those
 * vectors equals the same formula with H = D⁻¹ applied to raw gradients followed by D⁻¹. That is
 * what runs: guProject(g, U_raw, metric = 1/D), then θ ← θ − η·d/D (guAdamStep, Adam with β1 = 0
 * whose denominator is taken before the step, so the step is exactly retain-orthogonal to first
 * order for the metric the projection used). docs/unlearning.md derives it.
 */
import type { Backend, Tensor } from '../backends/backend.js';
import { fail } from '../errors.js';
import type { Mlp } from '../model/mlp.js';

export type GuScope = 'layer' | 'global';
export type GuGeometry = 'sgd' | 'adam';
export const GU_SCOPES: readonly GuScope[] = ['layer', 'global'];
export const GU_GEOMETRIES: readonly GuGeometry[] = ['sgd', 'adam'];

export interface GuConfig {
  /** Ring size: the last k accepted retain gradients (≤ 32). */
  k: number;
  scope: GuScope;
  geometry: GuGeometry;
  /** A retain gradient enters only if ‖residual‖_H ≥ accept·‖u‖_H. */
  accept: number;
  /** α: weight of the retain-descent term. */
  retainWeight: number;
  /** γ: weight of the projected forget ascent. */
  forgetWeight: number;
  /** adam geometry: decay of the second moment and ε of D = √v + ε. */
  beta2: number;
  eps: number;
}

export const GU_DEFAULTS: GuConfig = { k: 8, scope: 'layer', geometry: 'sgd', accept: 1e-3, retainWeight: 1, forgetWeight: 1, beta2: 0.999, eps: 1e-8 };

export function checkGuConfig(c: GuConfig): void {
  if (!Number.isInteger(c.k) || c.k < 1 || c.k > 32) fail('E_ARG', `expected an integer in 1..32, got ${c.k}`, { field: '--k' });
  if (!GU_SCOPES.includes(c.scope)) fail('E_ARG', `expected layer or global, got "${c.scope}"`, { field: '--scope' });
  if (!GU_GEOMETRIES.includes(c.geometry)) fail('E_ARG', `expected sgd or adam, got "${c.geometry}"`, { field: '--geometry' });
  if (!(c.accept >= 0 && c.accept < 1)) fail('E_ARG', `expected a number in [0, 1), got ${c.accept}`, { field: '--accept' });
  if (!(Number.isFinite(c.retainWeight) && c.retainWeight >= 0)) fail('E_ARG', `expected a number ≥ 0, got ${c.retainWeight}`, { field: '--retain-weight' });
  if (!(Number.isFinite(c.forgetWeight) && c.forgetWeight >= 0)) fail('E_ARG', `expected a number ≥ 0, got ${c.forgetWeight}`, { field: '--forget-weight' });
  if (!(c.beta2 >= 0 && c.beta2 < 1)) fail('E_ARG', `expected a number in [0, 1), got ${c.beta2}`, { field: '--beta2' });
  if (!(c.eps > 0)) fail('E_ARG', `expected a positive number, got ${c.eps}`, { field: '--eps' });
}

/**
 * The last k accepted retain directions of one projection unit, as rows of a [k, P] device tensor
 * used as a ring: the active rows are (first + j) mod k for j < count, oldest first.
 */
export class RetainBasis {
  readonly basis: Tensor;
  first = 0;
  count = 0;
  accepted = 0;
  rejected = 0;

  constructor(
    readonly backend: Backend,
    readonly size: number,
    readonly k: number,
  ) {
    this.basis = backend.zeros([k, size]);
  }

  /** g⊥ of g against the active rows in the metric (H = I without one). */
  project(g: Tensor, metric?: Tensor): Tensor {
    return this.backend.guProject(g, this.basis, metric, this.first, this.count);
  }

  /**
   * Enqueues the acceptance test of u: its residual against the rows that stay when u enters (all
   * but the oldest once the ring is full). Returns the squared H-norms to read.
   */
  test(u: Tensor, metric?: Tensor): { rr: Tensor; uu: Tensor } {
    const b = this.backend;
    const full = this.count === this.k;
    const r = b.guProject(u, this.basis, metric, full ? (this.first + 1) % this.k : this.first, full ? this.k - 1 : this.count);
    const rr = hnorm2(b, r, metric);
    const uu = hnorm2(b, u, metric);
    b.free(r);
    return { rr, uu };
  }

  /** Inserts u (replacing the oldest row when full) if the test passed; returns whether it did. */
  commit(u: Tensor, rr: number, uu: number, accept: number): boolean {
    if (!(uu > 0) || !(Math.sqrt(Math.max(0, rr)) >= accept * Math.sqrt(uu))) {
      this.rejected++;
      return false;
    }
    const slot = this.count === this.k ? this.first : (this.first + this.count) % this.k;
    this.backend.copyInto(this.basis, slot * this.size, u);
    if (this.count === this.k) this.first = (this.first + 1) % this.k;
    else this.count++;
    this.accepted++;
    return true;
  }

  dispose(): void {
    this.backend.free(this.basis);
  }
}

/** ‖v‖²_H as a [1] tensor. */
function hnorm2(b: Backend, v: Tensor, metric?: Tensor): Tensor {
  if (!metric) return b.dot(v, v);
  const hv = b.mul(v, metric);
  const out = b.dot(hv, v);
  b.free(hv);
  return out;
}

export interface GuStats {
  steps: number;
  /** Retain gradients accepted into / rejected from the rings (summed over units). */
  accepted: number;
  rejected: number;
  /** Mean over steps of ‖g⊥‖_H / ‖g_f‖_H (summed over units): how much of the forget gradient survives. */
  keptFraction: number;
}

/** GU's update rule on a model's parameters; one `step` per (retain batch, forget batch). */
export class GuStepper {
  readonly cfg: GuConfig;
  private readonly b: Backend;
  private readonly params: Tensor[];
  private readonly bases: RetainBasis[];
  /** sgd: a scratch velocity per parameter (sgdStep with momentum 0 overwrites it). */
  private readonly scratch: Tensor[] = [];
  /** adam: per parameter, the second moment v and the metric 1/(√v + ε). */
  private readonly v: Tensor[] = [];
  private readonly metric: Tensor[] = [];
  private seeded = false;
  private keptSum = 0;
  steps = 0;

  constructor(
    private readonly model: Mlp,
    cfg: Partial<GuConfig> = {},
  ) {
    this.cfg = { ...GU_DEFAULTS, ...Object.fromEntries(Object.entries(cfg).filter(([, v]) => v !== undefined)) } as GuConfig;
    checkGuConfig(this.cfg);
    this.b = model.backend;
    this.params = model.params.map((p) => p.tensor);
    const sizes = this.params.map((t) => t.size);
    const total = sizes.reduce((a, s) => a + s, 0);
    this.bases = this.cfg.scope === 'layer' ? sizes.map((s) => new RetainBasis(this.b, s, this.cfg.k)) : [new RetainBasis(this.b, total, this.cfg.k)];
    for (const t of this.params) {
      if (this.cfg.geometry === 'sgd') this.scratch.push(this.b.zeros(t.shape));
      else {
        this.v.push(this.b.zeros(t.shape));
        this.metric.push(this.b.zeros(t.shape));
      }
    }
  }

  /** One step with the mean-loss gradients of a retain batch and a forget batch (parameter order). */
  async step(gRetain: readonly Tensor[], gForget: readonly Tensor[], lr: number): Promise<void> {
    const b = this.b;
    const { retainWeight: alpha, forgetWeight: gamma } = this.cfg;
    if (gRetain.length !== this.params.length || gForget.length !== this.params.length) fail('E_INTERNAL', 'GuStepper.step: one gradient per parameter expected');
    const adam = this.cfg.geometry === 'adam';
    if (adam && !this.seeded) {
      // v₀ = d², the metric of the first step 1/(|d| + ε): an Adam state already warm, no bias correction.
      this.params.forEach((p, i) => {
        const d = this.direction(gForget[i]!, gRetain[i]!, gamma, alpha);
        b.guAdamStep(p, d, this.v[i]!, this.metric[i]!, { lr: 0, beta2: 0, eps: this.cfg.eps });
        b.free(d);
      });
      this.seeded = true;
    }
    // The units' vectors: per tensor, or flattened.
    const global = this.cfg.scope === 'global';
    const units = global
      ? [{ u: this.flatten(gRetain), g: this.flatten(gForget), m: adam ? this.flatten(this.metric) : undefined, own: true }]
      : this.params.map((_, i) => ({ u: gRetain[i]!, g: gForget[i]!, m: adam ? this.metric[i] : undefined, own: false }));
    // 1. acceptance tests, all enqueued before the one read-back
    const tests = units.map((x, j) => this.bases[j]!.test(x.u, x.m));
    const values = await Promise.all(tests.map(async (t) => [(await b.read(t.rr))[0]!, (await b.read(t.uu))[0]!] as const));
    tests.forEach((t) => {
      b.free(t.rr);
      b.free(t.uu);
    });
    units.forEach((x, j) => this.bases[j]!.commit(x.u, values[j]![0], values[j]![1], this.cfg.accept));
    // 2. projection and the direction d = −γ·g⊥ + α·g_r
    const norms: Tensor[] = [];
    const dirs = units.map((x, j) => {
      const gp = this.bases[j]!.project(x.g, x.m);
      norms.push(hnorm2(b, gp, x.m), hnorm2(b, x.g, x.m));
      const d = this.direction(gp, x.u, gamma, alpha);
      b.free(gp);
      return d;
    });
    // 3. the step, per parameter tensor
    const perParam = global ? this.unflatten(dirs[0]!) : dirs;
    this.params.forEach((p, i) => {
      const d = perParam[i]!;
      if (adam) b.guAdamStep(p, d, this.v[i]!, this.metric[i]!, { lr, beta2: this.cfg.beta2, eps: this.cfg.eps });
      else b.sgdStep(p, d, this.scratch[i]!, { lr, weightDecay: 0, momentum: 0, nesterov: false });
    });
    this.model.markParametersChanged();
    if (global) {
      for (const d of perParam) b.free(d);
      b.free(units[0]!.u);
      b.free(units[0]!.g);
      if (units[0]!.m) b.free(units[0]!.m);
    }
    for (const d of dirs) b.free(d);
    const nv = await Promise.all(norms.map(async (t) => (await b.read(t))[0]!));
    for (const t of norms) b.free(t);
    let kept = 0;
    let all = 0;
    for (let j = 0; j < nv.length; j += 2) {
      kept += nv[j]!;
      all += nv[j + 1]!;
    }
    this.keptSum += all > 0 ? Math.sqrt(kept / all) : 0;
    this.steps++;
  }

  /** −γ·g + α·u as a new tensor. */
  private direction(g: Tensor, u: Tensor, gamma: number, alpha: number): Tensor {
    const s = this.b.scale(-gamma, g);
    const d = this.b.axpy(alpha, u, s);
    this.b.free(s);
    return d;
  }

  private flatten(ts: readonly Tensor[]): Tensor {
    const total = ts.reduce((a, t) => a + t.size, 0);
    const flat = this.b.zeros([total]);
    let off = 0;
    for (const t of ts) {
      this.b.copyInto(flat, off, t);
      off += t.size;
    }
    return flat;
  }

  private unflatten(flat: Tensor): Tensor[] {
    let off = 0;
    return this.params.map((p) => {
      const t = this.b.slice(flat, off, p.shape);
      off += p.size;
      return t;
    });
  }

  get stats(): GuStats {
    return {
      steps: this.steps,
      accepted: this.bases.reduce((a, r) => a + r.accepted, 0),
      rejected: this.bases.reduce((a, r) => a + r.rejected, 0),
      keptFraction: this.steps ? this.keptSum / this.steps : NaN,
    };
  }

  dispose(): void {
    for (const r of this.bases) r.dispose();
    for (const t of [...this.scratch, ...this.v, ...this.metric]) this.b.free(t);
  }
}
