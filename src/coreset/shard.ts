/**
 * Sharded CLD with an exact merge: scale-out on an existing scheduler (a Slurm job array, a
 * Kubernetes indexed Job), not a home-made cluster.
 *
 * Shard i of n scores a contiguous slice of samples (boundaries at multiples of TILE_ALIGN, so
 * its scores equal bit for bit those of one run over everything on the same backend) and keeps,
 * per class, its local top k_c candidates (r and global index). k_c comes from the GLOBAL class
 * counts, which every shard computes from the full label file. Per-class top-k is mergeable: the
 * global top k_c of a class restricted to one slice lies inside that slice's top k_c, so the
 * union of the parts' candidates, ranked again (r descending, index ascending), cut at k_c, is
 * exactly the single-machine selection. A part made without a budget keeps every score and
 * serves any budget; one made with a budget serves any budget whose k_c are no larger.
 *
 * Every part carries the identity of its inputs (sizes, a hash of the trajectory's headers and
 * sampled content, hashes of labels and validation losses, E, N, the class counts) and its shard
 * spec, so the merge refuses parts of different inputs, overlapping or missing slices, and parts
 * scored by different kernels.
 *
 * Budget options: `exclude` (sample indices never selected) is applied when the shards run (every
 * part records a digest of the list and the per-class counts of selectable samples; a merge
 * given another list fails); `mode` (proportional | equal) and `minPerClass` only change the
 * k_c, so the merge applies them, under the same "no larger than the parts kept" rule.
 */
import { createHash } from 'node:crypto';
import type { Backend } from '../backends/backend.js';
import { fail } from '../errors.js';
import type { TrajectoryIdentity } from '../io/trajectory.js';
import { type Budget, type BudgetMode, type BudgetOptions, budgetPerClassWith, excludedMask, topPerClass, validateBudget, validateBudgetOptions } from './select.js';
import { type CldFiles, type PreparedCld, type SampleRange, type StreamOptions, planCldScoring, prepareCldFiles, TILE_ALIGN } from './stream.js';

export const SHARD_FORMAT = 'riverbed.cld-shard';
export const SHARD_VERSION = 1;

export interface ShardSpec {
  index: number;
  count: number;
}

/** Parses "i/n" (0 ≤ i < n), e.g. `--shard $SLURM_ARRAY_TASK_ID/7`. */
export function parseShard(text: string): ShardSpec {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || !Number.isSafeInteger(count) || count < 1 || !(index < count)) {
    fail('E_ARG', `expected i/n with 0 ≤ i < n (e.g. 3/7), got "${text}"`, { field: '--shard' });
  }
  return { index, count };
}

/** Samples of shard i of n: contiguous, in order, boundaries at multiples of TILE_ALIGN (a shard may be empty when n is large). */
export function shardRange(samples: number, spec: ShardSpec): SampleRange {
  const blocks = Math.ceil(samples / TILE_ALIGN);
  const at = (i: number) => Math.min(samples, Math.floor((i * blocks) / spec.count) * TILE_ALIGN);
  return { start: at(spec.index), end: spec.index === spec.count - 1 ? samples : at(spec.index + 1) };
}

export interface ContentHash {
  bytes: number;
  sha256: string;
}

/** What a part was computed from; parts merge only when these agree exactly. */
export interface CldInputIdentity {
  epochs: number;
  samples: number;
  valSamples: number;
  numClasses: number;
  trainCounts: number[];
  valCounts: number[];
  trainLoss: TrajectoryIdentity;
  trainLabels: ContentHash;
  valLoss: ContentHash;
  valLabels: ContentHash;
}

function contentHash(a: ArrayBufferView): ContentHash {
  const h = createHash('sha256');
  h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return { bytes: a.byteLength, sha256: h.digest('hex') };
}

