/**
 * Probes that watch a training run (issue 11 §5): at chosen optimizer steps, on a FIXED probe
 * batch (the same samples every time, so values along the run compare):
 *
 *   loss       mean cross-entropy and accuracy on the probe batch
 *   gradnorm   ‖∇L‖₂ of the probe batch's mean loss (all parameters)
 *   sharpness  λ_max, the top eigenvalue of the probe batch's Hessian, by Lanczos (relative
 *              residual tolerance 1e-3); the operator is built once and its cached forward state
 *              is rebuilt only when the weights moved (Mlp.version)
 *   ghosts     the ghosts-of-softmax radius ρ of the update of step t (curvature/ghosts.ts) and
 *              ‖Δθ‖ against it; the weights after step t − 1 are captured too (`probeAt`)
 *   rankme     RankMe of a layer's representations of the probe batch (curvature/spectral.ts)
 *   alphareq   α-ReQ of the same (the power-law decay of the representation covariance)
 *   cond       σ_max/σ_min of every weight matrix (a conv weight as [out, in·kh·kw]), float64
 *
 * `train()` calls `measure(step)` through its `probeEvery`/`onProbe` hook (the fused path ends a
 * call where a probe is due), so a probe sees exactly the weights after that step. The records
 * are plain numbers: checkpoints keep them, so a resumed run's probe series continues.
 */
import type { Tensor } from '../backends/backend.js';
import { fail } from '../errors.js';
import { hasParameters } from '../model/description.js';
import type { DeviceBatch } from '../model/hvp.js';
import type { Mlp } from '../model/mlp.js';
import { accuracy, evaluateSamples } from '../train/evaluate.js';
import { updateRadius, weightsOnHost } from './ghosts.js';
import { lanczos } from './lanczos.js';
import { type ModelCurvatureOperator, hessianOperator } from './model-operators.js';
import { alphaReq, conditionNumber, rankMeOf } from './spectral.js';

export const PROBES = ['loss', 'gradnorm', 'sharpness', 'ghosts', 'rankme', 'alphareq', 'cond'] as const;
export type ProbeName = (typeof PROBES)[number];
/** Probes of a layer's representations: they take `layer=L`. */
const LAYER_PROBES: readonly ProbeName[] = ['rankme', 'alphareq'];

export interface ProbeSpec {
  name: ProbeName;
  /** Measured after every `every`-th optimizer step (and at step 0 when the caller asks). */
  every: number;
  /**
   * rankme, alphareq: the representations are the output of this module (0-based index into the
   * description's layers, as in the safetensors keys); default the input of the last layer with
   * parameters (the penultimate representation), or the logits of a one-layer model.
   */
  layer?: number;
}

/** `NAME`, `NAME:every=N`, and for rankme/alphareq also `:layer=L` (default every 50 steps). */
export function parseProbe(s: string, field = '--probe'): ProbeSpec {
  const m = /^([a-z]+)((?::[a-z]+=[^:]*)*)$/.exec(s.trim());
  if (!m || !(PROBES as readonly string[]).includes(m[1]!)) fail('E_ARG', `expected NAME or NAME:every=N with NAME one of ${PROBES.join(', ')}; got "${s}"`, { field });
  const name = m[1] as ProbeName;
  const spec: ProbeSpec = { name, every: 50 };
  const seen = new Set<string>();
  for (const kv of m[2]!.split(':').slice(1)) {
    const [k, v] = kv.split('=') as [string, string];
    const allowed = LAYER_PROBES.includes(name) ? ['every', 'layer'] : ['every'];
    if (!allowed.includes(k)) fail('E_ARG', `${name} takes ${allowed.map((a) => `${a}=N`).join(' and ')}, not "${k}"; got "${s}" (expected NAME or NAME:every=N)`, { field });
    if (seen.has(k)) fail('E_ARG', `${k} is given twice in "${s}"`, { field });
    seen.add(k);
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) fail('E_ARG', `${k} must be ${k === 'every' ? 'a positive' : 'a non-negative'} integer, got "${v}"`, { field });
    const n = Number(v);
    if (k === 'every') {
      if (n < 1) fail('E_ARG', `every must be a positive integer, got ${v}`, { field });
      spec.every = n;
    } else spec.layer = n;
  }
  return spec;
}

/** The module whose output a rankme/alphareq probe reads (see ProbeSpec.layer). */
export function representationLayer(model: Pick<Mlp, 'description'>, spec: ProbeSpec, field = '--probe'): number {
  const layers = model.description.layers;
  if (spec.layer !== undefined) {
    if (spec.layer >= layers.length) fail('E_ARG', `${spec.name}: layer=${spec.layer} is not a module of the model; expected 0..${layers.length - 1} (the output of that module)`, { field });
    return spec.layer;
  }
  const lastParam = layers.map((l, i) => (hasParameters(l) ? i : -1)).reduce((a, i) => Math.max(a, i), -1);
  return lastParam >= 1 ? lastParam - 1 : layers.length - 1;
}

export interface ProbeRecord {
  probe: ProbeName;
  step: number;
  /**
   * loss: { loss, accuracy }; gradnorm: { gradNorm }; sharpness: { lambdaMax, matvecs, converged (1/0) };
   * ghosts: { rho, updateNorm, ratio, exceeded (1/0), spread, sample } (no rho when the update does not
   * move the logits' spread); rankme: { rankme, dims, layer }; alphareq: { alpha, r2, points, layer } (no
   * alpha with fewer than 2 non-zero eigenvalues); cond: { `cond:NAME`, `sigmaMax:NAME`, `sigmaMin:NAME }
   * per weight NAME (`0.weight`, …; no cond:NAME when σ_min is below the float64 Gram's resolution).
   */
  values: Record<string, number>;
}

