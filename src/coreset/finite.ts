/**
 * Finding NaN/Inf in a loss trajectory, fast.
 *
 * A plain JS scan costs ~1.6 ns per element (80 ms for 1 M × 50), more than the whole CLD
 * kernel. When the native addon is loaded, its multi-threaded streaming sum decides instead: a
 * sum of finite float32 values accumulated in float64 cannot overflow, so a finite sum proves
 * every element finite (NaN and ±Inf propagate through addition). Only when the sum is not
 * finite does the JS scan run, to name the first bad element.
 *
 * Layering note: this is a host helper, not a Backend kernel; it reaches the addon through the
 * native backend module's `nativeSumBandwidth` export, loaded lazily.
 */
type SumFn = (a: Float32Array) => number;
let nativeSum: SumFn | null | undefined;

/** Arrays smaller than this are scanned in JS (the addon call is not worth it). */
const NATIVE_MIN = 1 << 16;

async function loadNativeSum(): Promise<SumFn | null> {
  if (nativeSum === undefined) {
    try {
      const mod = (await import('../backends/native/index.js')) as {
        nativeAvailability?: () => { available: boolean };
        nativeSumBandwidth?: SumFn;
      };
      nativeSum = mod.nativeAvailability?.().available && typeof mod.nativeSumBandwidth === 'function' ? mod.nativeSumBandwidth : null;
    } catch {
      nativeSum = null;
    }
  }
  return nativeSum;
}

/** Loads the native sum now, so `findNonFinite` can use it (it is synchronous). */
export async function prepareFiniteCheck(): Promise<void> {
  await loadNativeSum();
}

/** Index of the first NaN/±Inf element, or −1. */
export function findNonFinite(a: Float32Array | Float64Array): number {
  if (a instanceof Float32Array && a.length >= NATIVE_MIN && nativeSum) {
    let s: number;
    try {
      s = nativeSum(a);
    } catch {
      s = NaN;
    }
    if (Number.isFinite(s)) return -1;
  }
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    if (v - v !== 0) return i;
  }
  return -1;
}
