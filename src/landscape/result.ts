/**
 * The landscape result (JSON `format: "riverbed.landscape"`) and its shard parts.
 *
 * A result holds the axes and `loss` / `accuracy` as row-major [ny][nx] arrays (a 1-D slice or a
 * line has ny = 1). A shard (`--shard i/n`, coreset/shard.ts's convention) evaluates the
 * contiguous points [⌊i·P/n⌋, ⌊(i+1)·P/n⌋) of the row-major order and writes a part
 * (`format: "riverbed.landscape-shard"`): the grid's id, the whole result header, its range, its
 * numbers, the backend and kernel that computed them and a digest (a checksum of its fields, not a
 * signature). `mergeParts` refuses parts of different grids or kernels, overlapping or missing
 * ranges, and edited parts, and returns exactly the result one run would have written.
 */
import { createHash } from 'node:crypto';
import { fail } from '../errors.js';
import { canon, shardPoints } from './grid.js';

export const LANDSCAPE_FORMAT = 'riverbed.landscape';
export const PART_FORMAT = 'riverbed.landscape-shard';
export const LANDSCAPE_VERSION = 1;

export interface LandscapeAxis {
  label: string;
  values: number[];
}

/** Everything of a result but its numbers (what every shard part of one grid shares). */
export interface LandscapeHeader {
  format: typeof LANDSCAPE_FORMAT;
  version: number;
  riverbed: string;
  kind: 'slice' | 'interpolation' | 'curve' | 'trajectory' | 'valley';
  /** sha256 of model, weights, data, directions and grid (landscape/run.ts pointsId). */
  id: string;
  dims: 1 | 2;
  axes: { x: LandscapeAxis; y?: LandscapeAxis };
  samples: number;
  backend: string;
  /** Everything else the command knows (inputs, directions, barrier, path, timings, …). */
  [key: string]: unknown;
}

export interface LandscapeResult extends LandscapeHeader {
  /** Row-major [ny][nx]; ny = 1 for 1-D. */
  loss: number[][];
  accuracy: number[][];
}

/** [ny][nx] rows of a flat row-major array. */
export function rows(flat: ArrayLike<number>, nx: number): number[][] {
  const out: number[][] = [];
  for (let s = 0; s < flat.length; s += nx) out.push(Array.from({ length: nx }, (_, i) => flat[s + i]!));
  return out;
}

export interface LandscapePart {
  format: typeof PART_FORMAT;
  version: number;
  id: string;
  shard: { index: number; count: number; start: number; end: number };
  points: number;
  backend: string;
  kernel: string;
  /** The result without loss/accuracy (what every part of one grid shares). */
  header: LandscapeHeader;
  loss: number[];
  accuracy: number[];
  digest: string;
}

export function partDigest(p: Omit<LandscapePart, 'digest'> & { digest?: string }): string {
  const { digest: _d, ...rest } = p;
  return createHash('sha256').update(JSON.stringify(canon(JSON.parse(JSON.stringify(rest))))).digest('hex');
}

export function makePart(header: LandscapePart['header'], shard: { index: number; count: number }, points: number, kernel: string, loss: ArrayLike<number>, accuracy: ArrayLike<number>): LandscapePart {
  const { start, end } = shardPoints(points, shard.index, shard.count);
  if (loss.length !== end - start) fail('E_INTERNAL', `part of ${loss.length} points for range [${start}, ${end})`);
  const p: Omit<LandscapePart, 'digest'> = {
    format: PART_FORMAT,
    version: LANDSCAPE_VERSION,
    id: header.id,
    shard: { ...shard, start, end },
    points,
    backend: header.backend,
    kernel,
    header,
    loss: Array.from(loss),
    accuracy: Array.from(accuracy),
  };
  return { ...p, digest: partDigest(p) };
}

