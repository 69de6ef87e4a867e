/**
 * Probes that watch a training run (issue 11 §5, the first three): at chosen optimizer steps,
 * on a FIXED probe batch (the same samples every time, so values along the run compare):
 *
 *   loss       mean cross-entropy and accuracy on the probe batch
 *   gradnorm   ‖∇L‖₂ of the probe batch's mean loss (all parameters)
 *   sharpness  λ_max, the top eigenvalue of the probe batch's Hessian, by Lanczos (relative
 *              residual tolerance 1e-3); the operator is built once and its cached forward state
 *              is rebuilt only when the weights moved (Mlp.version)
 *
 * `train()` calls `measure(step)` through its `probeEvery`/`onProbe` hook (the fused path ends a
 * call where a probe is due), so a probe sees exactly the weights after that step. The records
 * are plain numbers: checkpoints keep them, so a resumed run's probe series continues.
 */
import type { Tensor } from '../backends/backend.js';
import { fail } from '../errors.js';
import type { DeviceBatch } from '../model/hvp.js';
import type { Mlp } from '../model/mlp.js';
import { accuracy, evaluateSamples } from '../train/evaluate.js';
import { lanczos } from './lanczos.js';
import { type ModelCurvatureOperator, hessianOperator } from './model-operators.js';

export const PROBES = ['loss', 'gradnorm', 'sharpness'] as const;
export type ProbeName = (typeof PROBES)[number];

export interface ProbeSpec {
  name: ProbeName;
  /** Measured after every `every`-th optimizer step (and at step 0 when the caller asks). */
  every: number;
}

/** `NAME` or `NAME:every=N` (default every 50 steps). */
export function parseProbe(s: string, field = '--probe'): ProbeSpec {
  const m = /^([a-z]+)(?::every=(\d+))?$/.exec(s.trim());
  if (!m || !(PROBES as readonly string[]).includes(m[1]!)) fail('E_ARG', `expected NAME or NAME:every=N with NAME one of ${PROBES.join(', ')}; got "${s}"`, { field });
  const every = m[2] === undefined ? 50 : Number(m[2]);
  if (!(every >= 1 && Number.isSafeInteger(every))) fail('E_ARG', `every must be a positive integer, got ${m[2]}`, { field });
  return { name: m[1] as ProbeName, every };
}

export interface ProbeRecord {
  probe: ProbeName;
  step: number;
  /** loss: { loss, accuracy }; gradnorm: { gradNorm }; sharpness: { lambdaMax, matvecs, converged (1/0) }. */
  values: Record<string, number>;
}

export class TrainProbes {
  readonly records: ProbeRecord[] = [];
  private op: ModelCurvatureOperator | undefined;
  private readonly yHost: Int32Array;

  constructor(
    private readonly model: Mlp,
    /** The probe batch on the model's backend (the caller keeps and frees it). */
    private readonly batch: DeviceBatch,
    yHost: Int32Array,
    readonly specs: readonly ProbeSpec[],
    private readonly options: { seed?: number; tol?: number } = {},
  ) {
    if (specs.length === 0) fail('E_ARG', 'no probes given');
    const names = specs.map((s) => s.name);
    if (new Set(names).size !== names.length) fail('E_ARG', `a probe is given twice: ${names.join(', ')}`, { field: '--probe' });
    if (yHost.length !== batch.x.shape[0]) fail('E_SHAPE', `${yHost.length} probe labels for ${batch.x.shape[0]} probe samples`);
    this.yHost = yHost;
  }

  /** The intervals, for train()'s probeEvery. */
  get intervals(): number[] {
    return this.specs.map((s) => s.every);
  }

  /** Runs every probe due at `step` (all of them at step 0) and records the values. */
  async measure(step: number): Promise<ProbeRecord[]> {
    const out: ProbeRecord[] = [];
    for (const s of this.specs) {
      if (step !== 0 && step % s.every !== 0) continue;
      out.push({ probe: s.name, step, values: await this.one(s.name) });
    }
    this.records.push(...out);
    return out;
  }

  private async one(name: ProbeName): Promise<Record<string, number>> {
    const b = this.model.backend;
    if (name === 'loss') {
      const m = await evaluateSamples(this.model, this.batch.x, this.yHost);
      let sum = 0;
      for (const v of m.loss) sum += v;
      return { loss: sum / m.loss.length, accuracy: accuracy(m) };
    }
    if (name === 'gradnorm') {
      const { loss, grads } = this.model.lossAndGradients(this.batch.x, this.batch.labels);
      b.free(loss);
      let sq = 0;
      const dots: Tensor[] = grads.map((g) => b.dot(g, g));
      for (const g of grads) b.free(g);
      for (const d of dots) {
        sq += (await b.read(d))[0]!;
        b.free(d);
      }
      return { gradNorm: Math.sqrt(sq) };
    }
    this.op ??= hessianOperator(this.model, this.batch);
    const r = await lanczos(this.op, { k: 1, which: 'largest', tol: this.options.tol ?? 1e-3, seed: this.options.seed ?? 0 });
    return { lambdaMax: r.eigenvalues[0]!, matvecs: r.matvecs, converged: r.converged ? 1 : 0 };
  }

  /** Continues from records a checkpoint kept. */
  restore(records: readonly ProbeRecord[]): void {
    this.records.length = 0;
    this.records.push(...records.map((r) => ({ probe: r.probe, step: r.step, values: { ...r.values } })));
  }

  /** The series of one probe's value over the steps. */
  series(probe: ProbeName, key: string): { step: number[]; value: number[] } {
    const rs = this.records.filter((r) => r.probe === probe);
    return { step: rs.map((r) => r.step), value: rs.map((r) => r.values[key]!) };
  }

  dispose(): void {
    this.op?.dispose();
    this.op = undefined;
  }
}
