/**
 * The native backend's environment switches: a set value must mean something or the run stops,
 * naming the variable (the addon's atoi/strcmp would read "4x" as 4 and "avx3" as the default).
 */
import { describe, expect, it } from 'vitest';
import { checkNativeEnvironment, isaFromEnv, poolBytesFromEnv, threadsFromEnv } from '../../src/backends/native/env.js';

describe('native environment switches', () => {
  it('unset or empty values mean the defaults; good values are read', () => {
    expect(threadsFromEnv({})).toBeUndefined();
    expect(threadsFromEnv({ RIVERBED_THREADS: '' })).toBeUndefined();
    expect(threadsFromEnv({ RIVERBED_THREADS: '3' })).toBe(3);
    expect(threadsFromEnv({ RIVERBED_THREADS: '256' })).toBe(256);
    expect(poolBytesFromEnv({})).toBe(512 * 2 ** 20);
    expect(poolBytesFromEnv({ RIVERBED_NATIVE_POOL_MB: '0' })).toBe(0);
    expect(poolBytesFromEnv({ RIVERBED_NATIVE_POOL_MB: '1.5' })).toBe(1.5 * 2 ** 20);
    expect(isaFromEnv({ RIVERBED_ISA: 'avx2' })).toBe('avx2');
    expect(() => checkNativeEnvironment({ RIVERBED_THREADS: '2', RIVERBED_ISA: 'generic', RIVERBED_NATIVE_POOL_MB: '64' })).not.toThrow();
  });
  it('bad values are E_ARG errors naming the variable and what it takes', () => {
    for (const v of ['0', '257', '4x', '-1', '1.5', 'abc', '0x4', ' ']) {
      expect(() => threadsFromEnv({ RIVERBED_THREADS: v }), v).toThrow(/^RIVERBED_THREADS: ".*" is not a thread count; expected an integer in \[1, 256\]/);
    }
    for (const v of ['-1', 'lots', '1e3', '0x10', 'NaN', 'Infinity', '9'.repeat(20)]) {
      expect(() => poolBytesFromEnv({ RIVERBED_NATIVE_POOL_MB: v }), v).toThrow(/^RIVERBED_NATIVE_POOL_MB: ".*" is not a size in MiB/);
    }
    for (const v of ['avx3', 'AVX2', 'sse', 'avx2 ']) {
      expect(() => isaFromEnv({ RIVERBED_ISA: v }), v).toThrow(/^RIVERBED_ISA: ".*" is not an instruction-set cap; expected one of generic, default, avx2, avx512f, avx512/);
    }
    expect(() => checkNativeEnvironment({ RIVERBED_ISA: 'avx3' })).toThrow(expect.objectContaining({ code: 'E_ARG', field: 'RIVERBED_ISA' }));
  });
  it('loading the addon with a bad value refuses instead of falling back to js', async () => {
    const before = process.env.RIVERBED_THREADS;
    process.env.RIVERBED_THREADS = '4x';
    try {
      const { nativeAddon } = await import('../../src/backends/native/addon.js'); // fresh per test file: nothing cached yet
      expect(() => nativeAddon()).toThrow(/^RIVERBED_THREADS: "4x" is not a thread count/);
      const { nativeAvailability } = await import('../../src/backends/native/index.js');
      expect(() => nativeAvailability()).toThrow(/RIVERBED_THREADS/);
    } finally {
      if (before === undefined) delete process.env.RIVERBED_THREADS;
      else process.env.RIVERBED_THREADS = before;
    }
  });
});
