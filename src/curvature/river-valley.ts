/**
 * The river-valley probe (issue 11 §2; Wen et al. 2024, "Understanding Warmup-Stable-Decay
 * Learning Rates: A River Valley Loss Landscape Perspective"): at the constant peak rate the
 * iterate bounces between the steep walls of a valley, so a step's update has a large component
 * along the sharpest direction; when the rate decays the bouncing stops and the loss drops to the
 * valley floor. Measured after step t (t a multiple of `every`), on a fixed probe batch:
 *
 *   lambdaMax   λ₁, the top eigenvalue of the probe batch's Hessian at θ_t (Lanczos, as the
 *               sharpness probe), with its unit eigenvector v₁
 *   along       |⟨Δθ, v₁⟩|, Δθ = θ_t − θ_{t−1} the update of the last step (t−1 is captured too)
 *   updateNorm  ‖Δθ‖₂, and ratio = along / updateNorm (|cos| of the update's angle with v₁)
 *   lr          the rate update t−1 used, when the caller gives the schedule (η·λ₁ against the
 *               stability threshold: 2/η for plain SGD, 2(1 + β)/η with heavy-ball momentum β)
 *
 * Dot products and the difference are taken on the host in float64 from the f32 weights. The sign
 * of ⟨Δθ, v₁⟩ is not kept: v₁'s sign is arbitrary from one measurement to the next.
 */
import { fail } from '../errors.js';
import { type DeviceBatch, flattenParameters } from '../model/hvp.js';
import type { Mlp } from '../model/mlp.js';
import { lanczos } from './lanczos.js';
import { type ModelCurvatureOperator, hessianOperator } from './model-operators.js';

export interface ValleyRecord {
  step: number;
  lambdaMax: number;
  along: number;
  updateNorm: number;
  ratio: number;
  /** The rate of update step − 1 (NaN when no schedule was given). */
  lr: number;
  matvecs: number;
  /** 1 when Lanczos met its tolerance (residual ≤ tol·λ₁, which bounds v₁'s error by tol·λ₁/gap). */
  converged: number;
}

export interface RiverValleyOptions {
  /** Measure after every `every`-th step (≥ 1; the step before each is captured). */
  every: number;
  /** Lanczos: relative residual tolerance (default 1e-3), start-vector seed (default 0), product cap (default 300). */
  tol?: number;
  seed?: number;
  maxMatvecs?: number;
  /** The learning rate of 0-based update t (recorded with each measurement). */
  rate?: (t: number) => number;
}

export class RiverValleyProbe {
  readonly records: ValleyRecord[] = [];
  private op: ModelCurvatureOperator | undefined;
  /** θ after step `prevStep` (host, flat in the Hessian operator's layout). */
  private prev: Float32Array | undefined;
  private prevStep = -1;

  constructor(
    private readonly model: Mlp,
    /** The probe batch on the model's backend (the caller keeps and frees it). */
    private readonly batch: DeviceBatch,
    readonly options: RiverValleyOptions,
  ) {
    if (!Number.isSafeInteger(options.every) || options.every < 1) fail('E_ARG', `expected a positive integer, got ${options.every}`, { field: 'every' });
  }

  /** The steps in (from, to] after which `at` must be called: every multiple m of `every`, and m − 1. */
  steps(from: number, to: number): number[] {
    const e = this.options.every;
    const out: number[] = [];
    for (let m = (Math.floor(from / e) + 1) * e; m <= to; m += e) {
      if (m - 1 > from && out.at(-1) !== m - 1) out.push(m - 1);
      out.push(m);
    }
    return out;
  }

  /**
   * Before training from step `from` (0, or where a branch resumes): captures θ when the step
   * after it is measured, since no `at(from)` comes.
   */
  async begin(from: number): Promise<void> {
    if ((from + 1) % this.options.every === 0) await this.capture(from);
  }

  /** After step t: captures θ_t (t + 1 is measured) and/or measures (t a multiple of every). */
  async at(step: number): Promise<ValleyRecord | undefined> {
    const e = this.options.every;
    let rec: ValleyRecord | undefined;
    if (step % e === 0 && step > 0) rec = await this.measure(step);
    if ((step + 1) % e === 0) await this.capture(step);
    return rec;
  }

  private async flat(): Promise<Float32Array> {
    const b = this.model.backend;
    const t = flattenParameters(this.model);
    try {
      return await b.read(t);
    } finally {
      b.free(t);
    }
  }

  private async capture(step: number): Promise<void> {
    this.prev = await this.flat();
    this.prevStep = step;
  }

  private async measure(step: number): Promise<ValleyRecord> {
    if (!this.prev || this.prevStep !== step - 1) fail('E_INTERNAL', `river-valley probe at step ${step}: the weights after step ${step - 1} were not captured`);
    const now = await this.flat();
    this.op ??= hessianOperator(this.model, this.batch);
    const r = await lanczos(this.op, { k: 1, which: 'largest', strict: true, vectors: true, tol: this.options.tol ?? 1e-3, seed: this.options.seed ?? 0, maxMatvecs: this.options.maxMatvecs ?? 300 });
    const v = r.vectors![0]!;
    let along = 0;
    let sq = 0;
    for (let i = 0; i < now.length; i++) {
      const d = now[i]! - this.prev[i]!;
      along += d * v[i]!;
      sq += d * d;
    }
    const updateNorm = Math.sqrt(sq);
    const rec: ValleyRecord = {
      step,
      lambdaMax: r.eigenvalues[0]!,
      along: Math.abs(along),
      updateNorm,
      ratio: updateNorm > 0 ? Math.abs(along) / updateNorm : 0,
      lr: this.options.rate ? this.options.rate(step - 1) : NaN,
      matvecs: r.matvecs,
      converged: r.converged ? 1 : 0,
    };
    this.records.push(rec);
    this.prev = undefined;
    return rec;
  }

  dispose(): void {
    this.op?.dispose();
    this.op = undefined;
  }
}
