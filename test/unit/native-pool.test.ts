/**
 * The native backend recycles the arrays of freed tensors (src/backends/native/host-pool.ts):
 * reuse must never change a result, a freed tensor must refuse to be used, and a double free
 * must not hand one array to two tensors.
 */
import { describe, expect, it } from 'vitest';
import { JsBackend } from '../../src/backends/js/index.js';
import { HostPool } from '../../src/backends/native/host-pool.js';
import { RiverbedError } from '../../src/errors.js';
import { availability, expectClose, randomArray } from '../helpers/backends.js';

const why = await availability('native');
const inCI = process.env.CI === 'true' || process.env.CI === '1';
if (why && inCI) throw new Error(`CI requires the native backend, but it is unavailable: ${why}`);
if (why) console.warn(`[riverbed tests] SKIPPING native pool tests: ${why}`);
const { NativeBackend, NativeTensor } = await import('../../src/backends/native/index.js');

describe('HostPool', () => {
  it('hands back an array of the same length, never one below the minimum, and keeps under its cap', () => {
    const pool = new HostPool(3 * 4096 * 4);
    const a = pool.take(4096);
    pool.give(a);
    expect(pool.bytes).toBe(4096 * 4);
    expect(pool.take(4095)).not.toBe(a);
    expect(pool.take(4096)).toBe(a);
    expect(pool.bytes).toBe(0);
    const small = new Float32Array(10);
    pool.give(small);
    expect(pool.bytes).toBe(0);
    for (let i = 0; i < 5; i++) pool.give(new Float32Array(4096));
    expect(pool.bytes).toBe(3 * 4096 * 4);
    expect(new HostPool(0).take(4096)).toBeInstanceOf(Float32Array);
  });
});

describe.skipIf(!!why)('native backend tensor pool', () => {
  const n = 5000;
  it('reuses a freed array for the next output of that length, with the right values', async () => {
    const be = new NativeBackend();
    const ref = new JsBackend();
    const data = randomArray(n, 1);
    const x = be.upload(data, [n]);
    const y = be.scale(3, x);
    const yArray = (y as InstanceType<typeof NativeTensor>).data;
    be.free(y);
    const z = be.scale(-2, x);
    expect((z as InstanceType<typeof NativeTensor>).data).toBe(yArray);
    expectClose(await be.read(z), await ref.read(ref.scale(-2, ref.upload(data, [n]))), undefined, 'reused output');
    be.free(z);
    const zeros = be.zeros([50, 100]);
    expect(Array.from(await be.read(zeros)).every((v) => v === 0)).toBe(true);
    be.dispose();
  });

  it('refuses a freed tensor and ignores a second free', async () => {
    const be = new NativeBackend();
    const x = be.upload(randomArray(n, 2), [n]);
    const y = be.scale(2, x);
    be.free(y);
    be.free(y);
    await expect(be.read(y)).rejects.toThrow(RiverbedError);
    expect(() => be.axpy(1, y, x)).toThrow(/freed/);
    const a = be.scale(1, x);
    const b = be.scale(1, x);
    expect((a as InstanceType<typeof NativeTensor>).data).not.toBe((b as InstanceType<typeof NativeTensor>).data);
    be.dispose();
  });

  it('RIVERBED_NATIVE_POOL_MB=0 semantics: a zero cap never reuses', () => {
    const be = new NativeBackend(undefined, 0);
    const x = be.upload(randomArray(n, 3), [n]);
    const y = be.scale(2, x);
    const yArray = (y as InstanceType<typeof NativeTensor>).data;
    be.free(y);
    expect((be.scale(2, x) as InstanceType<typeof NativeTensor>).data).not.toBe(yArray);
  });
});