export class TrainProbes {
  readonly records: ProbeRecord[] = [];
  private op: ModelCurvatureOperator | undefined;
  private readonly yHost: Int32Array;
  /** ghosts: the weights after step `step`, captured for the update of step `step + 1`. */
  private before: { step: number; weights: Map<string, Float32Array> } | undefined;
  /** rankme/alphareq: the last representation read (by weights version and layer), shared by both. */
  private rep: { version: number; layer: number; z: Float32Array; rows: number; cols: number } | undefined;

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
    for (const s of specs) if (LAYER_PROBES.includes(s.name)) representationLayer(model, s);
  }

  /** The intervals, for train()'s probeEvery. */
  get intervals(): number[] {
    return this.specs.map((s) => s.every);
  }

  /** The ghosts probes' intervals: each measurement at a multiple m also needs the weights after step m − 1. */
  get beforeIntervals(): number[] {
    return this.specs.filter((s) => s.name === 'ghosts').map((s) => s.every);
  }

  /**
   * The steps in (from, to] after which `measure` must run besides the multiples of `intervals`
   * (train()'s probeAt): m − 1 for each measured step m of a ghosts probe, unless a multiple of an
   * interval already brings it (ghosts:every=1 needs no list at all).
   */
  probeAt(from: number, to: number): number[] {
    const out = new Set<number>();
    const covered = (t: number) => this.intervals.some((e) => t % e === 0);
    for (const e of this.beforeIntervals) for (let m = (Math.floor(from / e) + 1) * e; m <= to; m += e) if (m - 1 > from && !covered(m - 1)) out.add(m - 1);
    return [...out].sort((a, b) => a - b);
  }

  /** Before training from step `from` when no `measure(from)` comes (a resume): captures what the next step's ghosts need. */
  async begin(from: number): Promise<void> {
    if (this.beforeIntervals.some((e) => (from + 1) % e === 0)) this.before = { step: from, weights: await weightsOnHost(this.model) };
  }

  /**
   * Runs every probe due at `step` (all of them at step 0; ghosts from the first update on) and
   * records the values; captures the weights when a ghosts measurement follows at step + 1.
   */
  async measure(step: number): Promise<ProbeRecord[]> {
    const out: ProbeRecord[] = [];
    for (const s of this.specs) {
      if (step !== 0 && step % s.every !== 0) continue;
      if (s.name === 'ghosts' && step === 0) continue; // no update yet
      out.push({ probe: s.name, step, values: await this.one(s, step) });
    }
    this.records.push(...out);
    await this.begin(step);
    return out;
  }

  private async one(spec: ProbeSpec, step: number): Promise<Record<string, number>> {
    const name = spec.name;
    const b = this.model.backend;
    if (name === 'ghosts') {
      if (this.before?.step !== step - 1) {
        fail('E_ARG', `the ghosts probe at step ${step} needs the weights after step ${step - 1}: call measure() there too (train()'s probeAt: TrainProbes.probeAt)`, { field: 'probeAt' });
      }
      const r = await updateRadius(this.model, this.before.weights, this.batch.x);
      return { ...(r.rho !== undefined ? { rho: r.rho } : {}), updateNorm: r.updateNorm, ratio: r.ratio, exceeded: r.exceeded ? 1 : 0, spread: r.spread, sample: r.sample };
    }
    if (name === 'rankme' || name === 'alphareq') {
      const layer = representationLayer(this.model, spec);
      const z = await this.representation(layer);
      if (name === 'rankme') return { rankme: rankMeOf(z.z, z.rows, z.cols), dims: Math.min(z.rows, z.cols), layer };
      const fit = alphaReq(z.z, z.rows, z.cols);
      return { ...(fit ? { alpha: fit.alpha, r2: fit.r2 } : {}), points: fit?.points ?? 0, layer };
    }
    if (name === 'cond') {
      const out: Record<string, number> = {};
      for (const p of this.model.params) {
        if (p.kind !== 'weight') continue;
        const c = conditionNumber(await b.read(p.tensor), p.shape[0]!, p.tensor.size / p.shape[0]!, p.name);
        if (c.cond !== undefined) out[`cond:${p.name}`] = c.cond;
        out[`sigmaMax:${p.name}`] = c.sigmaMax;
        out[`sigmaMin:${p.name}`] = c.sigmaMin;
      }
      return out;
    }
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

  /** The output of module `layer` on the probe batch, on the host as [rows, cols] (kept while the weights stay). */
  private async representation(layer: number): Promise<{ z: Float32Array; rows: number; cols: number }> {
    const v = this.model.version;
    if (this.rep && this.rep.version === v && this.rep.layer === layer) return this.rep;
    const cache = this.model.forwardWithCache(this.batch.x);
    try {
      const t = layer + 1 < cache.inputs.length ? cache.inputs[layer + 1]! : cache.logits;
      const rows = t.shape[0]!;
      this.rep = { version: v, layer, z: await this.model.backend.read(t), rows, cols: t.size / rows };
      return this.rep;
    } finally {
      this.model.freeCache(cache);
    }
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
