/**
 * Loss trajectories and labels from `.npy`.
 *
 * A trajectory is `[epochs, samples]` row-major, float32 or float64, from one 2-D `.npy` file or
 * from a directory holding one 1-D `.npy` per epoch (file names in natural order: `epoch_2`
 * before `epoch_10`; every file the same length). Labels are 1-D of any supported integer dtype,
 * or float with integral values, and become an Int32Array; negative, non-integral or absurdly
 * large labels are E_LABEL errors naming the file and the first bad entry.
 */
import { createHash } from 'node:crypto';
import { type BigIntStats, closeSync, fstatSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fail } from '../errors.js';
import { type NpyArray, type NpyHeader, NPY_DTYPES, openNpy, readFully, readNpy, readNpyHeader } from './npy.js';

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

/** The per-epoch `.npy` files of a trajectory directory, in natural order (at least one). */
function epochFiles(path: string, field: string): string[] {
  const names = readdirSync(path)
    .filter((n) => n.toLowerCase().endsWith('.npy'))
    .filter((n) => statSync(join(path, n)).isFile())
    .sort(naturalCompare);
  if (names.length === 0) fail('E_FILE', 'directory holds no .npy files (expected one 1-D .npy per epoch)', { file: path, field });
  return names.map((n) => join(path, n));
}

/** Every per-epoch header is a float 1-D array of one common length; returns that length. */
function checkEpochHeaders(files: string[], headers: NpyHeader[], field: string): number {
  headers.forEach((h, e) => {
    requireFloat(h, files[e]!, field);
    if (h.shape.length !== 1) fail('E_SHAPE', `a per-epoch loss file must be 1-D [samples], got shape [${h.shape.join(', ')}]`, { file: files[e]!, field });
  });
  const samples = headers[0]!.shape[0]!;
  headers.forEach((h, e) => {
    if (h.shape[0] !== samples) {
      fail('E_SHAPE', `epoch ${e} has ${h.shape[0]} samples but ${basename(files[0]!)} has ${samples}`, { file: files[e]!, field });
    }
  });
  return samples;
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
  const files = epochFiles(path, field);
  // Check every header first, so a bad file is reported before any data is read.
  const headers = files.map((f) => readNpyHeader(f));
  const samples = checkEpochHeaders(files, headers, field);
  const wide = headers.some((h) => h.dtype === 'f8');
  const epochs = files.length;
  const data = wide ? new Float64Array(epochs * samples) : new Float32Array(epochs * samples);
  for (let e = 0; e < epochs; e++) {
    const arr = await readNpy(files[e]!, { mmap: false });
    data.set(arr.data as Float32Array | Float64Array, e * samples);
  }
  return { data, epochs, samples, source: path, mapped: false };
}

function badLabel(file: string, field: string, i: number, what: string, max = MAX_LABEL): never {
  return max === MAX_LABEL
    ? fail('E_LABEL', `${field}[${i}] is ${what}; labels must be integers in 0..${MAX_LABEL}`, { file })
    : fail('E_VALUE', `${field}[${i}] is ${what}; indices must be integers in 0..${max}`, { file });
}

