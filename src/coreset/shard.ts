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
/** 2: parts carry `digest` (metadata and candidate bytes) and every candidate is validated on merge. */
export const SHARD_VERSION = 2;

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

/** The value with object keys in a fixed order (for digests of JSON-shaped data). */
function canon(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canon);
  return v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon((v as Record<string, unknown>)[k])])) : v;
}

/** sha256 of the identity with keys in a fixed order. */
export function identityDigest(id: CldInputIdentity): string {
  return createHash('sha256').update(JSON.stringify(canon(id))).digest('hex');
}

/**
 * sha256 over everything a part says: its fields (keys in a fixed order, through JSON as the
 * file holds them) and the raw bytes of its candidate indices and scores. It catches a part edited
 * by hand or damaged in transit; it is a checksum, not a signature (there is no key).
 */
export function partDigest(part: Omit<CldShardPart, 'digest'> & { digest?: string }): string {
  const { indices, scores, digest: _d, ...rest } = part;
  const h = createHash('sha256').update(JSON.stringify(canon(JSON.parse(JSON.stringify(rest)))));
  h.update(`\nindices ${indices.length}\n`).update(new Uint8Array(indices.buffer, indices.byteOffset, indices.byteLength));
  h.update(`\nscores ${scores.length}\n`).update(new Uint8Array(scores.buffer, scores.byteOffset, scores.byteLength));
  return h.digest('hex');
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
  /** `partDigest` of the part when it was made; checked when a part file is read. */
  digest: string;
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
    const part: Omit<CldShardPart, 'digest'> = {
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
    return { ...part, digest: partDigest(part) };
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
  if (j.version !== SHARD_VERSION) {
    bad(file, 'version', `version ${JSON.stringify(j.version)}${typeof j.version === 'number' && j.version < SHARD_VERSION ? ' (made by an older riverbed: rerun the shards)' : ''}`);
  }
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
  const part = { ...(rest as Omit<CldShardPart, 'indices' | 'scores'>), indices, scores };
  if (typeof part.digest !== 'string' || partDigest(part) !== part.digest) bad(file, 'digest', 'the part does not match its digest (its candidates or fields were edited or damaged)');
  validateShardPart(part, file);
  return part;
}

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
/** Pearson r lies in [−1, 1]; float32 rounding may step just past it, an edited score further. */
const R_BOUND = 1 + 2 ** -10;

/**
 * Checks that a part's candidates can be what `cldShard` wrote, against the part's own slice and
 * class counts: every index inside [start, end) and given once, every score a finite r, per class
 * no more candidates than the class has selectable samples (or than the kept k_c), none for an
 * absent class, and within a class in rank order (r descending, index ascending). `decodeShardPart`
 * and `mergeCldShards` run it, so a part built in memory is held to the same rules.
 */
export function validateShardPart(part: CldShardPart, file: string): void {
  const wrong = (field: string, what: string): never => fail('E_FORMAT', what, { file, field });
  const { shard: s, input } = part;
  const C = input.numClasses;
  if (!Number.isSafeInteger(C) || C < 1) wrong('input.numClasses', `numClasses is ${JSON.stringify(C)}, expected an integer ≥ 1`);
  if (!isCount(input.samples)) wrong('input.samples', `samples is ${JSON.stringify(input.samples)}, expected an integer ≥ 0`);
  if (!(isCount(s.index) && isCount(s.count) && s.index < s.count)) wrong('shard', `shard ${s.index}/${s.count} is not i/n with 0 ≤ i < n`);
  if (!(isCount(s.start) && isCount(s.end) && s.start <= s.end && s.end <= input.samples)) {
    wrong('shard', `range [${s.start}, ${s.end}) is not inside the ${input.samples} samples`);
  }
  const counts = (field: string, v: unknown, len: number): number[] => {
    if (!Array.isArray(v) || v.length !== len || !v.every(isCount)) wrong(field, `expected ${len} counts (integers ≥ 0)`);
    return v as number[];
  };
  const trainCounts = counts('input.trainCounts', input.trainCounts, C);
  const selectable = counts('selectableCounts', part.selectableCounts, C);
  const per = counts('candidatesPerClass', part.candidatesPerClass, C);
  const kept = part.keptPerClass === null ? null : counts('keptPerClass', part.keptPerClass, C);
  if (!Array.isArray(part.absentClasses) || !part.absentClasses.every((c) => isCount(c) && c < C) || new Set(part.absentClasses).size !== part.absentClasses.length) {
    wrong('absentClasses', `expected distinct class ids in 0..${C - 1}`);
  }
  const absent = new Set(part.absentClasses);
  for (let c = 0; c < C; c++) {
    if (selectable[c]! > trainCounts[c]!) wrong('selectableCounts', `class ${c} has ${selectable[c]} selectable samples but only ${trainCounts[c]} samples`);
    const cap = Math.min(selectable[c]!, kept ? kept[c]! : Infinity, absent.has(c) ? 0 : Infinity);
    if (per[c]! > cap) wrong('candidatesPerClass', `class ${c} has ${per[c]} candidates, more than the ${cap} it can have (selectable ${selectable[c]}${kept ? `, kept ${kept[c]}` : ''}${absent.has(c) ? ', absent class' : ''})`);
  }
  const { indices, scores } = part;
  if (indices.length !== scores.length || per.reduce((a, b) => a + b, 0) !== indices.length) wrong('candidates', 'candidate counts do not add up');
  if (indices.length > s.end - s.start) wrong('candidates', `${indices.length} candidates for a slice of ${s.end - s.start} samples`);
  const seen = new Set<number>();
  const bits = new Uint32Array(scores.buffer, scores.byteOffset, scores.length);
  let j = 0;
  for (let c = 0; c < C; c++) {
    for (let t = 0; t < per[c]!; t++, j++) {
      const i = indices[j]!;
      const r = scores[j]!;
      if (i < s.start || i >= s.end) wrong('candidates.indices', `candidate ${j} (class ${c}) is sample ${i}, outside this part's samples [${s.start}, ${s.end})`);
      if (seen.has(i)) wrong('candidates.indices', `candidate ${j} (class ${c}) repeats sample ${i}`);
      seen.add(i);
      if (!(Math.abs(r) <= R_BOUND)) wrong('candidates.scores', `candidate ${j} (sample ${i}, class ${c}) has score ${r}, expected a finite correlation in [−1, 1]`);
      if (t > 0) {
        const q = scores[j - 1]!;
        const tie = bits[j] === bits[j - 1];
        if (q < r || (tie && indices[j - 1]! > i)) wrong('candidates', `class ${c}: candidate ${j} (sample ${i}, r ${r}) is out of rank order after sample ${indices[j - 1]} (r ${q})`);
      }
    }
  }
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
  for (const { part, file } of parts) validateShardPart(part, file);
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
    for (const field of ['selectableCounts', 'absentClasses'] as const) {
      if (JSON.stringify(p.part[field]) !== JSON.stringify(first.part[field])) {
        fail('E_FORMAT', `${field} differs from ${first.file}'s although both come from the same inputs and exclusion list: a part was edited`, { file: p.file, field });
      }
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
  // together the parts hold, per class, every selectable sample (parts without a budget) or at
  // least the smallest k_c they kept: fewer means a part lost candidates; more, that one was added
  for (let c = 0; c < first.part.input.numClasses; c++) {
    let have = 0;
    let keptMin = Infinity;
    for (const { part } of parts) {
      have += part.candidatesPerClass[c]!;
      if (part.keptPerClass) keptMin = Math.min(keptMin, part.keptPerClass[c]!);
    }
    const selectable = first.part.selectableCounts[c]!;
    const need = first.part.absentClasses.includes(c) ? 0 : Math.min(selectable, keptMin);
    if (have > selectable || have < need) {
      fail('E_FORMAT', `the parts hold ${have} candidates of class ${c}, but the class has ${selectable} selectable samples${keptMin < Infinity ? ` and the parts kept its top ${keptMin}` : ''}: expected ${need === selectable ? need : `${need}..${selectable}`}; a part was edited or damaged`, {
        field: 'candidatesPerClass',
      });
    }
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
    if (list.length < k[c]!) fail('E_INTERNAL', `class ${c}: ${list.length} candidates for k = ${k[c]}`); // excluded by the checks above
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