/** Parses and checks a part file's JSON text. */
export function decodePart(text: string, file: string): LandscapePart {
  const bad = (field: string, what: string): never => fail('E_FORMAT', `${what}; not a riverbed landscape shard part of version ${LANDSCAPE_VERSION}`, { file, field });
  let j: LandscapePart;
  try {
    j = JSON.parse(text);
  } catch (e) {
    return bad('json', `does not parse (${(e as Error).message})`);
  }
  if (j?.format !== PART_FORMAT) bad('format', `format is ${JSON.stringify(j?.format)}, expected "${PART_FORMAT}"`);
  if (j.version !== LANDSCAPE_VERSION) bad('version', `version ${JSON.stringify(j.version)}`);
  const s = j.shard;
  if (!s || ![s.index, s.count, s.start, s.end, j.points].every((v) => Number.isSafeInteger(v) && v >= 0) || !(s.index < s.count)) bad('shard', 'shard spec is incomplete');
  if (!Array.isArray(j.loss) || !Array.isArray(j.accuracy) || j.loss.length !== s.end - s.start || j.accuracy.length !== j.loss.length) bad('loss', `expected ${s.end - s.start} losses and accuracies for points [${s.start}, ${s.end})`);
  if (![...j.loss, ...j.accuracy].every((v) => typeof v === 'number')) bad('loss', 'values must be numbers');
  if (typeof j.id !== 'string' || j.header?.id !== j.id) bad('id', 'the grid id is missing or differs from its header');
  if (typeof j.digest !== 'string' || partDigest(j) !== j.digest) bad('digest', 'the part does not match its digest (its numbers or fields were edited or damaged)');
  return j;
}

export function encodePart(p: LandscapePart): string {
  return JSON.stringify(p) + '\n';
}

/** The result one run over the whole grid would give, from every part (any order). */
export function mergeParts(parts: { part: LandscapePart; file: string }[]): { header: LandscapePart['header']; loss: Float64Array; accuracy: Float64Array; shards: number } {
  if (parts.length === 0) fail('E_ARG', 'no parts given: riverbed landscape merge part-*.json --out result.json', { field: 'parts' });
  const first = parts[0]!;
  const n = first.part.shard.count;
  const P = first.part.points;
  const seen = new Map<number, string>();
  for (const { part, file } of parts) {
    if (part.id !== first.part.id) fail('E_ARG', `belongs to another grid than ${first.file} (id ${part.id.slice(0, 12)}… vs ${first.part.id.slice(0, 12)}…: different model, weights, data, directions or grid)`, { file });
    if (part.kernel !== first.part.kernel || part.backend !== first.part.backend) {
      fail('E_ARG', `was computed by "${part.kernel}" but ${first.file} by "${first.part.kernel}": the numbers would not be those of one run; use the same --backend for every shard`, { file });
    }
    if (part.shard.count !== n || part.points !== P) fail('E_ARG', `is shard ${part.shard.index}/${part.shard.count} of ${part.points} points but ${first.file} is one of ${n} shards of ${P}`, { file });
    const want = shardPoints(P, part.shard.index, n);
    if (part.shard.start !== want.start || part.shard.end !== want.end) fail('E_ARG', `covers points [${part.shard.start}, ${part.shard.end}) but shard ${part.shard.index}/${n} of ${P} points is [${want.start}, ${want.end})`, { file });
    const other = seen.get(part.shard.index);
    if (other !== undefined) fail('E_ARG', `shard ${part.shard.index}/${n} is given twice (${other} and ${file})`, { file });
    seen.set(part.shard.index, file);
  }
  const missing = Array.from({ length: n }, (_, i) => i).filter((i) => !seen.has(i));
  if (missing.length > 0) fail('E_ARG', `${missing.length} of ${n} shards are missing (${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''}); the grid needs every part`, { field: 'parts' });
  const loss = new Float64Array(P);
  const accuracy = new Float64Array(P);
  for (const { part } of parts) {
    loss.set(part.loss, part.shard.start);
    accuracy.set(part.accuracy, part.shard.start);
  }
  return { header: first.part.header, loss, accuracy, shards: n };
}
