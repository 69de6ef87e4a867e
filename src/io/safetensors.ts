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
import { readFile } from 'node:fs/promises';
import { fail } from '../errors.js';
import { writeFileAtomic } from './atomic.js';

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

export function parseSafetensors(buf: Uint8Array, file = '<safetensors>'): SafetensorsContent {
  if (buf.length < 8) fail('E_FORMAT', `file is ${buf.length} bytes, too short for a safetensors header length`, { file });
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER)) fail('E_FORMAT', `header length ${n64} is implausible (limit ${MAX_HEADER} bytes)`, { file });
  const n = Number(n64);
  if (8 + n > buf.length) fail('E_FORMAT', `truncated: header says ${n} bytes of JSON but the file has ${buf.length - 8} after the length`, { file });
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(8, 8 + n)));
  } catch (err) {
    return fail('E_FORMAT', `header is not valid UTF-8 JSON (${(err as Error).message})`, { file });
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    fail('E_FORMAT', 'header must be a JSON object', { file });
  }
  const dataStart = 8 + n;
  const dataLen = buf.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: SafetensorsDType; shape: number[]; begin: number; end: number }[] = [];
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
  const tensors: SafetensorsContent['tensors'] = new Map();
  for (const e of entries) {
    const bytes = buf.subarray(dataStart + e.begin, dataStart + e.end);
    tensors.set(e.name, { name: e.name, dtype: e.dtype, shape: e.shape, data: toF32(bytes, e.dtype) });
  }
  return { tensors, metadata };
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

export async function readSafetensors(path: string): Promise<SafetensorsContent> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    return fail('E_FILE', `cannot read safetensors file: ${(err as Error).message}`, { file: path });
  }
  return parseSafetensors(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), path);
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
