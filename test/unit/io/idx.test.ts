import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseIdx, readIdx } from '../../../src/io/idx.js';
import { mnistDataDir } from '../../../src/data/mnist.js';

function idx(dims: number[], data: number[], dtype = 0x08): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  out[2] = dtype;
  out[3] = dims.length;
  const v = new DataView(out.buffer);
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

describe('IDX reader', () => {
  it('reads a tiny hand-made file (big-endian dims, ubyte data)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'riverbed-idx-'));
    const p = join(dir, 'tiny-idx3-ubyte');
    writeFileSync(p, idx([2, 3, 2], [0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255]));
    const a = await readIdx(p);
    expect(a.shape).toEqual([2, 3, 2]);
    expect(Array.from(a.data)).toEqual([0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255]);
    expect(parseIdx(idx([300], new Array(300).fill(7))).shape).toEqual([300]);
  });

  it('rejects bad magic, other dtypes, truncation and trailing bytes', async () => {
    const bad = idx([2], [1, 2]);
    bad[0] = 1;
    expect(() => parseIdx(bad, 'm')).toThrow(/m: bad IDX magic/);
    expect(() => parseIdx(idx([2], [1, 2, 3, 4, 5, 6, 7, 8], 0x0d), 'm')).toThrow(/dtype 0x0d \(float\)/);
    expect(() => parseIdx(idx([3], [1, 2]), 'm')).toThrow(/truncated IDX data/);
    expect(() => parseIdx(idx([2, 2], []).subarray(0, 9), 'm')).toThrow(/truncated IDX header/);
    expect(() => parseIdx(idx([1], [1, 2]), 'm')).toThrow(/1 trailing bytes/);
    await expect(readIdx('/nonexistent/x-idx1-ubyte')).rejects.toMatchObject({ code: 'E_FILE' });
  });

  it('reads the real MNIST headers', async () => {
    const dir = mnistDataDir();
    const labels = await readIdx(join(dir, 't10k-labels-idx1-ubyte'));
    expect(labels.shape).toEqual([10_000]);
    expect(Array.from(labels.data.subarray(0, 5))).toEqual([7, 2, 1, 0, 4]);
    const images = await readIdx(join(dir, 't10k-images-idx3-ubyte'));
    expect(images.shape).toEqual([10_000, 28, 28]);
  });
});
