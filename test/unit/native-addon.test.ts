/**
 * What the native backend adds beyond the shared kernel parity test: the file mapping, the
 * bandwidth yardstick, its input checks, and the "unavailable, said once" path.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { RiverbedError } from '../../src/errors.js';
import { availability, randomArray } from '../helpers/backends.js';

const why = await availability('native');
const inCI = process.env.CI === 'true' || process.env.CI === '1';
if (why && inCI) throw new Error(`CI requires the native backend, but it is unavailable: ${why}`);
if (why) console.warn(`[riverbed tests] SKIPPING native addon tests: ${why}`);

const native = await import('../../src/backends/native/index.js');

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return e instanceof RiverbedError ? e.code : `not a RiverbedError: ${String(e)}`;
  }
  return undefined;
}

describe.skipIf(!!why)('native addon', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'riverbed-native-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reports its threads and instruction set', () => {
    const a = native.nativeAvailability();
    expect(a.available).toBe(true);
    if (!a.available) return;
    expect(a.threads).toBeGreaterThanOrEqual(1);
    expect(['avx512f', 'avx2', 'generic']).toContain(a.isa);
    const be = native.createNativeBackend();
    expect(be.info().name).toBe('native');
    expect(be.info().threads).toBe(a.threads);
    expect(be.info().description).toContain(a.isa);
    be.dispose();
  });

  it('maps a file read-only without copying it', () => {
    const file = path.join(dir, 'data.bin');
    const data = randomArray(100_003, 7);
    writeFileSync(file, Buffer.from(data.buffer));
    const buf = native.mapFileReadOnly(file)!;
    expect(buf.byteLength).toBe(data.byteLength);
    expect(Array.from(new Float32Array(buf, 0, 5))).toEqual(Array.from(data.subarray(0, 5)));
    expect(new Float32Array(buf)[100_002]).toBe(data[100_002]);
    const empty = path.join(dir, 'empty.bin');
    writeFileSync(empty, '');
    expect(native.mapFileReadOnly(empty)!.byteLength).toBe(0);
  });

  it('names the file when mapping fails', () => {
    const missing = path.join(dir, 'missing.npy');
    expect(codeOf(() => native.mapFileReadOnly(missing))).toBe('E_FILE');
    expect(() => native.mapFileReadOnly(missing)).toThrow(missing);
    expect(codeOf(() => native.mapFileReadOnly(dir))).toBe('E_FILE');
  });

  it('sums for the bandwidth yardstick', () => {
    const x = randomArray(1_000_003, 3);
    let want = 0;
    for (const v of x) want += v;
    expect(Math.abs(native.nativeSumBandwidth(x) - want)).toBeLessThan(1e-3);
    expect(native.nativeSumBandwidth(new Float32Array(0))).toBe(0);
  });

  it('rejects bad input with RiverbedErrors instead of reading out of bounds', async () => {
    const be = native.createNativeBackend();
    const T = new Float32Array(3 * 4);
    const z = new Float64Array(2 * 2);
    await expect(be.cldScores({ trajectory: T, epochs: 3, samples: 4, labels: Int32Array.of(0, 1, 2, 0), numClasses: 2, classZ: z })).rejects.toMatchObject({ code: 'E_LABEL' });
    await expect(be.cldScores({ trajectory: T, epochs: 3, samples: 4, labels: Int32Array.of(0, -1, 1, 0), numClasses: 2, classZ: z })).rejects.toMatchObject({ code: 'E_LABEL' });
    await expect(be.cldScores({ trajectory: T, epochs: 3, samples: 5, labels: new Int32Array(5), numClasses: 2, classZ: z })).rejects.toMatchObject({ code: 'E_SHAPE' });
    await expect(be.cldScores({ trajectory: T, epochs: 3, samples: 4, labels: new Int32Array(4), numClasses: 2, classZ: new Float64Array(3) })).rejects.toMatchObject({ code: 'E_SHAPE' });
    const logits = be.upload(new Float32Array(6), [2, 3]);
    expect(codeOf(() => be.softmaxCrossEntropy(logits, be.uploadInt(Int32Array.of(0, 3), [2])))).toBe('E_LABEL');
    expect(codeOf(() => be.gatherRows(logits, be.uploadInt(Int32Array.of(2), [1])))).toBe('E_ARG');
    expect(codeOf(() => be.addBias(logits, be.upload(new Float32Array(2), [2])))).toBe('E_SHAPE');
    expect(codeOf(() => be.activation('relu', be.uploadInt(Int32Array.of(1), [1])))).toBe('E_DTYPE');
    be.dispose();
  });

  it('runs the CLD kernel off the main thread (a promise, not a blocking call)', async () => {
    const be = native.createNativeBackend();
    const N = 200_000;
    const E = 20;
    const p = be.cldScores({ trajectory: randomArray(E * N, 5, 0, 3), epochs: E, samples: N, labels: new Int32Array(N), numClasses: 1, classZ: new Float64Array(E - 1).fill(0.5) });
    expect(p).toBeInstanceOf(Promise);
    const r = await p;
    expect(r.length).toBe(N);
    be.dispose();
  });
});

describe('native addon unavailable', () => {
  it('says why once, throws E_BACKEND, and mapFileReadOnly returns undefined', async () => {
    vi.resetModules();
    const saved = process.env.RIVERBED_DISABLE_NATIVE;
    process.env.RIVERBED_DISABLE_NATIVE = '1';
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const fresh = await import('../../src/backends/native/index.js');
      const a = fresh.nativeAvailability();
      expect(a.available).toBe(false);
      expect(warn).not.toHaveBeenCalled(); // asking whether it is available is not asking for it
      expect(() => fresh.createNativeBackend()).toThrow(/native backend unavailable/);
      try {
        fresh.createNativeBackend();
      } catch (e) {
        expect((e as RiverbedError).code).toBe('E_BACKEND');
      }
      expect(fresh.mapFileReadOnly('/nonexistent')).toBeUndefined();
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]![0])).toMatch(/RIVERBED_DISABLE_NATIVE/);
    } finally {
      warn.mockRestore();
      if (saved === undefined) delete process.env.RIVERBED_DISABLE_NATIVE;
      else process.env.RIVERBED_DISABLE_NATIVE = saved;
      vi.resetModules();
    }
  });
});
