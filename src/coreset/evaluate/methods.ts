/**
 * Selection methods as the evaluation runs them: each turns one recorded training run (the
 * trajectory of every training and validation sample) into the rows of a coreset with exactly
 * k_c samples of class c — the same per-class budget for every method, so every method's coreset
 * has the same size and the retraining budget (optimizer steps) is the same.
 *
 * The evaluation always records the checkpoint before training ("init") too; each method says
 * which checkpoints it reads, so the checkpoint set is explicit:
 *  - `cld`        CLD (see cld.ts) over the checkpoints after epochs 1..E — what `riverbed coreset
 *                 cld` computes on a default `riverbed train --record` trajectory; top r per class.
 *  - `cld-init`   CLD over init, 1..E (one more loss difference: the first, usually the largest).
 *  - `cld-bottom` the lowest r per class (same scores as `cld`): a control — if the ranking carries
 *                 signal, top and bottom differ.
 *  - `cld-ccs`    CCS (coverage-centric stratified sampling, Zheng et al., ICLR 2023) over CLD
 *                 scores, per class: drop the β lowest-r samples of the class (hard cutoff), split
 *                 the remaining range of r into S equal-width strata, give the strata budgets by
 *                 water-filling (every stratum min(size, t) for the largest level t that fits, the
 *                 remainder one each to the strata with room, smallest stratum index first) and
 *                 sample uniformly (seeded) within each stratum.
 *  - `cld-mid`    the k_c samples around the median rank of r per class (neither the most typical
 *                 nor the least).
 *  - `cld-strat`  quantile-stratified CLD, per class: drop the τ lowest-r share (trim), cut the
 *                 rest, in rank order, into k_c strata of (nearly) equal count and draw one sample
 *                 from each, uniformly (seeded): every part of the r distribution is represented in
 *                 proportion, with less variance than a random draw.
 *  - `random`     uniformly random k_c samples per class (seeded): the baseline.
 * and the baselines of the method registry (../methods.ts) with their defaults: `forgetting`,
 * `el2n`, `aum`, `dynunc`, `ccs` (CCS over AUM). `random` is the registry's too.
 */
import type { Backend } from '../../backends/backend.js';
import { fail } from '../../errors.js';
import { Rng } from '../../model/rng.js';
import type { Checkpoint } from '../../train/recorder.js';
import { cldScores } from '../cld.js';
import { METHODS, type MethodName, methodSelect } from '../methods.js';
import { topPerClass } from '../select.js';

/** One recorded run: [checkpoints, samples] row-major matrices of the training samples. */
export interface EvalRun {
  checkpoints: Checkpoint[];
  samples: number;
  valSamples: number;
  numClasses: number;
  trainLabels: Int32Array;
  valLabels: Int32Array;
  trainLoss: Float32Array;
  valLoss: Float32Array;
  trainCorrect: Uint8Array;
  trainMargin: Float32Array;
  trainErrorNorm: Float32Array;
}

export interface SelectContext {
  run: EvalRun;
  backend: Backend;
  /** Seed of this evaluation run (random choices derive from it). */
  seed: number;
  /** The coreset fraction F and k_c (samples of class c) it gives. */
  fraction: number;
  perClass: readonly number[];
  /** Shared cache (e.g. CLD scores used by several methods). */
  cache: Map<string, unknown>;
}

export interface EvalMethod {
  name: string;
  description: string;
  /** Rows of the recorded run (columns of its trajectory): exactly Σ k_c of them, k_c of class c. */
  select(ctx: SelectContext): Promise<Int32Array>;
}

/** Parameters of the CLD variants. */
export interface VariantOptions {
  /** cld-ccs: fraction of each class removed from the low-r end before stratifying (default 0.1). */
  ccsCutoff: number;
  /** cld-ccs: number of strata (default 50, as CCS). */
  ccsStrata: number;
  /** cld-strat: fraction of each class removed from the low-r end before stratifying (default 0). */
  stratTrim: number;
}

export const DEFAULT_VARIANT_OPTIONS: VariantOptions = { ccsCutoff: 0.1, ccsStrata: 50, stratTrim: 0 };

/** Rows of a [checkpoints, n] matrix for the chosen checkpoints, as one new matrix. */
export function pickCheckpoints<T extends Float32Array | Uint8Array>(m: T, checkpoints: readonly Checkpoint[], n: number, keep: (c: Checkpoint) => boolean): T {
  const rows = checkpoints.map((c, i) => (keep(c) ? i : -1)).filter((i) => i >= 0);
  const out = new (m.constructor as new (len: number) => T)(rows.length * n);
  rows.forEach((r, j) => out.set(m.subarray(r * n, (r + 1) * n), j * n));
  return out;
}

