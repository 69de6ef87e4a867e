/** Seeded random probe vectors (host arrays, uploaded by the caller). */
import { Rng } from '../model/rng.js';

/** Entries ±1 with equal probability (Rademacher). */
export function rademacher(n: number, rng: Rng): Float32Array {
  const out = new Float32Array(n);
  let bits = 0;
  let left = 0;
  for (let i = 0; i < n; i++) {
    if (left === 0) {
      bits = rng.nextU32();
      left = 32;
    }
    out[i] = bits & 1 ? 1 : -1;
    bits >>>= 1;
    left--;
  }
  return out;
}

/** Standard normal entries (Box–Muller). */
export function gaussian(n: number, rng: Rng): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u1 = 1 - rng.next(); // (0, 1]
    const u2 = rng.next();
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

/** The stream for one purpose under a user seed (so e.g. trace probes do not depend on Lanczos's start). */
export function probeRng(seed: number, tag: string): Rng {
  return Rng.derive(seed, `curvature:${tag}`);
}
