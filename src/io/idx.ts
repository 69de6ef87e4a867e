/**
 * IDX reader (the format of the original MNIST files, LeCun et al.).
 *
 * Layout: two zero bytes, a dtype byte (0x08 = unsigned byte, the only one MNIST uses and the only
 * one accepted here), a rank byte, then `rank` big-endian uint32 dimensions, then the data in C order.
 * Sizes are validated: a truncated file or trailing bytes are an E_FORMAT error naming the file.
 */
import { readFile } from 'node:fs/promises';
import { fail } from '../errors.js';

export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

const DTYPE_NAMES: Record<number, string> = {
  0x08: 'ubyte',
  0x09: 'byte',
  0x0b: 'short',
  0x0c: 'int',
  0x0d: 'float',
  0x0e: 'double',
};

/** Parses an IDX buffer; `file` names it in errors. The returned data is a view into `buf`. */
export function parseIdx(buf: Uint8Array, file = '<idx>'): IdxArray {
  if (buf.length < 4) fail('E_FORMAT', `file is ${buf.length} bytes, too short for an IDX header`, { file });
  if (buf[0] !== 0 || buf[1] !== 0) {
    fail('E_FORMAT', `bad IDX magic: first two bytes must be 0, got 0x${hex(buf[0]!)} 0x${hex(buf[1]!)}`, { file });
  }
  const dtype = buf[2]!;
  if (dtype !== 0x08) {
    const name = DTYPE_NAMES[dtype];
    fail('E_DTYPE', `IDX dtype 0x${hex(dtype)}${name ? ` (${name})` : ''} is not supported; expected 0x08 (ubyte)`, {
      file,
    });
  }
  const rank = buf[3]!;
  if (rank < 1) fail('E_FORMAT', 'IDX rank is 0; expected at least 1 dimension', { file });
  const headerLen = 4 + 4 * rank;
  if (buf.length < headerLen) fail('E_FORMAT', `truncated IDX header: ${rank} dimensions need ${headerLen} bytes, file has ${buf.length}`, { file });
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const shape: number[] = [];
  let count = 1;
  for (let i = 0; i < rank; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    shape.push(d);
    count *= d;
  }
  const have = buf.length - headerLen;
  if (have < count) {
    fail('E_FORMAT', `truncated IDX data: shape [${shape.join(', ')}] needs ${count} bytes after the header, file has ${have}`, { file });
  }
  if (have > count) {
    fail('E_FORMAT', `IDX file has ${have - count} trailing bytes after shape [${shape.join(', ')}]`, { file });
  }
  return { shape, data: buf.subarray(headerLen, headerLen + count) };
}

export async function readIdx(path: string): Promise<IdxArray> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    return fail('E_FILE', `cannot read IDX file: ${(err as Error).message}`, { file: path });
  }
  return parseIdx(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), path);
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}