/** Converts a 1-D array of labels (or, with `max`, of other non-negative integers) to Int32Array, checking every entry. */
export function labelsToInt32(arr: NpyArray, file: string, field = 'labels', max = MAX_LABEL): Int32Array {
  if (arr.shape.length !== 1) fail('E_SHAPE', `labels must be 1-D [samples], got shape [${arr.shape.join(', ')}]`, { file, field });
  const n = arr.shape[0]!;
  const out = new Int32Array(n);
  const d = arr.data;
  switch (arr.dtype) {
    case 'i4': {
      const a = d as Int32Array;
      for (let i = 0; i < n; i++) {
        const v = a[i]!;
        if (v < 0 || v > max) badLabel(file, field, i, String(v), max);
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
        if (hi !== 0 || lo < 0 || lo > max) badLabel(file, field, i, String((d as BigInt64Array)[i]), max);
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
        if (!Number.isInteger(v)) badLabel(file, field, i, `${v} (not an integer)`, max);
        if (v < 0 || v > max) badLabel(file, field, i, String(v), max);
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

/** The largest sample index riverbed holds (Int32Array); labels have the much smaller MAX_LABEL. */
export const MAX_INDEX = 2 ** 31 - 1;

/**
 * Loads sample indices (e.g. a run's `train_indices.npy`: the dataset row of every column) from a
 * 1-D `.npy` of integers: any value in 0..MAX_INDEX, not only label-sized ones.
 */
export async function loadIndices(path: string, field = 'indices'): Promise<Int32Array> {
  if (isDirectory(path)) fail('E_FILE', 'is a directory, expected a 1-D .npy of indices', { file: path, field });
  return labelsToInt32(await readNpy(path), path, field, MAX_INDEX);
}

// ---- column tiles: trajectories larger than memory ----------------------------------------------

/** What identifies a file's state while it is read: any change means it was rewritten. */
interface Stamp {
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
  dev: bigint;
}
const stampOf = (st: BigIntStats): Stamp => ({ size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino, dev: st.dev });
const sameStamp = (a: Stamp, b: Stamp) => a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.ino === b.ino && a.dev === b.dev;

interface ColumnFile {
  path: string;
  fd: number;
  header: NpyHeader;
  headerBytes: Uint8Array;
  fileSize: number;
  stamp: Stamp;
}

/** A content fingerprint of a trajectory: cheap (headers + sizes + sampled blocks), not a full hash. */
export interface TrajectoryIdentity {
  epochs: number;
  samples: number;
  dtype: 'f4' | 'f8';
  files: number;
  bytes: number;
  /** sha256 over every file's header bytes, size and 16 blocks of 4 KiB spread over its data. */
  sampledSha256: string;
}

/**
 * A loss trajectory `[epochs, samples]` opened for column-tile reads: samples s0..s1 of every
 * epoch, one positioned read (pread) per epoch into a caller-owned buffer, so memory is set by
 * the tile, never by the file. Files are checked for changes (size, mtime, ctime, inode) by
 * `checkUnchanged()`; `close()` releases the descriptors.
 */
export class TrajectoryColumns {
  readonly epochs: number;
  readonly samples: number;
  /** Element type of tiles: float64 when any file is float64. */
  readonly dtype: 'f4' | 'f8';
  /** Bytes of trajectory data over all files. */
  readonly bytes: number;
  readonly #files: ColumnFile[];
  #scratch?: Float32Array;

  private constructor(readonly source: string, readonly field: string, files: ColumnFile[], epochs: number, samples: number) {
    this.#files = files;
    this.epochs = epochs;
    this.samples = samples;
    this.dtype = files.some((f) => f.header.dtype === 'f8') ? 'f8' : 'f4';
    this.bytes = files.reduce((a, f) => a + f.header.dataBytes, 0);
  }

  /** Opens a 2-D `.npy` or a directory of per-epoch 1-D `.npy` files; headers fully checked, no data read. */
  static open(path: string, field = 'loss'): TrajectoryColumns {
    const paths = isDirectory(path) ? epochFiles(path, field) : [path];
    const files: ColumnFile[] = [];
    try {
      for (const p of paths) {
        const o = openNpy(p);
        files.push({ path: p, fd: o.fd, header: o.header, headerBytes: o.headerBytes, fileSize: o.fileSize, stamp: stampOf(fstatSync(o.fd, { bigint: true })) });
      }
      if (paths.length === 1 && paths[0] === path) {
        const h = files[0]!.header;
        requireFloat(h, path, field);
        if (h.shape.length !== 2) fail('E_SHAPE', `a loss trajectory must be 2-D [epochs, samples], got shape [${h.shape.join(', ')}]`, { file: path, field });
        return new TrajectoryColumns(path, field, files, h.shape[0]!, h.shape[1]!);
      }
      const samples = checkEpochHeaders(paths, files.map((f) => f.header), field);
      return new TrajectoryColumns(path, field, files, files.length, samples);
    } catch (err) {
      for (const f of files) closeSync(f.fd);
      throw err;
    }
  }

  /** Bytes per element of a tile buffer. */
  get itemSize(): number {
    return this.dtype === 'f8' ? 8 : 4;
  }

  /** Reads samples [start, end) of every epoch into `into` as `[epochs, end − start]` row-major. */
  read(start: number, end: number, into: Float32Array | Float64Array): void {
    const w = end - start;
    if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && end <= this.samples && w >= 0)) {
      fail('E_INTERNAL', `column tile [${start}, ${end}) outside [0, ${this.samples})`);
    }
    if (into.length < this.epochs * w || (into instanceof Float64Array) !== (this.dtype === 'f8')) {
      fail('E_INTERNAL', 'column tile buffer has the wrong size or type');
    }
    const bytes = new Uint8Array(into.buffer, into.byteOffset, into.byteLength);
    for (let e = 0; e < this.epochs; e++) {
      const f = this.#files.length === 1 ? this.#files[0]! : this.#files[e]!;
      const item = NPY_DTYPES[f.header.dtype].size;
      const row = this.#files.length === 1 ? e * this.samples : 0;
      const pos = f.header.dataOffset + (row + start) * item;
      if (item === into.BYTES_PER_ELEMENT) {
        readFully(f.fd, bytes.subarray(e * w * item, (e + 1) * w * item), pos, f.path);
      } else {
        // a float32 epoch file in a trajectory widened to float64
        if (!this.#scratch || this.#scratch.length < w) this.#scratch = new Float32Array(w);
        const s = this.#scratch.subarray(0, w);
        readFully(f.fd, new Uint8Array(s.buffer, s.byteOffset, s.byteLength), pos, f.path);
        (into as Float64Array).set(s, e * w);
      }
    }
  }

  /**
   * Fails (E_FILE) if any file changed since it was opened: its descriptor's size, mtime, ctime,
   * inode — or the path now names another file (replaced by a rename).
   */
  checkUnchanged(): void {
    for (const f of this.#files) {
      let now: Stamp | undefined;
      let atPath: Stamp | undefined;
      try {
        now = stampOf(fstatSync(f.fd, { bigint: true }));
        atPath = stampOf(statSync(f.path, { bigint: true }));
      } catch {
        /* gone: reported below */
      }
      if (!now || !atPath || !sameStamp(now, f.stamp) || !sameStamp(atPath, f.stamp)) {
        const what = !atPath ? 'was removed' : now && now.size !== f.stamp.size ? `changed size (${f.stamp.size} → ${now.size} bytes)` : atPath.ino !== f.stamp.ino ? 'was replaced by another file' : 'was modified';
        fail('E_FILE', `${what} while it was being read; the scores would mix two versions, so nothing was written (rerun once the file is complete)`, {
          file: f.path,
          field: this.field,
        });
      }
    }
  }

  /** A cheap fingerprint of the content (see TrajectoryIdentity); reads 64 KiB per file. */
  identity(): TrajectoryIdentity {
    const h = createHash('sha256');
    const block = new Uint8Array(4096);
    for (const f of this.#files) {
      h.update(f.headerBytes);
      h.update(`|${f.fileSize}|`);
      const data = f.header.dataBytes;
      const len = Math.min(block.length, data);
      const blocks = data === 0 ? 0 : 16;
      for (let k = 0; k < blocks; k++) {
        const off = f.header.dataOffset + Math.floor((k * (data - len)) / 15);
        const b = block.subarray(0, len);
        readFully(f.fd, b, off, f.path);
        h.update(b);
      }
    }
    return { epochs: this.epochs, samples: this.samples, dtype: this.dtype, files: this.#files.length, bytes: this.bytes, sampledSha256: h.digest('hex') };
  }

  close(): void {
    for (const f of this.#files.splice(0)) closeSync(f.fd);
  }
}
