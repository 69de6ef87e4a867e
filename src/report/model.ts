/**
 * What a report is made of: sections (one per result file, or per group of checkpoint files), each
 * with figures (a Vega spec or a line chart, drawn later through src/plot) and tables of numbers,
 * plus the file's own fields for the "every number" appendix.
 */
import type { LinePlot } from '../plot/index.js';

export type Cell = string | number | null | undefined;

export interface Table {
  caption: string;
  head: string[];
  rows: Cell[][];
  /** Numbers right-aligned (default); false for key/value tables of text. */
  numeric?: boolean;
}

/** A picture: either a ready Vega spec (surfaces, curves) or a line chart. */
export type Figure = { title: string; spec: object } | { title: string; line: LinePlot };

export interface Section {
  title: string;
  /** The file(s) the section shows, relative to the run directory. */
  file: string;
  format: string;
  /** One or two sentences saying what the run is. */
  summary?: string;
  figures: Figure[];
  tables: Table[];
  /** Lines worth saying that are no table (e.g. a file that was too large to read). */
  notes?: string[];
  /** Other files of the run whose content the section shows (path as spelled, and how). */
  uses?: { path: string; how: string }[];
  /** The parsed file(s), shown whole (collapsed) at the end of the section. */
  raw?: { file: string; json: unknown }[];
}

/** A number as a table shows it: 6 significant digits, no trailing zeros; non-finite as written. */
export function fmt(x: Cell): string {
  if (x === null || x === undefined) return '—';
  if (typeof x === 'string') return x;
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? '∞' : '−∞';
  if (Number.isInteger(x)) return String(x);
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-4 || a >= 1e9)) return x.toExponential(5).replace(/\.?0+e/, 'e');
  return String(Number(x.toPrecision(6)));
}

/** A fraction in [0, 1] as a percentage with two decimals. */
export function pct(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '—' : `${(100 * x).toFixed(2)} %`;
}

/** mean ± std with the given decimals (std left out when it is 0 from one seed). */
export function pm(mean: number, std: number, digits: number, n = 2): string {
  if (!Number.isFinite(mean)) return '—';
  return n > 1 && Number.isFinite(std) ? `${mean.toFixed(digits)} ± ${std.toFixed(digits)}` : mean.toFixed(digits);
}

/**
 * A key/value table of an object's scalar fields, nested objects flattened to dotted keys and
 * arrays of scalars joined; `skip` names top-level keys shown elsewhere.
 */
export function keyValues(caption: string, obj: Record<string, unknown>, skip: readonly string[] = []): Table {
  const rows: Cell[][] = [];
  const walk = (v: unknown, key: string) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const entries = Object.entries(v as Record<string, unknown>);
      if (entries.length === 0) rows.push([key, '{}']);
      for (const [k, x] of entries) walk(x, key ? `${key}.${k}` : k);
    } else if (Array.isArray(v)) {
      if (v.every((x) => x === null || typeof x !== 'object')) rows.push([key, v.map((x) => (typeof x === 'number' ? fmt(x) : String(x))).join(', ') || '[]']);
      else v.forEach((x, i) => walk(x, `${key}[${i}]`));
    } else rows.push([key, typeof v === 'number' ? fmt(v) : v === null ? 'null' : String(v)]);
  };
  for (const [k, v] of Object.entries(obj)) if (!skip.includes(k)) walk(v, k);
  return { caption, head: ['field', 'value'], rows, numeric: false };
}
