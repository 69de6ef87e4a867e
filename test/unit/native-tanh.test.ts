/**
 * The native backend's vectorised float tanh (native/vmath.h tanh_f) and its derivatives against
 * Math.tanh and 1/cosh² in float64, over a dense sweep of [−20, 20] and the awkward points: ±0,
 * subnormals, the polynomial/exponential switch at |x| = 0.625, the saturated tails where 1 − t²
 * would cancel, the exponent clamp at |x| ≈ 43.5, huge values, ±∞ and NaN. Errors are counted in
 * float ulps of the true value, so a formula that loses precision (1 − t² near saturation, a
 * double rounding) fails by thousands of ulps, not by a hair.
 */
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/backend.js';
import { availability } from '../helpers/backends.js';

const why = await availability('native');
const inCI = process.env.CI === 'true' || process.env.CI === '1';
if (why && inCI) throw new Error(`CI requires the native backend, but it is unavailable: ${why}`);
if (why) console.warn(`[riverbed tests] SKIPPING native tanh tests: ${why}`);

/** The spacing of float32 numbers at |v| (the subnormal spacing below the normal range). */
function ulpF32(v: number): number {
  const a = Math.abs(v);
  if (a < 2 ** -126) return 2 ** -149;
  return 2 ** (Math.floor(Math.log2(a)) - 23);
}

function sweep(): Float32Array {
  const xs: number[] = [];
  for (let i = -200_000; i <= 200_000; i++) xs.push(i * 1e-4); // [−20, 20], step 1e-4
  const specials = [
    0, -0, 1e-45, -1e-45, 1e-40, 1e-30, -1e-20, 1e-8, 3e-4, 0.1, 0.5, 0.6249999, 0.625, 0.6250001, 1, 2, 4, 8, 9, 9.01, 10, 15, 30,
    43, 43.4, 43.5, 43.6, 44, 50, 52, 87, 88, 89, 100, 1e4, 1e30, 3.4e38,
  ];
  for (const s of specials) xs.push(s, -s);
  return Float32Array.from(xs);
}

describe.skipIf(!!why)('native tanh (float, vectorised) against Math.tanh', () => {
  it('tanh, tanh′ and tanh″ are within a few float ulps of the float64 values over the whole range', async () => {
    const { createNativeBackend } = await import('../../src/backends/native/index.js');
    const be: Backend = createNativeBackend();
    const x = sweep();
    const n = x.length;
    const xt = be.upload(x, [n]);
    const ones = be.upload(new Float32Array(n).fill(1), [n]);
    const zeros = be.upload(new Float32Array(n), [n]);
    const t = await be.read(be.activation('tanh', xt));
    const d1 = await be.read(be.activationGrad('tanh', xt, ones)); // 1·f′(x)
    const d2 = await be.read(be.activationRGrad('tanh', xt, ones, ones, zeros)); // 1·f″(x)·1 + 0·f′(x)
    const d1r = await be.read(be.activationRGrad('tanh', xt, zeros, zeros, ones)); // 0 + 1·f′(x)
    be.dispose();

    // Past |x| ≈ 43.5 the exponent is clamped: f′ and f″ come out ~1e-37 where the true values are
    // smaller still (they underflow float32 past |x| ≈ 52); that is the only absolute slack.
    const tiny = 1e-36;
    const worst = { t: 0, d1: 0, d2: 0 };
    const at = { t: 0, d1: 0, d2: 0 };
    for (let i = 0; i < n; i++) {
      const v = x[i]!;
      const tt = Math.tanh(v);
      const c = Math.cosh(v);
      const s = 1 / (c * c); // 1 − tanh², without cancellation
      const want = { t: tt, d1: s, d2: -2 * tt * s };
      const got = { t: t[i]!, d1: d1[i]!, d2: d2[i]! };
      for (const k of ['t', 'd1', 'd2'] as const) {
        const err = Math.abs(got[k] - want[k]);
        const ulps = err <= (k === 't' ? 0 : tiny) ? 0 : err / ulpF32(want[k]);
        if (!(ulps <= worst[k])) ((worst[k] = Number.isNaN(ulps) ? Infinity : ulps), (at[k] = v));
      }
      expect(d1r[i], `f′ through activationGrad and activationRGrad at x = ${v}`).toBe(d1[i]);
    }
    // Measured: 2.0 / 3.9 / 6.4 ulps, the same for every target clone (tanh_f compiled alone with
    // g++ -O3 for x86-64, AVX2, AVX2+FMA and AVX-512 against tanhl); the bounds add about one ulp.
    expect(worst.t, `worst tanh error (ulps) at x = ${at.t}`).toBeLessThanOrEqual(3);
    expect(worst.d1, `worst tanh′ error (ulps) at x = ${at.d1}`).toBeLessThanOrEqual(5);
    expect(worst.d2, `worst tanh″ error (ulps) at x = ${at.d2}`).toBeLessThanOrEqual(8);
  });

  it('saturates exactly, keeps the sign of zero, and propagates NaN', async () => {
    const { createNativeBackend } = await import('../../src/backends/native/index.js');
    const be: Backend = createNativeBackend();
    const x = Float32Array.from([Infinity, -Infinity, 20, -20, 0, -0, NaN]);
    const t = await be.read(be.activation('tanh', be.upload(x, [x.length])));
    be.dispose();
    expect(Array.from(t.subarray(0, 4))).toEqual([1, -1, 1, -1]);
    expect(Object.is(t[4], 0)).toBe(true);
    expect(Object.is(t[5], -0)).toBe(true);
    expect(t[6]).toBeNaN();
  });
});
