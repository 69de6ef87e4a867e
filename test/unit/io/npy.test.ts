import { mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RiverbedError } from '../../../src/errors.js';
import { encodeNpy, npyHeaderBytes, parseNpyHeader, readNpy, readNpyHeader, writeNpy } from '../../../src/io/npy.js';

const dir = mkdtempSync(join(tmpdir(), 'riverbed-npy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A .npy file with a hand-written header dict (for the malformed cases). */
function rawNpy(name: string, dict: string, data: Uint8Array, major = 1): string {
  const pre = major === 1 ? 10 : 12;
  let text = dict;
  const total = Math.ceil((pre + text.length + 1) / 16) * 16;
  text = text.padEnd(total - pre - 1, ' ') + '\n';
  const head = new Uint8Array(pre + text.length);
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const len = text.length;
  head[8] = len & 0xff;
  head[9] = (len >> 8) & 0xff;
  for (let i = 0; i < text.length; i++) head[pre + i] = text.charCodeAt(i);
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat([head, data]));
  return path;
}

async function expectError(p: Promise<unknown>, code: string, ...parts: string[]): Promise<RiverbedError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected ${code}`).toBeInstanceOf(RiverbedError);
  const re = err as RiverbedError;
  expect(re.code).toBe(code);
  for (const part of parts) expect(re.message).toContain(part);
  expect(re.message).not.toContain('\n');
  return re;
}

describe('npy round trip', () => {
  const cases = [
    ['f4', new Float32Array([1.5, -2, 3.25, Number.NaN, 0, 7, 1e-30, -0])],
    ['f8', new Float64Array([Math.PI, -1e300, 5e-324, 0, 1, 2, 3, 4])],
    ['i4', new Int32Array([0, -1, 2147483647, -2147483648, 5, 6, 7, 8])],
    ['i8', new BigInt64Array([0n, -1n, 2n ** 62n, -(2n ** 63n), 5n, 6n, 7n, 8n])],
    ['u1', new Uint8Array([0, 1, 2, 255, 4, 5, 6, 7])],
  ] as const;
  for (const [dtype, data] of cases) {
    it(`${dtype}, 1-D and 2-D`, async () => {
      const p1 = join(dir, `rt-${dtype}-1.npy`);
      writeNpy(p1, data);
      const a = await readNpy(p1);
      expect(a.dtype).toBe(dtype);
      expect(a.shape).toEqual([8]);
      expect(Array.from(a.data as ArrayLike<unknown>)).toEqual(Array.from(data as ArrayLike<unknown>));
      const p2 = join(dir, `rt-${dtype}-2.npy`);
      writeNpy(p2, data, [2, 4]);
      const b = await readNpy(p2);
      expect(b.shape).toEqual([2, 4]);
      expect(Object.is((b.data as Float32Array)[7], (data as Float32Array)[7])).toBe(true);
    });
  }
  it('bool (|b1) and int32 widened to int64', async () => {
    const p = join(dir, 'b1.npy');
    writeNpy(p, new Uint8Array([1, 0, 1]), [3], { dtype: 'b1' });
    const a = await readNpy(p);
    expect(a.dtype).toBe('b1');
    expect(Array.from(a.data as Uint8Array)).toEqual([1, 0, 1]);
    const q = join(dir, 'i8w.npy');
    writeNpy(q, new Int32Array([3, -4, 5]), [3], { dtype: 'i8' });
    const b = await readNpy(q);
    expect(b.dtype).toBe('i8');
    expect(Array.from(b.data as BigInt64Array)).toEqual([3n, -4n, 5n]);
  });
  it('writes the exact header numpy writes (v1.0, 64-byte aligned)', () => {
    const h = npyHeaderBytes('f4', [3, 4]);
    expect(h.byteLength % 64).toBe(0);
    const text = Buffer.from(h.subarray(10)).toString('latin1');
    expect(text.startsWith("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }")).toBe(true);
    expect(text.endsWith('\n')).toBe(true);
    expect(Buffer.from(npyHeaderBytes('i8', [5]).subarray(10)).toString('latin1')).toContain("'shape': (5,)");
    expect(parseNpyHeader(npyHeaderBytes('f8', []), 'x').shape).toEqual([]);
  });
  it('empty arrays and scalars', async () => {
    const p = join(dir, 'empty.npy');
    writeNpy(p, new Float32Array(0), [0, 3]);
    const a = await readNpy(p);
    expect(a.shape).toEqual([0, 3]);
    expect(a.data.length).toBe(0);
  });
  it('reads v2.0 and v3.0 headers and an unaligned data offset', async () => {
    const data = new Float32Array([1, 2, 3]);
    const bytes = new Uint8Array(data.buffer);
    const p2 = rawNpy('v2.npy', "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", bytes, 2);
    expect(Array.from((await readNpy(p2)).data as Float32Array)).toEqual([1, 2, 3]);
    expect(readNpyHeader(p2).version).toEqual([2, 0]);
    const p3 = rawNpy('v3.npy', "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", bytes, 3);
    expect(Array.from((await readNpy(p3)).data as Float32Array)).toEqual([1, 2, 3]);
    // header padded to 16 bytes only: data offset 10 + 54 = 64 is aligned; craft a 6-byte-misaligned one
    const odd = Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]), Buffer.alloc(2)]);
    const dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,)}\n";
    odd.writeUInt16LE(dict.length, 8);
    const path = join(dir, 'odd.npy');
    writeFileSync(path, Buffer.concat([odd, Buffer.from(dict, 'latin1'), Buffer.from(new Float64Array([0.5, -8]).buffer)]));
    expect((10 + dict.length) % 8).not.toBe(0);
    expect(Array.from((await readNpy(path)).data as Float64Array)).toEqual([0.5, -8]);
  });
  it('memory-maps or reads a file past the mmap threshold the same way', async () => {
    const big = new Float32Array(300_001);
    for (let i = 0; i < big.length; i++) big[i] = i * 0.5;
    const p = join(dir, 'big.npy');
    writeNpy(p, big);
    const a = await readNpy(p);
    const b = await readNpy(p, { mmap: false });
    expect(b.mapped).toBe(false);
    expect((a.data as Float32Array)[300_000]).toBe(150_000);
    expect(Buffer.compare(Buffer.from((a.data as Float32Array).buffer, a.data.byteOffset, a.data.byteLength), Buffer.from(big.buffer))).toBe(0);
  });
  it('writes atomically: no temp files are left behind', () => {
    writeNpy(join(dir, 'atomic.npy'), new Float32Array(3));
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect(readFileSync(join(dir, 'atomic.npy')).byteLength).toBe(128 + 12);
  });
});

describe('npy rejects bad files with a one-line error naming file and field', () => {
  const f4 = new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer);
  it('truncated data', async () => {
    const p = join(dir, 'trunc.npy');
    writeNpy(p, new Float32Array(100), [10, 10]);
    const full = readFileSync(p);
    writeFileSync(p, full.subarray(0, full.byteLength - 5));
    const e = await expectError(readNpy(p), 'E_FORMAT', 'trunc.npy', 'truncated', '[10, 10]');
    expect(e.field).toBe('data');
    await expectError(Promise.resolve().then(() => readNpyHeader(p)), 'E_FORMAT', 'truncated');
  });
  it('truncated header', async () => {
    const p = join(dir, 'trunchead.npy');
    writeNpy(p, new Float32Array(4));
    writeFileSync(p, readFileSync(p).subarray(0, 30));
    await expectError(readNpy(p), 'E_FORMAT', 'trunchead.npy', 'truncated');
  });
  it('fortran order', async () => {
    const p = rawNpy('fortran.npy', "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", f4);
    await expectError(readNpy(p), 'E_FORMAT', 'fortran.npy', 'fortran_order', 'Fortran');
  });
  it('big-endian', async () => {
    const p = rawNpy('be.npy', "{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }", f4);
    await expectError(readNpy(p), 'E_DTYPE', 'be.npy', 'descr', 'big-endian');
  });
  it('bad magic', async () => {
    const p = join(dir, 'magic.npy');
    writeFileSync(p, Buffer.from('PK\x03\x04 this is a zip, not an npy file'));
    await expectError(readNpy(p), 'E_FORMAT', 'magic.npy', 'magic');
  });
  it('unsupported and object dtypes, structured arrays', async () => {
    await expectError(readNpy(rawNpy('f2.npy', "{'descr': '<f2', 'fortran_order': False, 'shape': (8,), }", f4)), 'E_DTYPE', 'f2.npy', "'<f2'");
    await expectError(readNpy(rawNpy('obj.npy', "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", f4)), 'E_DTYPE', 'obj.npy', 'object');
    await expectError(
      readNpy(rawNpy('rec.npy', "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (4,), }", f4)),
      'E_DTYPE',
      'rec.npy',
      'structured',
    );
  });
  it('unknown version, malformed shape, missing file, a directory', async () => {
    await expectError(readNpy(rawNpy('v9.npy', "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", f4, 9)), 'E_FORMAT', 'version');
    await expectError(readNpy(rawNpy('shape.npy', "{'descr': '<f4', 'fortran_order': False, 'shape': (-4,), }", f4)), 'E_FORMAT', 'shape');
    await expectError(readNpy(join(dir, 'nope.npy')), 'E_FILE', 'nope.npy', 'no such file');
    await expectError(readNpy(dir), 'E_FILE', 'directory');
  });
  it('encodeNpy refuses a shape that does not match the data', () => {
    expect(() => encodeNpy(new Float32Array(3), [2, 2])).toThrow(RiverbedError);
  });
});

describe('the header is the dict numpy reads, and nothing else', () => {
  const f4 = new Uint8Array(16);
  it('accepts what numpy and other writers write', async () => {
    for (const [name, dict] of [
      ['np.npy', "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }"],
      ['dq.npy', '{"descr": "<f4", "fortran_order": False, "shape": (2, 2)}'],
      ['long.npy', "{'shape': (4L,), 'fortran_order': False, 'descr': '<f4'}"],
      ['tight.npy', "{'descr':'<f4','fortran_order':False,'shape':(1,4,),}"],
    ]) {
      const a = await readNpy(rawNpy(name!, dict!, f4));
      expect(a.data.length, name).toBe(4);
    }
    expect((await readNpy(rawNpy('scalar.npy', "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", f4.subarray(0, 4)))).shape).toEqual([]);
  });
  it('refuses trailing junk, a second dict, unknown or repeated keys, and shapes that are not tuples', async () => {
    const cases: [string, string, string][] = [
      ['junk.npy', "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), } junk", 'trailing bytes after the header dict'],
      ['two.npy', "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }{'descr': '<f8'}", 'trailing bytes'],
      ['hash.npy', "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), } # x", 'trailing bytes'],
      ['extra.npy', "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'x': 1}", "unexpected key 'x'"],
      ['twice.npy', "{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (4,)}", "key 'descr' repeated"],
      ['notuple.npy', "{'descr': '<f4', 'fortran_order': False, 'shape': (4)}", 'shape must be a tuple'],
      ['list.npy', "{'descr': '<f4', 'fortran_order': False, 'shape': [4]}", 'shape must be a tuple'],
      ['gap.npy', "{'descr': '<f4', 'fortran_order': False, 'shape': (2,,2)}", 'empty entry in shape'],
      ['nobrace.npy', "'descr': '<f4', 'fortran_order': False, 'shape': (4,)", 'expected "{"'],
      ['open.npy', "{'descr': '<f4', 'fortran_order': False, 'shape': (4,)", 'expected "," or "}"'],
      ['fo.npy', "{'descr': '<f4', 'fortran_order': 0, 'shape': (4,)}", 'fortran_order must be True or False'],
    ];
    for (const [name, dict, why] of cases) await expectError(readNpy(rawNpy(name, dict, f4)), 'E_FORMAT', name, 'header', why);
    // the header checks run on the header alone too (readNpyHeader, column reads)
    await expectError(Promise.resolve().then(() => readNpyHeader(join(dir, 'junk.npy'))), 'E_FORMAT', 'trailing bytes');
  });
});
