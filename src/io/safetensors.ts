/**
 * safetensors reader/writer (https://github.com/huggingface/safetensors):
 * 8-byte little-endian header length N, N bytes of JSON header, then the raw tensor bytes.
 * The header maps each tensor name to {dtype, shape, data_offsets: [begin, end]} (offsets relative
 * to the start of the data section) and may hold a `__metadata__` object of string → string.
 *
 * Reading accepts F32, F64, F16 and BF16 and converts everything to float32 (riverbed computes in
 * f32). Writing emits F32 only. Every structural problem — missing file, short header, bad JSON,
 * offsets out of range or disagreeing with dtype × shape, overlapping tensors — is a RiverbedError
 * naming the file and the tensor.
 */
import { closeSync } from 'node:fs';
import { fail } from '../errors.js';
import { writeFileAtomic } from './atomic.js';
import { openRegularFile, readExactly } from './files.js';

export type SafetensorsDType = 'F32' | 'F64' | 'F16' | 'BF16';
const DTYPE_BYTES: Record<SafetensorsDType, number> = { F32: 4, F64: 8, F16: 2, BF16: 2 };
const KNOWN_UNSUPPORTED = new Set(['BOOL', 'U8', 'I8', 'I16', 'U16', 'I32', 'U32', 'I64', 'U64', 'F8_E4M3', 'F8_E5M2']);

/** A tensor as riverbed holds it: float32, row-major. */
export interface NamedTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface SafetensorsContent {
  /** Tensors in file order (ascending data offset), converted to float32. */
  tensors: Map<string, NamedTensor & { dtype: SafetensorsDType }>;
  metadata: Record<string, string>;
}

/** Refuse absurd headers before allocating (the reference implementation caps at 100 MB). */
const MAX_HEADER = 100_000_000;

interface Entry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

/** The 8-byte header length, capped before anything is allocated for it. */
function headerLength(first8: Uint8Array, fileBytes: number, file: string): number {
  if (fileBytes < 8) fail('E_FORMAT', `file is ${fileBytes} bytes, too short for a safetensors header length`, { file });
  const n64 = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER)) fail('E_FORMAT', `header length ${n64} is implausible (limit ${MAX_HEADER} bytes)`, { file });
  const n = Number(n64);
  if (8 + n > fileBytes) fail('E_FORMAT', `truncated: header says ${n} bytes of JSON but the file has ${fileBytes - 8} after the length`, { file });
  return n;
}

/**
 * The header's tensors (ascending data offset) and metadata, checked against `dataLen`, the bytes
 * after the header: every tensor inside it, none overlapping, and nothing after the last one (as
 * the reference implementation requires) — so a reader needs exactly 8 + header + last end bytes.
 */
function parseHeader(headerBytes: Uint8Array, dataLen: number, file: string): { entries: Entry[]; metadata: Record<string, string> } {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (err) {
    return fail('E_FORMAT', `header is not valid UTF-8 JSON (${(err as Error).message})`, { file });
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    fail('E_FORMAT', 'header must be a JSON object', { file });
  }
  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail('E_FORMAT', '__metadata__ must be an object of strings', { file, field: '__metadata__' });
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail('E_FORMAT', `metadata value must be a string, got ${typeof v}`, { file, field: `__metadata__.${k}` });
        metadata[k] = v;
      }
      continue;
    }
    const field = `tensor "${name}"`;
    if (raw === null || typeof raw !== 'object') fail('E_FORMAT', 'entry must be an object {dtype, shape, data_offsets}', { file, field });
    const { dtype, shape, data_offsets: offs } = raw as Record<string, unknown>;
    if (typeof dtype !== 'string') fail('E_FORMAT', 'missing dtype', { file, field });
    if (!(dtype in DTYPE_BYTES)) {
      const why = KNOWN_UNSUPPORTED.has(dtype) ? 'is not supported' : 'is unknown';
      fail('E_DTYPE', `dtype ${dtype} ${why}; expected F32, F64, F16 or BF16`, { file, field });
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail('E_FORMAT', `shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`, { file, field });
    }
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0) || offs[0] > offs[1]) {
      fail('E_FORMAT', `data_offsets must be [begin, end] with 0 ≤ begin ≤ end, got ${JSON.stringify(offs)}`, { file, field });
    }
    const [begin, end] = offs as [number, number];
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    const bytes = count * DTYPE_BYTES[dtype as SafetensorsDType];
    if (end - begin !== bytes) {
      fail('E_FORMAT', `data_offsets [${begin}, ${end}] span ${end - begin} bytes but ${dtype} [${(shape as number[]).join(', ')}] needs ${bytes}`, { file, field });
    }
    if (end > dataLen) {
      fail('E_FORMAT', `truncated: tensor data ends at byte ${end} of the data section, which has only ${dataLen} bytes`, { file, field });
    }
    entries.push({ name, dtype: dtype as SafetensorsDType, shape: shape as number[], begin, end });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < entries.length; i++) {
    if (entries[i]!.begin < entries[i - 1]!.end) {
      fail('E_FORMAT', `data of tensor "${entries[i]!.name}" overlaps tensor "${entries[i - 1]!.name}"`, { file });
    }
  }
  const last = entries.reduce((m, e) => Math.max(m, e.end), 0);
  if (last < dataLen) {
    fail('E_FORMAT', `${dataLen - last} bytes follow the last tensor (its data ends at byte ${last} of a ${dataLen}-byte data section); a safetensors file ends with its last tensor`, { file });
  }
  return { entries, metadata };
}

