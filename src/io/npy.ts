/**
 * `.npy` reader and writer (NumPy format versions 1.0, 2.0 and 3.0).
 *
 * Supported element types, little-endian and C order only: float32 `<f4`, float64 `<f8`,
 * int32 `<i4`, int64 `<i8`, uint8 `|u1`, bool `|b1`. Anything else — big-endian data, Fortran
 * order, object or structured arrays, other dtypes, a bad magic, a header that does not parse, or
 * a file shorter than its header's shape — is a RiverbedError naming the file and the field.
 *
 * Large files are memory-mapped read-only through the native addon when it is available: the
 * array is then a zero-copy view of the page cache (never write into `data` when `mapped` is
 * set). The view needs the data offset aligned to the element size; numpy pads headers to 64
 * bytes so it always is for files numpy wrote, and otherwise the data are copied.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { mapFileReadOnly } from '../backends/native/host.js';
import { fail } from '../errors.js';
import { type FileChunks, writeFileAtomic } from './atomic.js';
import { fileKind } from './files.js';

export type NpyDType = 'f4' | 'f8' | 'i4' | 'i8' | 'u1' | 'b1';
export type NpyData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

export const NPY_DTYPES: Readonly<Record<NpyDType, { descr: string; size: number; name: string }>> = {
  f4: { descr: '<f4', size: 4, name: 'float32' },
  f8: { descr: '<f8', size: 8, name: 'float64' },
  i4: { descr: '<i4', size: 4, name: 'int32' },
  i8: { descr: '<i8', size: 8, name: 'int64' },
  u1: { descr: '|u1', size: 1, name: 'uint8' },
  b1: { descr: '|b1', size: 1, name: 'bool' },
};

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** Files at least this large are memory-mapped when the addon can. */
export const MMAP_THRESHOLD_BYTES = 1 << 20;

export interface NpyHeader {
  version: [number, number];
  dtype: NpyDType;
  shape: number[];
  /** Number of elements (product of shape). */
  size: number;
  /** Byte offset of the first element. */
  dataOffset: number;
  /** Bytes of data the shape calls for. */
  dataBytes: number;
}

export interface NpyArray {
  dtype: NpyDType;
  shape: number[];
  data: NpyData;
  /** True when `data` views a read-only memory map of the file: never write into it. */
  mapped: boolean;
}

const supported = Object.values(NPY_DTYPES)
  .map((d) => `${d.name} (${d.descr})`)
  .join(', ');

/** A header dict's values (see `parseHeaderDict`). */
interface HeaderDict {
  /** The dtype string, or null for a list (a structured dtype). */
  descr?: string | null;
  fortranOrder?: boolean;
  /** The shape tuple's entries as written. */
  shape?: string[];
}

/**
 * The header as numpy reads it (`ast.literal_eval`, then exactly the keys descr, fortran_order,
 * shape): a Python dict literal with string keys, then only whitespace (numpy pads with spaces and
 * ends with a newline). Anything else — trailing junk, a second dict, an unknown or repeated key —
 * is refused, as numpy refuses it; the regex scan this replaces accepted all of them.
 */
function parseHeaderDict(text: string, file: string): HeaderDict {
  let i = 0;
  const bad = (what: string): never => {
    const near = JSON.stringify(text.slice(i, i + 20));
    return fail('E_FORMAT', `header is not a .npy header dict: ${what} at offset ${i} (near ${near})`, { file, field: 'header' });
  };
  const ws = () => {
    while (i < text.length && ' \t\r\n'.includes(text[i]!)) i++;
  };
  const str = (): string => {
    const q = text[i];
    if (q !== "'" && q !== '"') bad('expected a string');
    const end = text.indexOf(q!, i + 1);
    if (end < 0 || text.slice(i + 1, end).includes('\\')) bad('unterminated or escaped string');
    const v = text.slice(i + 1, end);
    i = end + 1;
    return v;
  };
  const out: HeaderDict = {};
  ws();
  if (text[i] !== '{') bad('expected "{"');
  i++;
  ws();
  while (text[i] !== '}') {
    const key = str();
    ws();
    if (text[i] !== ':') bad('expected ":"');
    i++;
    ws();
    if (key === 'descr' && out.descr === undefined) {
      if (text[i] === '[') {
        // a structured dtype: a list of tuples; skipped (refused by the caller), strings respected
        let depth = 0;
        do {
          const c = text[i];
          if (c === "'" || c === '"') str();
          else {
            if (c === '[' || c === '(') depth++;
            else if (c === ']' || c === ')') depth--;
            else if (c === undefined) bad('unterminated list');
            i++;
          }
        } while (depth > 0);
        out.descr = null;
      } else out.descr = str();
    } else if (key === 'fortran_order' && out.fortranOrder === undefined) {
      if (text.startsWith('True', i)) out.fortranOrder = true;
      else if (text.startsWith('False', i)) out.fortranOrder = false;
      else bad('fortran_order must be True or False');
      i += out.fortranOrder ? 4 : 5;
    } else if (key === 'shape' && out.shape === undefined) {
      if (text[i] !== '(') bad('shape must be a tuple');
      const end = text.indexOf(')', i);
      if (end < 0) bad('unterminated shape tuple');
      const inner = text.slice(i + 1, end).trim();
      const parts = inner === '' ? [] : inner.split(',').map((t) => t.trim());
      if (parts.length > 0 && parts.at(-1) === '') parts.pop(); // "(3,)", "(3, 4,)"
      else if (parts.length === 1) bad('shape must be a tuple: one dimension is written (n,)');
      if (parts.some((t) => t === '')) bad('empty entry in shape');
      out.shape = parts;
      i = end + 1;
    } else {
      bad(key === 'descr' || key === 'fortran_order' || key === 'shape' ? `key '${key}' repeated` : `unexpected key '${key}' (a .npy header holds descr, fortran_order and shape)`);
    }
    ws();
    if (text[i] === ',') {
      i++;
      ws();
    } else if (text[i] !== '}') bad('expected "," or "}"');
  }
  i++;
  ws();
  if (i < text.length) bad('trailing bytes after the header dict');
  return out;
}

