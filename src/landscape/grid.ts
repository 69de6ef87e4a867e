/**
 * Grids of a landscape: axes (evenly spaced, endpoints included), the row-major order of points
 * (index = iy·nx + ix, as the result's [ny][nx] arrays), shards (contiguous point ranges), and the
 * content address of a grid: a sha256 over everything that decides its numbers.
 */
import { createHash } from 'node:crypto';
import { fail } from '../errors.js';
import type { Weights } from './directions.js';

export interface Axis {
  min: number;
  max: number;
  points: number;
}

export interface GridSpec {
  x: Axis;
  /** Absent for a 1-D grid. */
  y?: Axis;
}

/** Refused up front: more points than this need --max-points (the results alone are 16 bytes a point). */
export const DEFAULT_MAX_POINTS = 1_000_000;

/** The coordinates of an axis: `points` values from min to max, both included (one point: min). */
export function axisValues(a: Axis): number[] {
  if (a.points === 1) return [a.min];
  return Array.from({ length: a.points }, (_, i) => (i === a.points - 1 ? a.max : a.min + ((a.max - a.min) * i) / (a.points - 1)));
}

export function gridSize(g: GridSpec): { nx: number; ny: number; points: number } {
  const nx = g.x.points;
  const ny = g.y ? g.y.points : 1;
  return { nx, ny, points: nx * ny };
}

/** Coefficients [P, K] (K = 1 or 2) of points [start, end) in row-major order. */
export function gridCoefs(g: GridSpec, start: number, end: number): Float64Array {
  const xs = axisValues(g.x);
  const ys = g.y ? axisValues(g.y) : [0];
  const K = g.y ? 2 : 1;
  const out = new Float64Array((end - start) * K);
  for (let p = start; p < end; p++) {
    const ix = p % xs.length;
    const iy = Math.floor(p / xs.length);
    out[(p - start) * K] = xs[ix]!;
    if (K === 2) out[(p - start) * K + 1] = ys[iy]!;
  }
  return out;
}

/** "51x51" (2-D), "51" (1-D; 2-D takes it as 51×51). */
export function parseGrid(text: string, dims: 1 | 2): [number, number] {
  const m = /^\s*(\d+)\s*(?:[x×]\s*(\d+)\s*)?$/.exec(text);
  const nx = m ? Number(m[1]) : NaN;
  const ny = m ? (m[2] !== undefined ? Number(m[2]) : dims === 2 ? nx : 1) : NaN;
  if (!m || !Number.isSafeInteger(nx) || !Number.isSafeInteger(ny) || nx < 1 || ny < 1) {
    fail('E_ARG', `expected points per axis as N or NXxNY with N ≥ 1 (e.g. 51x51), got "${text}"`, { field: '--grid' });
  }
  if (dims === 1 && m[2] !== undefined && ny !== 1) fail('E_ARG', `a 1-D slice has one axis: give --grid N, got "${text}"`, { field: '--grid' });
  return [nx, ny];
}

/** "-1:1" (both axes) or "-1:1,-0.5:0.5". */
export function parseRange(text: string, dims: 1 | 2, flag = '--range'): [[number, number], [number, number]] {
  const parts = text.split(',');
  if (parts.length > dims) fail('E_ARG', `expected ${dims === 1 ? 'MIN:MAX' : 'MIN:MAX or XMIN:XMAX,YMIN:YMAX'}, got "${text}"`, { field: flag });
  const one = (t: string): [number, number] => {
    const m = /^\s*([^:]+):([^:]+)\s*$/.exec(t);
    const lo = m ? Number(m[1]) : NaN;
    const hi = m ? Number(m[2]) : NaN;
    if (!m || !Number.isFinite(lo) || !Number.isFinite(hi)) fail('E_ARG', `expected MIN:MAX with finite numbers, got "${t}"`, { field: flag });
    if (!(lo < hi)) fail('E_ARG', `the range ${t.trim()} is empty: MIN must be below MAX`, { field: flag });
    return [lo, hi];
  };
  const x = one(parts[0]!);
  return [x, parts[1] !== undefined ? one(parts[1]) : x];
}

/** Refuses grids past `maxPoints` up front, with the work and memory they would take. */
export function requireGridFits(points: number, maxPoints: number, work: { samples: number; multiplyAdds: number }): void {
  if (points <= maxPoints) return;
  const total = points * work.samples * work.multiplyAdds;
  fail(
    'E_ARG',
    `the grid has ${points.toLocaleString('en')} points, more than --max-points ${maxPoints.toLocaleString('en')}: ` +
      `${points.toLocaleString('en')} forward passes over ${work.samples} samples ≈ ${total.toExponential(2)} multiply-adds and ` +
      `${((points * 16) / 2 ** 20).toFixed(1)} MiB of results; use a coarser grid, or raise --max-points`,
    { field: '--grid' },
  );
}

/** Contiguous points [start, end) of shard i of n. */
export function shardPoints(points: number, index: number, count: number): { start: number; end: number } {
  return { start: Math.floor((index * points) / count), end: Math.floor(((index + 1) * points) / count) };
}

/** The value with object keys in a fixed order (for digests of JSON-shaped data). */
export function canon(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canon);
  return v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon((v as Record<string, unknown>)[k])])) : v;
}

/** An incremental sha256 of named byte arrays and JSON values. */
export class Digest {
  private readonly h = createHash('sha256');
  json(label: string, v: unknown): this {
    this.h.update(`${label}\n${JSON.stringify(canon(v))}\n`);
    return this;
  }
  bytes(label: string, a: ArrayBufferView): this {
    this.h.update(`${label} ${a.byteLength}\n`).update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    return this;
  }
  weights(label: string, w: Weights): this {
    for (const [name, v] of w) this.bytes(`${label}:${name}`, v);
    return this;
  }
  hex(): string {
    return this.h.digest('hex');
  }
}
