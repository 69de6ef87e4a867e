/**
 * findNonFinite: the index of the first NaN/±Inf, below and above the size where the addon's
 * streaming sum decides (2^16), with and without the addon, and with finite values whose float32
 * sum would overflow (the sum accumulates in float64, so they must still count as finite).
 */
import { describe, expect, it, vi } from 'vitest';
import { findNonFinite } from '../../../src/coreset/finite.js';
import { randomArray } from '../../helpers/backends.js';

const cases = (n: number): [string, Float32Array | Float64Array, number][] => {
  const base = randomArray(n, n, -3, 3);
  const withAt = (v: number, at: number[]): Float32Array => {
    const a = base.slice();
    for (const i of at) a[i] = v;
    return a;
  };
  const huge = new Float32Array(n).fill(3e38);
  return [
    ['finite', base, -1],
    ['NaN at the end', withAt(NaN, [n - 1]), n - 1],
    ['+Inf then NaN', withAt(Infinity, [Math.floor(n / 3)]).map((v, i) => (i === n - 2 ? NaN : v)), Math.floor(n / 3)],
    ['-Inf first', withAt(-Infinity, [0]), 0],
    ['float32 max-sized values', huge, -1],
    ['float64 with NaN', Float64Array.from(withAt(NaN, [5])), 5],
  ];
};

describe('findNonFinite', () => {
  for (const n of [7, 65_536, 200_003]) {
    it(`names the first bad element (n = ${n})`, () => {
      for (const [what, a, want] of cases(n)) expect(findNonFinite(a), what).toBe(want);
    });
  }

  it('gives the same answers without the addon (RIVERBED_DISABLE_NATIVE=1, fresh modules), silently', async () => {
    vi.resetModules();
    const saved = process.env.RIVERBED_DISABLE_NATIVE;
    process.env.RIVERBED_DISABLE_NATIVE = '1';
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const fresh = await import('../../../src/coreset/finite.js');
      const host = await import('../../../src/backends/native/host.js');
      expect(host.nativeAvailability().available).toBe(false);
      for (const [what, a, want] of cases(100_003)) expect(fresh.findNonFinite(a), what).toBe(want);
      expect(warn, 'a JS fallback is not an error worth printing').not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
      if (saved === undefined) delete process.env.RIVERBED_DISABLE_NATIVE;
      else process.env.RIVERBED_DISABLE_NATIVE = saved;
      vi.resetModules();
    }
  });
});