function parseDescr(h: HeaderDict, file: string): NpyDType {
  if (h.descr === null) fail('E_DTYPE', `structured arrays are not supported; expected ${supported}`, { file, field: 'descr' });
  if (h.descr === undefined) fail('E_FORMAT', 'header has no dtype description', { file, field: 'descr' });
  const descr = h.descr;
  const order = descr[0];
  const kind = descr.slice(1);
  if (kind === 'O') fail('E_DTYPE', `object arrays ('${descr}') are not supported; expected ${supported}`, { file, field: 'descr' });
  const dtype = (Object.keys(NPY_DTYPES) as NpyDType[]).find((k) => k === kind);
  if (dtype === undefined || (order !== '<' && order !== '|' && order !== '>' && order !== '=')) {
    fail('E_DTYPE', `unsupported dtype '${descr}'; expected ${supported}`, { file, field: 'descr' });
  }
  const size = NPY_DTYPES[dtype].size;
  if (order === '>' && size > 1) fail('E_DTYPE', `big-endian data ('${descr}') is not supported; expected little-endian ${NPY_DTYPES[dtype].descr}`, { file, field: 'descr' });
  return dtype;
}

function parseShape(h: HeaderDict, file: string): number[] {
  if (!h.shape) return fail('E_FORMAT', 'header has no shape tuple', { file, field: 'shape' });
  return h.shape.map((p) => {
    const v = /^\d+L?$/.test(p) ? Number.parseInt(p, 10) : NaN;
    if (!Number.isSafeInteger(v)) fail('E_FORMAT', `bad dimension "${p}" in shape (${h.shape!.join(', ')})`, { file, field: 'shape' });
    return v;
  });
}

/**
 * Parses the header at the start of `bytes` (which must hold at least the whole header).
 * `fileSize`, when given, is used to report a header longer than the file.
 */
export function parseNpyHeader(bytes: Uint8Array, file: string, fileSize = bytes.byteLength): NpyHeader {
  if (bytes.byteLength < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    fail('E_FORMAT', 'not a .npy file (bad magic; expected \\x93NUMPY)', { file, field: 'magic' });
  }
  const major = bytes[6]!;
  const minor = bytes[7]!;
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = bytes[8]! | (bytes[9]! << 8);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.byteLength < 12) fail('E_FORMAT', 'truncated header', { file, field: 'header' });
    headerLen = (bytes[8]! | (bytes[9]! << 8) | (bytes[10]! << 16)) + bytes[11]! * 2 ** 24;
    start = 12;
  } else {
    return fail('E_FORMAT', `unsupported format version ${major}.${minor}; expected 1.0, 2.0 or 3.0`, { file, field: 'version' });
  }
  const dataOffset = start + headerLen;
  if (dataOffset > fileSize) {
    fail('E_FORMAT', `truncated: header says ${headerLen} header bytes but the file has ${fileSize} bytes`, { file, field: 'header' });
  }
  if (dataOffset > bytes.byteLength) fail('E_INTERNAL', 'parseNpyHeader needs the whole header');
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, dataOffset));
  const dict = parseHeaderDict(text, file);
  const dtype = parseDescr(dict, file);
  if (dict.fortranOrder === undefined) fail('E_FORMAT', 'header has no fortran_order', { file, field: 'fortran_order' });
  const shape = parseShape(dict, file);
  if (dict.fortranOrder) {
    fail('E_FORMAT', `Fortran-order (column-major) arrays are not supported; expected C order (save np.ascontiguousarray(a))`, {
      file,
      field: 'fortran_order',
    });
  }
  let size = 1;
  for (const d of shape) size *= d;
  const dataBytes = size * NPY_DTYPES[dtype].size;
  if (!Number.isSafeInteger(dataBytes)) fail('E_FORMAT', `shape (${shape.join(', ')}) is too large`, { file, field: 'shape' });
  return { version: [major, minor], dtype, shape, size, dataOffset, dataBytes };
}

