/**
 * Reading a result JSON field by field: every accessor takes the object and a dotted path
 * ("axes.x.values", "source.cells[3].summary.mean") and fails with one E_FORMAT line naming the
 * file and that path when the field is missing or of another kind. JSON writes NaN and ±Infinity
 * as null, so numeric fields may be null where the command could have written a non-finite number
 * (`nullable`); they come back as NaN.
 */
import { fail } from '../errors.js';

type Json = unknown;

export interface FieldReader {
  readonly file: string;
  /** Fails naming the file and `field`. */
  bad(field: string, what: string): never;
  /** The value at `path` (undefined when a part of the path is absent). */
  get(root: Json, path: string): Json;
  has(root: Json, path: string): boolean;
  obj(root: Json, path: string): Record<string, Json>;
  str(root: Json, path: string): string;
  num(root: Json, path: string, o?: { nullable?: boolean; integer?: boolean; min?: number }): number;
  arr(root: Json, path: string, length?: number): Json[];
  nums(root: Json, path: string, o?: { length?: number; nullable?: boolean }): number[];
  strs(root: Json, path: string): string[];
  /** A row-major [rows][cols] array of numbers (null → NaN). */
  matrix(root: Json, path: string, rows: number, cols: number): number[][];
}

const kindOf = (v: Json): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : typeof v === 'string' ? 'a string' : typeof v);

/** Splits 'a.b[2].c["x.npy"]' into ['a', 'b', 2, 'c', 'x.npy'] (a key holding a dot is quoted). */
function steps(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  const re = /\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]|\.?([^.[\]]+)/gy;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(path)) !== null) {
    out.push(m[1] !== undefined ? Number(m[1]) : m[2] !== undefined ? (JSON.parse(m[2]) as string) : m[3]!);
    end = re.lastIndex;
  }
  if (end !== path.length) throw new Error(`bad field path ${path}`);
  return out;
}

/** `key` as one step of a field path: plain, or quoted when it holds '.', '[' or ']'. */
export const key = (k: string): string => (/^[^.[\]"]+$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`);

export function fieldReader(file: string, expectation: string): FieldReader {
  const bad = (field: string, what: string): never => fail('E_FORMAT', `${what}; expected ${expectation}`, { file, field });
  const get = (root: Json, path: string): Json => {
    let v: Json = root;
    for (const s of steps(path)) {
      if (v === null || typeof v !== 'object') return undefined;
      v = typeof s === 'number' ? (Array.isArray(v) ? v[s] : undefined) : Array.isArray(v) ? undefined : (v as Record<string, Json>)[s];
    }
    return v;
  };
  const present = (root: Json, path: string): Json => {
    const v = get(root, path);
    if (v === undefined) bad(path, 'is missing');
    return v;
  };
  const toNum = (v: Json, path: string, nullable: boolean): number => {
    if (v === null && nullable) return NaN;
    if (typeof v !== 'number') return bad(path, `is ${kindOf(v)}, not a number`);
    return v;
  };
  const r: FieldReader = {
    file,
    bad,
    get,
    has: (root, path) => get(root, path) !== undefined,
    obj(root, path) {
      const v = present(root, path);
      if (v === null || typeof v !== 'object' || Array.isArray(v)) bad(path, `is ${kindOf(v)}, not an object`);
      return v as Record<string, Json>;
    },
    str(root, path) {
      const v = present(root, path);
      if (typeof v !== 'string') bad(path, `is ${kindOf(v)}, not a string`);
      return v as string;
    },
    num(root, path, o = {}) {
      const v = toNum(present(root, path), path, o.nullable === true);
      if (o.integer && !Number.isSafeInteger(v)) bad(path, `is ${v}, not an integer`);
      if (o.min !== undefined && !(v >= o.min)) bad(path, `is ${v}, below ${o.min}`);
      return v;
    },
    arr(root, path, length) {
      const v = present(root, path);
      if (!Array.isArray(v)) return bad(path, `is ${kindOf(v)}, not an array`);
      if (length !== undefined && v.length !== length) bad(path, `has ${v.length} entries, not ${length}`);
      return v;
    },
    nums(root, path, o = {}) {
      return r.arr(root, path, o.length).map((v, i) => toNum(v, `${path}[${i}]`, o.nullable === true));
    },
    strs(root, path) {
      return r.arr(root, path).map((v, i) => (typeof v === 'string' ? v : bad(`${path}[${i}]`, `is ${kindOf(v)}, not a string`)));
    },
    matrix(root, path, rows, cols) {
      return r.arr(root, path, rows).map((_, i) => r.nums(root, `${path}[${i}]`, { length: cols, nullable: true }));
    },
  };
  return r;
}