/** CLD scores of the run over the epoch checkpoints, optionally with "init" (cached per choice). */
export async function cldOf(ctx: SelectContext, withInit: boolean): Promise<Float32Array> {
  const key = `cld:${withInit}`;
  const hit = ctx.cache.get(key) as Float32Array | undefined;
  if (hit) return hit;
  const { run } = ctx;
  const keep = (c: Checkpoint) => withInit || c !== 'init';
  const trainLoss = pickCheckpoints(run.trainLoss, run.checkpoints, run.samples, keep);
  const valLoss = pickCheckpoints(run.valLoss, run.checkpoints, run.valSamples, keep);
  const epochs = trainLoss.length / run.samples;
  const { scores } = await cldScores(ctx.backend, {
    trainLoss,
    epochs,
    samples: run.samples,
    trainLabels: run.trainLabels,
    valLoss,
    valSamples: run.valSamples,
    valLabels: run.valLabels,
  });
  ctx.cache.set(key, scores);
  return scores;
}

/** Top k_c per class by score (ties by index), as rows. */
function top(scores: Float32Array, ctx: SelectContext): Int32Array {
  return topPerClass(scores, ctx.run.trainLabels, ctx.run.numClasses, ctx.perClass);
}

function negate(s: Float32Array): Float32Array {
  return s.map((v) => -v);
}

/** Rows of each class, ordered by score descending (ties by index ascending). */
export function rankedByClass(scores: Float32Array, labels: Int32Array, numClasses: number): Int32Array[] {
  const members: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < labels.length; i++) members[labels[i]!]!.push(i);
  return members.map((m) => Int32Array.from(m.sort((a, b) => scores[b]! - scores[a]! || a - b)));
}

/**
 * Water-filling budgets: each stratum gets min(size, t) for the largest integer level t with
 * Σ min(size, t) ≤ k; the remainder goes one each to strata still larger than t, lowest index first.
 */
export function stratumBudgets(sizes: readonly number[], k: number): number[] {
  const total = sizes.reduce((a, b) => a + b, 0);
  if (!(k >= 0 && k <= total)) fail('E_ARG', `cannot take ${k} samples from strata holding ${total}`);
  let lo = 0;
  let hi = Math.max(0, ...sizes);
  const fill = (t: number) => sizes.reduce((a, s) => a + Math.min(s, t), 0);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fill(mid) <= k) lo = mid;
    else hi = mid - 1;
  }
  const out = sizes.map((s) => Math.min(s, lo));
  let rest = k - fill(lo);
  for (let i = 0; i < sizes.length && rest > 0; i++) {
    if (sizes[i]! > out[i]!) {
      out[i]!++;
      rest--;
    }
  }
  return out;
}

/**
 * CCS over a score, within one class: `ranked` rows by score descending (low score = "hard" end,
 * cut first). Returns k rows.
 */
export function ccsSample(ranked: Int32Array, scores: Float32Array, k: number, cutoff: number, strata: number, rng: Rng): number[] {
  const n = ranked.length;
  if (k === 0) return [];
  // the hard cutoff never leaves fewer than k samples
  const keepN = Math.max(k, n - Math.floor(cutoff * n));
  const kept = ranked.subarray(0, keepN);
  let lo = Infinity;
  let hi = -Infinity;
  for (const r of kept) {
    lo = Math.min(lo, scores[r]!);
    hi = Math.max(hi, scores[r]!);
  }
  const width = (hi - lo) / strata;
  const bins: number[][] = Array.from({ length: strata }, () => []);
  for (const r of kept) {
    let b = width > 0 ? Math.floor((scores[r]! - lo) / width) : 0;
    if (b >= strata) b = strata - 1;
    bins[b]!.push(r);
  }
  const budgets = stratumBudgets(
    bins.map((b) => b.length),
    k,
  );
  const out: number[] = [];
  bins.forEach((members, b) => {
    const m = Int32Array.from(members);
    rng.shuffle(m);
    for (let j = 0; j < budgets[b]!; j++) out.push(m[j]!);
  });
  return out;
}

/**
 * Quantile strata: `ranked` (by score descending) minus its last ⌊trim·n⌋ (never fewer than k
 * left) is cut into k consecutive strata of ⌊m/k⌋ or ⌈m/k⌉ members; one uniform draw from each.
 */
export function stratifiedByRank(ranked: Int32Array, k: number, trim: number, rng: Rng): number[] {
  const n = ranked.length;
  if (k === 0) return [];
  const m = Math.max(k, n - Math.floor(trim * n));
  const out: number[] = [];
  for (let j = 0; j < k; j++) {
    const lo = Math.floor((j * m) / k);
    const hi = Math.floor(((j + 1) * m) / k);
    out.push(ranked[lo + rng.int(hi - lo)]!);
  }
  return out;
}