function describe(h: NpyHeader): string {
  return `${NPY_DTYPES[h.dtype].name} [${h.shape.join(', ')}]`;
}

function openForRead(path: string): number {
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer (readHeaderFd then refuses it).
    return openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? (err as Error).message);
    return fail('E_FILE', `cannot open (${why})`, { file: path });
  }
}

/** Reads exactly `target.byteLength` bytes at `position` (pread), or fails naming the file as truncated. */
export function readFully(fd: number, target: Uint8Array, position: number, file: string): void {
  let off = 0;
  while (off < target.byteLength) {
    const n = readSync(fd, target, off, Math.min(target.byteLength - off, 1 << 30), position + off);
    if (n === 0) fail('E_FORMAT', `truncated: file ended after ${position + off} bytes`, { file, field: 'data' });
    off += n;
  }
}

function readHeaderFd(fd: number, path: string): { header: NpyHeader; fileSize: number } {
  let st;
  try {
    st = fstatSync(fd);
  } catch (err) {
    return fail('E_FILE', `cannot stat (${(err as Error).message})`, { file: path });
  }
  if (st.isDirectory()) fail('E_FILE', 'is a directory, expected a .npy file', { file: path });
  if (!st.isFile()) fail('E_FILE', `is ${fileKind(st)}; a .npy input must be a regular file`, { file: path });
  const fileSize = st.size;
  let head = new Uint8Array(Math.min(fileSize, 4096));
  readFully(fd, head, 0, path);
  if (head.byteLength >= 12 && head[6] !== 1) {
    const len = (head[8]! | (head[9]! << 8) | (head[10]! << 16)) + head[11]! * 2 ** 24;
    if (12 + len > head.byteLength && 12 + len <= fileSize) {
      head = new Uint8Array(12 + len);
      readFully(fd, head, 0, path);
    }
  }
  return { header: parseNpyHeader(head, path, fileSize), fileSize };
}

/** An open `.npy` file: its descriptor (caller closes it), validated header and size. */
export interface OpenNpy {
  fd: number;
  header: NpyHeader;
  fileSize: number;
  /** The raw header bytes (magic through padding): part of the file's identity. */
  headerBytes: Uint8Array;
}