export function inputIdentity(prep: PreparedCld): CldInputIdentity {
  const { meta, checked } = prep;
  return {
    epochs: meta.epochs,
    samples: meta.samples,
    valSamples: meta.valSamples,
    numClasses: checked.numClasses,
    trainCounts: Array.from(checked.trainCounts),
    valCounts: Array.from(checked.valCounts),
    trainLoss: prep.train.identity(),
    trainLabels: contentHash(meta.trainLabels),
    valLoss: contentHash(meta.valLoss),
    valLabels: contentHash(meta.valLabels),
  };
}

/** sha256 of the identity with keys in a fixed order. */
export function identityDigest(id: CldInputIdentity): string {
  const canon = (v: unknown): unknown =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon((v as Record<string, unknown>)[k])])) : v;
  return createHash('sha256').update(JSON.stringify(canon(id))).digest('hex');
}

/** A shard's result: per-class candidates (global index + r), grouped by class ascending, within a class by rank. */
export interface CldShardPart {
  format: typeof SHARD_FORMAT;
  version: number;
  shard: ShardSpec & SampleRange;
  inputId: string;
  input: CldInputIdentity;
  backend: string;
  /** The backend's description less its thread count: parts merge only from the same kernel. */
  kernel: string;
  /** The budget the candidates serve, or null: every score of the slice is kept. */
  keep: Budget | null;
  /** Per class: the k_c the candidates serve (null: all). */
  keptPerClass: number[] | null;
  /** Budget mode and minimum the shards used (the merge's defaults). */
  budgetOptions: { mode: BudgetMode; minPerClass: number };
  /** The excluded sample indices (sorted, unique): how many and their digest; null if none. */
  exclude: { count: number; sha256: string } | null;
  /** Per class: training samples not excluded (the counts budgets are computed from). */
  selectableCounts: number[];
  absentClasses: number[];
  /** Candidates per class (length numClasses). */
  candidatesPerClass: number[];
  indices: Int32Array;
  scores: Float32Array;
  parameters?: Record<string, unknown>;
}

export function kernelOf(backend: Backend): string {
  return backend.info().description.replace(/,?\s*\d+ threads?/g, '').trim();
}

/** Candidates of one slice: per class its local top k_c (or everything), as global indices. */
export function shardCandidates(
  scores: Float32Array,
  labels: Int32Array,
  start: number,
  numClasses: number,
  kept: number[] | null,
  absentClasses: readonly number[],
  excluded?: Uint8Array,
): { indices: Int32Array; scores: Float32Array; perClass: number[] } {
  const local = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < labels.length; i++) if (!excluded?.[i]) local[labels[i]!]!++;
  const k = local.map((n, c) => Math.min(n, kept ? kept[c]! : n));
  for (const c of absentClasses) k[c] = 0;
  let key = scores;
  if (excluded) {
    key = scores.slice();
    for (let i = 0; i < key.length; i++) if (excluded[i]) key[i] = NaN; // ranks last, beyond k
  }
  const idx = topPerClass(key, labels, numClasses, k);
  const r = new Float32Array(idx.length);
  for (let j = 0; j < idx.length; j++) {
    r[j] = scores[idx[j]!]!;
    idx[j] = idx[j]! + start;
  }
  return { indices: idx, scores: r, perClass: k };
}

/**
 * Scores shard `spec` of the inputs and returns its part. With a budget, keeps per class the
 * local top k_c (k_c from the global counts); without one, keeps every score.
 */