/** Tensors from the data section (`data[0]` = first byte after the header). */
function toContent(entries: Entry[], metadata: Record<string, string>, data: Uint8Array): SafetensorsContent {
  const tensors: SafetensorsContent['tensors'] = new Map();
  for (const e of entries) tensors.set(e.name, { name: e.name, dtype: e.dtype, shape: e.shape, data: toF32(data.subarray(e.begin, e.end), e.dtype) });
  return { tensors, metadata };
}

export function parseSafetensors(buf: Uint8Array, file = '<safetensors>'): SafetensorsContent {
  const n = headerLength(buf.subarray(0, 8), buf.length, file);
  const { entries, metadata } = parseHeader(buf.subarray(8, 8 + n), buf.length - 8 - n, file);
  return toContent(entries, metadata, buf.subarray(8 + n));
}

function toF32(bytes: Uint8Array, dtype: SafetensorsDType): Float32Array {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length / DTYPE_BYTES[dtype];
  const out = new Float32Array(n);
  switch (dtype) {
    case 'F32':
      for (let i = 0; i < n; i++) out[i] = v.getFloat32(4 * i, true);
      break;
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = v.getFloat64(8 * i, true);
      break;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = halfToFloat(v.getUint16(2 * i, true));
      break;
    case 'BF16': {
      const u = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) u[i] = v.getUint16(2 * i, true) << 16;
      break;
    }
  }
  return out;
}

/** IEEE 754 binary16 → number (subnormals, infinities and NaN included). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * Reads a safetensors file with every allocation bounded by the format: the 8-byte length, the
 * header (≤ 100 MB), then exactly the data the header's offsets describe — checked against the
 * file's size first. Only regular files are read (a FIFO or /dev/zero is refused by name).
 */
export async function readSafetensors(path: string): Promise<SafetensorsContent> {
  const { fd, size } = openRegularFile(path, 'a safetensors file');
  try {
    const n = headerLength(size >= 8 ? readExactly(fd, 8, 0, path) : new Uint8Array(8), size, path);
    const { entries, metadata } = parseHeader(readExactly(fd, n, 8, path), size - 8 - n, path);
    return toContent(entries, metadata, readExactly(fd, size - 8 - n, 8 + n, path));
  } finally {
    closeSync(fd);
  }
}

/** Serialises float32 tensors (in the given order) with optional string metadata. */
export function encodeSafetensors(tensors: readonly NamedTensor[], metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  const seen = new Set<string>();
  for (const t of tensors) {
    if (t.name === '__metadata__' || seen.has(t.name)) fail('E_ARG', `tensor name "${t.name}" is reserved or repeated`);
    seen.add(t.name);
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) fail('E_SHAPE', `tensor "${t.name}": shape [${t.shape.join(', ')}] needs ${count} values, got ${t.data.length}`);
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + 4 * count] };
    offset += 4 * count;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  // Pad the header with spaces so the data section starts 8-byte aligned, as the reference writer does.
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(pad));
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let pos = 8 + json.length;
  for (const t of tensors) {
    for (let i = 0; i < t.data.length; i++) view.setFloat32(pos + 4 * i, t.data[i]!, true);
    pos += 4 * t.data.length;
  }
  return out;
}

/** Writes a safetensors file atomically (temp file in the same directory, then rename). */
export async function writeSafetensors(path: string, tensors: readonly NamedTensor[], metadata: Record<string, string> = {}): Promise<void> {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}