function perClassRows(ctx: SelectContext, pick: (ranked: Int32Array, k: number, c: number) => ArrayLike<number>): Int32Array {
  const { run } = ctx;
  const scores = ctx.cache.get('ranked-scores') as Float32Array;
  const ranked = rankedByClass(scores, run.trainLabels, run.numClasses);
  const out: number[] = [];
  ranked.forEach((r, c) => {
    const k = ctx.perClass[c] ?? 0;
    const rows = pick(r, Math.min(k, r.length), c);
    for (let i = 0; i < rows.length; i++) out.push(rows[i]!);
  });
  return Int32Array.from(out);
}

/** The evaluation's run in the registry's shape (no copies). */
function registryRun(run: EvalRun) {
  return {
    checkpoints: run.checkpoints,
    train: { samples: run.samples, labels: run.trainLabels, loss: run.trainLoss, correct: run.trainCorrect, margin: run.trainMargin, errorNorm: run.trainErrorNorm },
    val: { samples: run.valSamples, labels: run.valLabels, loss: run.valLoss },
  };
}

/** A method of the registry with its default parameters (seeded by the evaluation seed). */
function registryMethod(name: Exclude<MethodName, 'cld'>): EvalMethod {
  return {
    name,
    description: METHODS[name].title,
    select: async (ctx) => (await methodSelect(name, registryRun(ctx.run), { fraction: ctx.fraction }, { seed: ctx.seed, backend: ctx.backend })).indices,
  };
}

export function evalMethods(o: VariantOptions = DEFAULT_VARIANT_OPTIONS): Record<string, EvalMethod> {
  if (!(o.ccsCutoff >= 0 && o.ccsCutoff < 1)) fail('E_ARG', `expected a cutoff in [0, 1), got ${o.ccsCutoff}`, { field: '--ccs-cutoff' });
  if (!(Number.isInteger(o.ccsStrata) && o.ccsStrata >= 1)) fail('E_ARG', `expected an integer ≥ 1, got ${o.ccsStrata}`, { field: '--ccs-strata' });
  if (!(o.stratTrim >= 0 && o.stratTrim < 1)) fail('E_ARG', `expected a trim in [0, 1), got ${o.stratTrim}`, { field: '--strat-trim' });
  return {
    random: registryMethod('random'),
    forgetting: registryMethod('forgetting'),
    el2n: registryMethod('el2n'),
    aum: registryMethod('aum'),
    dynunc: registryMethod('dynunc'),
    ccs: registryMethod('ccs'),
    cld: {
      name: 'cld',
      description: 'CLD over the checkpoints after epochs 1..E; top r per class',
      select: async (ctx) => top(await cldOf(ctx, false), ctx),
    },
    'cld-init': {
      name: 'cld-init',
      description: 'CLD over init and epochs 1..E (the loss before training included); top r per class',
      select: async (ctx) => top(await cldOf(ctx, true), ctx),
    },
    'cld-bottom': {
      name: 'cld-bottom',
      description: 'the lowest CLD r per class (control for the ranking)',
      select: async (ctx) => top(negate(await cldOf(ctx, false)), ctx),
    },
    'cld-mid': {
      name: 'cld-mid',
      description: 'the k_c samples around the median CLD rank of each class',
      select: async (ctx) => {
        ctx.cache.set('ranked-scores', await cldOf(ctx, false));
        return perClassRows(ctx, (r, k) => {
          const start = Math.max(0, Math.min(r.length - k, Math.floor((r.length - k) / 2)));
          return r.subarray(start, start + k);
        });
      },
    },
    'cld-strat': {
      name: 'cld-strat',
      description: `quantile-stratified CLD per class: drop the ${o.stratTrim} lowest-r share, one random sample from each of k_c equal-count rank strata`,
      select: async (ctx) => {
        const scores = await cldOf(ctx, false);
        ctx.cache.set('ranked-scores', scores);
        const rng = Rng.derive(ctx.seed, 'evaluate/cld-strat');
        return perClassRows(ctx, (r, k) => stratifiedByRank(r, k, o.stratTrim, rng));
      },
    },
    'cld-ccs': {
      name: 'cld-ccs',
      description: `CCS over CLD r per class: drop the ${o.ccsCutoff} lowest-r share, ${o.ccsStrata} strata, water-filled budgets`,
      select: async (ctx) => {
        const scores = await cldOf(ctx, false);
        ctx.cache.set('ranked-scores', scores);
        const rng = Rng.derive(ctx.seed, 'evaluate/cld-ccs');
        return perClassRows(ctx, (r, k) => ccsSample(r, scores, k, o.ccsCutoff, o.ccsStrata, rng));
      },
    },
  };
}