export async function cldShard(
  files: CldFiles,
  spec: ShardSpec,
  options: Omit<StreamOptions, 'range'> & { backend: Backend; budget?: Budget; budgetOptions?: BudgetOptions; parameters?: Record<string, unknown> },
): Promise<CldShardPart> {
  if (options.budget) validateBudget(options.budget);
  const bo = options.budgetOptions ?? {};
  validateBudgetOptions(bo);
  const prep = await prepareCldFiles(files);
  try {
    const range = shardRange(prep.train.samples, spec);
    const input = inputIdentity(prep);
    const { numClasses } = prep.checked;
    validateBudgetOptions(bo, prep.train.samples);
    const ex = exclusion(prep.meta.trainLabels, numClasses, bo.exclude);
    const kept = options.budget ? budgetPerClassWith(ex.selectable, options.budget, bo, new Set(prep.absentClasses)) : null;
    let scores: Float32Array = new Float32Array(0);
    if (range.end > range.start) {
      const job = await planCldScoring(prep, { ...options, range });
      scores = (await job.run(options.backend)).scores;
    } else {
      prep.train.checkUnchanged();
    }
    const labels = prep.meta.trainLabels.subarray(range.start, range.end);
    const cand = shardCandidates(scores, labels, range.start, numClasses, kept, prep.absentClasses, ex.mask?.subarray(range.start, range.end));
    return {
      format: SHARD_FORMAT,
      version: SHARD_VERSION,
      shard: { ...spec, ...range },
      inputId: identityDigest(input),
      input,
      backend: options.backend.name,
      kernel: kernelOf(options.backend),
      keep: options.budget ?? null,
      keptPerClass: kept,
      budgetOptions: { mode: bo.mode ?? 'proportional', minPerClass: bo.minPerClass ?? 0 },
      exclude: ex.digest,
      selectableCounts: ex.selectable,
      absentClasses: prep.absentClasses,
      candidatesPerClass: cand.perClass,
      indices: cand.indices,
      scores: cand.scores,
      ...(options.parameters ? { parameters: options.parameters } : {}),
    };
  } finally {
    prep.close();
  }
}

/** The exclusion list as a mask, its digest (sorted unique indices) and the selectable counts per class. */
export function exclusion(
  labels: Int32Array,
  numClasses: number,
  exclude?: Int32Array | readonly number[],
): { mask?: Uint8Array; digest: { count: number; sha256: string } | null; selectable: number[] } {
  const mask = exclude && exclude.length > 0 ? excludedMask(labels.length, exclude) : undefined;
  const selectable = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < labels.length; i++) if (!mask?.[i]) selectable[labels[i]!]!++;
  if (!mask) return { digest: null, selectable };
  const unique = new Int32Array(labels.length - selectable.reduce((a, b) => a + b, 0));
  for (let i = 0, j = 0; i < mask.length; i++) if (mask[i]) unique[j++] = i;
  return { mask, digest: { count: unique.length, ...contentHash(unique) }, selectable };
}