/** Opens a `.npy` file for positioned reads (column tiles): header parsed and checked for truncation. */
export function openNpy(path: string): OpenNpy {
  const fd = openForRead(path);
  try {
    const { header, fileSize } = readHeaderFd(fd, path);
    checkLength(header, fileSize, path);
    const headerBytes = new Uint8Array(header.dataOffset);
    readFully(fd, headerBytes, 0, path);
    return { fd, header, fileSize, headerBytes };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** Reads and validates only the header (shape, dtype, truncation). */
export function readNpyHeader(path: string): NpyHeader {
  const fd = openForRead(path);
  try {
    const { header, fileSize } = readHeaderFd(fd, path);
    checkLength(header, fileSize, path);
    return header;
  } finally {
    closeSync(fd);
  }
}

function checkLength(h: NpyHeader, fileSize: number, file: string): void {
  const have = fileSize - h.dataOffset;
  if (have < h.dataBytes) {
    fail('E_FORMAT', `truncated: header says ${describe(h)} (${h.dataBytes} bytes of data) but only ${have} bytes follow`, {
      file,
      field: 'data',
    });
  }
}

function view(dtype: NpyDType, buf: ArrayBuffer, byteOffset: number, length: number): NpyData {
  switch (dtype) {
    case 'f4':
      return new Float32Array(buf, byteOffset, length);
    case 'f8':
      return new Float64Array(buf, byteOffset, length);
    case 'i4':
      return new Int32Array(buf, byteOffset, length);
    case 'i8':
      return new BigInt64Array(buf, byteOffset, length);
    case 'u1':
    case 'b1':
      return new Uint8Array(buf, byteOffset, length);
  }
}

export interface ReadNpyOptions {
  /** Memory-map large files through the addon when possible (default true). */
  mmap?: boolean;
}

/** Reads a whole `.npy` file; see the module comment for what is accepted. */
export async function readNpy(path: string, options: ReadNpyOptions = {}): Promise<NpyArray> {
  const fd = openForRead(path);
  try {
    const { header: h, fileSize } = readHeaderFd(fd, path);
    checkLength(h, fileSize, path);
    const itemSize = NPY_DTYPES[h.dtype].size;
    if (options.mmap !== false && fileSize >= MMAP_THRESHOLD_BYTES) {
      let mapped: ArrayBuffer | undefined;
      try {
        mapped = mapFileReadOnly(path); // undefined without the addon
      } catch {
        mapped = undefined;
      }
      if (mapped && mapped.byteLength >= h.dataOffset + h.dataBytes) {
        if (h.dataOffset % itemSize === 0) return { dtype: h.dtype, shape: h.shape, data: view(h.dtype, mapped, h.dataOffset, h.size), mapped: true };
        const copy = mapped.slice(h.dataOffset, h.dataOffset + h.dataBytes);
        return { dtype: h.dtype, shape: h.shape, data: view(h.dtype, copy, 0, h.size), mapped: false };
      }
    }
    const buf = new ArrayBuffer(h.dataBytes);
    readFully(fd, new Uint8Array(buf), h.dataOffset, path);
    return { dtype: h.dtype, shape: h.shape, data: view(h.dtype, buf, 0, h.size), mapped: false };
  } finally {
    closeSync(fd);
  }
}

function dtypeOf(data: NpyData): NpyDType {
  if (data instanceof Float32Array) return 'f4';
  if (data instanceof Float64Array) return 'f8';
  if (data instanceof Int32Array) return 'i4';
  if (data instanceof BigInt64Array) return 'i8';
  return 'u1';
}

export interface EncodeNpyOptions {
  /** Store as this dtype; only widening an Int32Array to int64 ('i8') or a Uint8Array to bool ('b1') converts. */
  dtype?: NpyDType;
}

/** The header bytes of a v1.0 (or, for very long headers, v2.0) `.npy` file, padded to 64 bytes. */
export function npyHeaderBytes(dtype: NpyDType, shape: readonly number[]): Uint8Array {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let dict = `{'descr': '${NPY_DTYPES[dtype].descr}', 'fortran_order': False, 'shape': (${dims}), }`;
  let pre = 10;
  if (dict.length + 1 + pre > 65535) pre = 12;
  const total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  dict = dict.padEnd(total - pre - 1, ' ') + '\n';
  const out = new Uint8Array(total);
  out.set(MAGIC, 0);
  out[6] = pre === 10 ? 1 : 2;
  out[7] = 0;
  const len = dict.length;
  out[8] = len & 0xff;
  out[9] = (len >>> 8) & 0xff;
  if (pre === 12) {
    out[10] = (len >>> 16) & 0xff;
    out[11] = (len >>> 24) & 0xff;
  }
  for (let i = 0; i < dict.length; i++) out[pre + i] = dict.charCodeAt(i);
  return out;
}

/** The bytes of a `.npy` file holding `data` with `shape` (C order). */
export function encodeNpy(data: NpyData, shape: readonly number[], options: EncodeNpyOptions = {}): Uint8Array[] {
  let size = 1;
  for (const d of shape) size *= d;
  if (size !== data.length) fail('E_SHAPE', `encodeNpy: shape [${shape.join(', ')}] holds ${size} elements, data has ${data.length}`);
  let dtype = dtypeOf(data);
  let body: ArrayBufferView = data;
  if (options.dtype && options.dtype !== dtype) {
    if (options.dtype === 'i8' && data instanceof Int32Array) {
      const wide = new Int32Array(data.length * 2);
      for (let i = 0; i < data.length; i++) {
        wide[2 * i] = data[i]!;
        wide[2 * i + 1] = data[i]! < 0 ? -1 : 0;
      }
      body = wide;
    } else if (!(options.dtype === 'b1' && dtype === 'u1')) {
      fail('E_DTYPE', `encodeNpy: cannot store ${NPY_DTYPES[dtype].name} data as ${NPY_DTYPES[options.dtype].name}`);
    }
    dtype = options.dtype;
  }
  return [npyHeaderBytes(dtype, shape), new Uint8Array(body.buffer, body.byteOffset, body.byteLength)];
}

/** Writes a `.npy` file atomically (temp file in the same directory, then rename). */
export function writeNpy(path: string, data: NpyData, shape: readonly number[] = [data.length], options: EncodeNpyOptions = {}): void {
  writeFileAtomic(path, encodeNpy(data, shape, options) as FileChunks);
}
