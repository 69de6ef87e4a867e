/**
 * Loss trajectories and labels from `.npy`.
 *
 * A trajectory is `[epochs, samples]` row-major, float32 or float64, from one 2-D `.npy` file or
 * from a directory holding one 1-D `.npy` per epoch (file names in natural order: `epoch_2`
 * before `epoch_10`; every file the same length). Labels are 1-D of any supported integer dtype,
 * or float with integral values, and become an Int32Array; negative, non-integral or absurdly
 * large labels are E_LABEL errors naming the file and the first bad entry.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../errors.js';
import { type NpyArray, NPY_DTYPES, readNpy, readNpyHeader } from './npy.js';

/** Labels must be below this (it bounds the per-class tables: [epochs − 1, classes] float64). */
export const MAX_LABEL = (1 << 20) - 1;

export interface Trajectory {
  /** [epochs, samples] row-major. Read-only when `mapped`. */
  data: Float32Array | Float64Array;
  epochs: number;
  samples: number;
  /** The file the data came from (or the directory). */
  source: string;
  /** True when `data` views a read-only memory map. */
  mapped: boolean;
}

/** Natural order of file names: digit runs compare as numbers ("e2" < "e10"). */
export function naturalCompare(a: string, b: string): number {
  const ra = a.match(/\d+|\D+/g) ?? [];
  const rb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(ra.length, rb.length); i++) {
    const x = ra[i]!;
    const y = rb[i]!;
    if (x === y) continue;
    const dx = /^\d/.test(x);
    const dy = /^\d/.test(y);
    if (dx && dy) {
      const nx = BigInt(x);
      const ny = BigInt(y);
      if (nx !== ny) return nx < ny ? -1 : 1;
      if (x.length !== y.length) return x.length - y.length; // "01" after "1"
      continue;
    }
    return x < y ? -1 : 1;
  }
  return ra.length - rb.length;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return fail('E_FILE', `cannot open (${code === 'ENOENT' ? 'no such file or directory' : (code ?? (err as Error).message)})`, { file: path });
  }
}

function requireFloat(arr: { dtype: string }, file: string, field: string): void {
  if (arr.dtype !== 'f4' && arr.dtype !== 'f8') {
    fail('E_DTYPE', `a loss must be float32 or float64, got ${NPY_DTYPES[arr.dtype as 'f4'].name}`, { file, field });
  }
}

/** Loads a loss trajectory `[epochs, samples]` from a `.npy` file or a directory of per-epoch `.npy` files. */
export async function loadTrajectory(path: string, field = 'loss'): Promise<Trajectory> {
  if (!isDirectory(path)) {
    const arr = await readNpy(path);
    requireFloat(arr, path, field);
    if (arr.shape.length !== 2) {
      fail('E_SHAPE', `a loss trajectory must be 2-D [epochs, samples], got shape [${arr.shape.join(', ')}]`, { file: path, field });
    }
    return { data: arr.data as Float32Array | Float64Array, epochs: arr.shape[0]!, samples: arr.shape[1]!, source: path, mapped: arr.mapped };
  }
  const names = readdirSync(path)
    .filter((n) => n.toLowerCase().endsWith('.npy'))
    .filter((n) => statSync(join(path, n)).isFile())
    .sort(naturalCompare);
  if (names.length === 0) fail('E_FILE', 'directory holds no .npy files (expected one 1-D .npy per epoch)', { file: path, field });
  // Check every header first, so a bad file is reported before any data is read.
  const headers = names.map((n) => {
    const file = join(path, n);
    const h = readNpyHeader(file);
    requireFloat(h, file, field);
    if (h.shape.length !== 1) fail('E_SHAPE', `a per-epoch loss file must be 1-D [samples], got shape [${h.shape.join(', ')}]`, { file, field });
    return h;
  });
  const samples = headers[0]!.shape[0]!;
  headers.forEach((h, e) => {
    if (h.shape[0] !== samples) {
      fail('E_SHAPE', `epoch ${e} has ${h.shape[0]} samples but ${names[0]} has ${samples}`, { file: join(path, names[e]!), field });
    }
  });
  const wide = headers.some((h) => h.dtype === 'f8');
  const epochs = names.length;
  const data = wide ? new Float64Array(epochs * samples) : new Float32Array(epochs * samples);
  for (let e = 0; e < epochs; e++) {
    const arr = await readNpy(join(path, names[e]!), { mmap: false });
    data.set(arr.data as Float32Array | Float64Array, e * samples);
  }
  return { data, epochs, samples, source: path, mapped: false };
}

function badLabel(file: string, field: string, i: number, what: string): never {
  return fail('E_LABEL', `${field}[${i}] is ${what}; labels must be integers in 0..${MAX_LABEL}`, { file });
}

/** Converts a 1-D array of labels to Int32Array, checking every entry. */
export function labelsToInt32(arr: NpyArray, file: string, field = 'labels'): Int32Array {
  if (arr.shape.length !== 1) fail('E_SHAPE', `labels must be 1-D [samples], got shape [${arr.shape.join(', ')}]`, { file, field });
  const n = arr.shape[0]!;
  const out = new Int32Array(n);
  const d = arr.data;
  switch (arr.dtype) {
    case 'i4': {
      const a = d as Int32Array;
      for (let i = 0; i < n; i++) {
        const v = a[i]!;
        if (v < 0 || v > MAX_LABEL) badLabel(file, field, i, String(v));
        out[i] = v;
      }
      break;
    }
    case 'i8': {
      // Read each int64 as (low, high) int32 words: no BigInt per element.
      const a = new Int32Array(d.buffer, d.byteOffset, 2 * n);
      for (let i = 0; i < n; i++) {
        const lo = a[2 * i]!;
        const hi = a[2 * i + 1]!;
        if (hi !== 0 || lo < 0 || lo > MAX_LABEL) badLabel(file, field, i, String((d as BigInt64Array)[i]));
        out[i] = lo;
      }
      break;
    }
    case 'u1':
    case 'b1':
      out.set(d as Uint8Array);
      break;
    case 'f4':
    case 'f8': {
      const a = d as Float32Array | Float64Array;
      for (let i = 0; i < n; i++) {
        const v = a[i]!;
        if (!Number.isInteger(v)) badLabel(file, field, i, `${v} (not an integer)`);
        if (v < 0 || v > MAX_LABEL) badLabel(file, field, i, String(v));
        out[i] = v;
      }
      break;
    }
  }
  return out;
}

/** Loads labels from a 1-D `.npy` file. */
export async function loadLabels(path: string, field = 'labels'): Promise<Int32Array> {
  if (isDirectory(path)) fail('E_FILE', 'is a directory, expected a 1-D .npy of labels', { file: path, field });
  return labelsToInt32(await readNpy(path), path, field);
}