const b64 = (a: Int32Array | Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');

/** The part as JSON text; candidates as base64 of little-endian int32 indices and float32 r (exact bits). */
export function encodeShardPart(part: CldShardPart): string {
  const { indices, scores, ...rest } = part;
  return `${JSON.stringify({ ...rest, candidates: { encoding: 'base64, little-endian; indices int32, scores float32', indices: b64(indices), scores: b64(scores) } }, null, 1)}\n`;
}

function bad(file: string, field: string, what: string): never {
  return fail('E_FORMAT', `${what}; not a riverbed CLD shard part of version ${SHARD_VERSION}`, { file, field });
}

function fromB64<T extends Int32Array | Float32Array>(text: unknown, Arr: { new (b: ArrayBuffer): T }, file: string, field: string): T {
  if (typeof text !== 'string') bad(file, field, 'missing');
  const buf = Buffer.from(text, 'base64');
  if (buf.byteLength % 4 !== 0) bad(file, field, 'length is not a multiple of 4 bytes');
  const copy = new ArrayBuffer(buf.byteLength);
  new Uint8Array(copy).set(buf);
  return new Arr(copy);
}

/** Parses a part's JSON text (see `encodeShardPart`), checking its structure. */
export function decodeShardPart(text: string, file: string): CldShardPart {
  let j: Record<string, any>;
  try {
    j = JSON.parse(text);
  } catch (err) {
    return bad(file, 'json', `does not parse (${(err as Error).message})`);
  }
  if (j?.format !== SHARD_FORMAT) bad(file, 'format', `format is ${JSON.stringify(j?.format)}, expected "${SHARD_FORMAT}"`);
  if (j.version !== SHARD_VERSION) bad(file, 'version', `version ${j.version}`);
  const s = j.shard;
  if (!s || ![s.index, s.count, s.start, s.end].every(Number.isSafeInteger)) bad(file, 'shard', 'shard spec is incomplete');
  const id = j.input as CldInputIdentity;
  if (!id || !Number.isSafeInteger(id.samples) || !Array.isArray(id.trainCounts) || typeof j.inputId !== 'string') bad(file, 'input', 'input identity is incomplete');
  if (!Array.isArray(j.selectableCounts) || j.selectableCounts.length !== id.numClasses || !j.budgetOptions) bad(file, 'selectableCounts', 'budget fields are incomplete');
  const indices = fromB64(j.candidates?.indices, Int32Array, file, 'candidates.indices');
  const scores = fromB64(j.candidates?.scores, Float32Array, file, 'candidates.scores');
  const per = j.candidatesPerClass;
  if (!Array.isArray(per) || per.length !== id.numClasses || indices.length !== scores.length || per.reduce((a: number, b: number) => a + b, 0) !== indices.length) {
    bad(file, 'candidates', 'candidate counts do not add up');
  }
  if (identityDigest(id) !== j.inputId) bad(file, 'inputId', 'the input identity does not match its digest (edited?)');
  const { candidates: _c, ...rest } = j;
  return { ...(rest as Omit<CldShardPart, 'indices' | 'scores'>), indices, scores };
}

/** Which identity field two parts disagree on (for the error message). */
function identityDiff(a: CldInputIdentity, b: CldInputIdentity): string {
  const fields: [string, unknown, unknown][] = [
    ['the train loss (size, headers or sampled content)', a.trainLoss, b.trainLoss],
    ['the train labels', a.trainLabels, b.trainLabels],
    ['the val loss', a.valLoss, b.valLoss],
    ['the val labels', a.valLabels, b.valLabels],
    ['epochs/samples/classes', [a.epochs, a.samples, a.valSamples, a.numClasses], [b.epochs, b.samples, b.valSamples, b.numClasses]],
  ];
  return fields.filter(([, x, y]) => JSON.stringify(x) !== JSON.stringify(y)).map(([n]) => n).join(', ') || 'the class counts';
}

export interface MergedSelection {
  indices: Int32Array;
  perClassSelected: number[];
  absentClasses: number[];
  numClasses: number;
  samples: number;
  epochs: number;
  backend: string;
  shards: number;
  budget: Budget;
  budgetOptions: BudgetOptions;
}

/**
 * Merges the parts of all n shards into the selection one run would give (see the module
 * comment). `budget` defaults to the budget the parts were made with.
 */
export function mergeCldShards(
  parts: { part: CldShardPart; file: string }[],
  budget?: Budget,
  options: { mode?: BudgetMode; minPerClass?: number; exclude?: Int32Array | readonly number[] } = {},
): MergedSelection {
  if (parts.length === 0) fail('E_ARG', 'no parts given', { field: 'parts' });
  const first = parts[0]!;
  for (const p of parts.slice(1)) {
    if (p.part.inputId !== first.part.inputId) {
      fail('E_ARG', `was computed from different inputs than ${first.file} (${identityDiff(first.part.input, p.part.input)} differ); every part must come from the same files`, {
        file: p.file,
      });
    }
    if (JSON.stringify(p.part.exclude) !== JSON.stringify(first.part.exclude)) {
      fail('E_ARG', `was made with another exclusion list than ${first.file}: run every shard with the same --exclude`, { file: p.file, field: '--exclude' });
    }
    if (p.part.backend !== first.part.backend || p.part.kernel !== first.part.kernel) {
      fail('E_ARG', `was scored by "${p.part.kernel}" but ${first.file} by "${first.part.kernel}": scores would not be identical; run every shard with the same --backend`, {
        file: p.file,
      });
    }
  }
  const N = first.part.input.samples;
  const n = first.part.shard.count;
  const byIndex = new Map<number, string>();
  for (const { part, file } of parts) {
    const s = part.shard;
    if (s.count !== n) fail('E_ARG', `is shard ${s.index}/${s.count} but ${first.file} is one of ${n} shards: every part must come from the same --shard …/n`, { file });
    const other = byIndex.get(s.index);
    if (other !== undefined) fail('E_ARG', `shard ${s.index}/${n} is given twice (${other} and ${file}): the ranges overlap`, { file });
    const want = shardRange(N, s);
    if (s.start !== want.start || s.end !== want.end) {
      fail('E_ARG', `covers samples [${s.start}, ${s.end}) but shard ${s.index}/${n} of ${N} samples is [${want.start}, ${want.end})`, { file });
    }
    byIndex.set(s.index, file);
  }
  const missing = Array.from({ length: n }, (_, i) => i).filter((i) => !byIndex.has(i));
  if (missing.length > 0) {
    const list = missing.length > 10 ? `${missing.slice(0, 10).join(', ')}, …` : missing.join(', ');
    fail('E_ARG', `${missing.length} of ${n} shards are missing (${list}); the selection needs every part`, { field: 'parts' });
  }
  const b = budget ?? first.part.keep;
  if (!b) return fail('E_ARG', 'the parts keep every score; give the budget: --per-class K or --fraction F', { field: '--per-class' });
  validateBudget(b);
  const C = first.part.input.numClasses;
  const absent = first.part.absentClasses;
  if (options.exclude !== undefined) {
    const ids = Int32Array.from(new Set(Array.from(options.exclude))).sort();
    const digest = ids.length > 0 ? { count: ids.length, ...contentHash(ids) } : null;
    if (JSON.stringify(digest) !== JSON.stringify(first.part.exclude)) {
      fail('E_ARG', `the exclusion list differs from the one the shards used (${first.part.exclude ? `${first.part.exclude.count} indices` : 'none'}): exclusion happens when the shards run; rerun them with this --exclude`, {
        field: '--exclude',
      });
    }
  }
  const bo: BudgetOptions = { mode: options.mode ?? first.part.budgetOptions.mode, minPerClass: options.minPerClass ?? first.part.budgetOptions.minPerClass };
  validateBudgetOptions(bo);
  const k = budgetPerClassWith(first.part.selectableCounts, b, bo, new Set(absent));
  for (const { part, file } of parts) {
    if (!part.keptPerClass) continue;
    const c = k.findIndex((kc, c2) => kc > part.keptPerClass![c2]!);
    if (c >= 0) {
      fail('E_ARG', `keeps the top ${part.keptPerClass[c]} of class ${c} (made for ${JSON.stringify(part.keep)}), but the budget asks for ${k[c]}: rerun the shards with a budget at least this large, or without one to keep every score`, {
        file,
        field: '--per-class',
      });
    }
  }
  // gather per class, rank (r descending, index ascending), cut at k_c
  const cand: { i: number; r: number }[][] = Array.from({ length: C }, () => []);
  for (const { part } of parts) {
    let j = 0;
    for (let c = 0; c < C; c++) {
      const m = part.candidatesPerClass[c]!;
      const list = cand[c]!;
      for (let t = 0; t < m; t++, j++) list.push({ i: part.indices[j]!, r: part.scores[j]! });
    }
  }
  const total = k.reduce((a, x) => a + x, 0);
  const indices = new Int32Array(total);
  let at = 0;
  for (let c = 0; c < C; c++) {
    const list = cand[c]!.sort((x, y) => y.r - x.r || x.i - y.i);
    if (list.length < k[c]!) fail('E_INTERNAL', `class ${c}: ${list.length} candidates for k = ${k[c]}`);
    for (let t = 0; t < k[c]!; t++) indices[at++] = list[t]!.i;
  }
  return {
    indices,
    perClassSelected: k,
    absentClasses: absent,
    numClasses: C,
    samples: N,
    epochs: first.part.input.epochs,
    backend: first.part.backend,
    shards: n,
    budget: b,
    budgetOptions: bo,
  };
}
