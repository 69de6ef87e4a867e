/**
 * Which backends a test file runs against, and the shared parity comparison.
 *
 * js always runs. native runs when the addon loaded (in CI it must). webgpu runs when an
 * adapter exists; without one it is skipped *visibly* on a laptop, and in CI (CI=true) the
 * harness throws so the run fails instead of silently skipping.
 */
import { expect } from 'vitest';
import type { Backend, BackendName } from '../../src/backends/backend.js';
import { createBackend } from '../../src/backends/select.js';

export interface BackendUnderTest {
  name: BackendName;
  /** Set when the backend cannot run here; the test suite shows it as skipped with this reason. */
  skip?: string;
  create: () => Promise<Backend>;
}

const inCI = process.env.CI === 'true' || process.env.CI === '1';

export async function availability(name: BackendName): Promise<string | undefined> {
  if (name === 'native') {
    const { nativeAvailability } = await import('../../src/backends/native/index.js');
    const a = nativeAvailability();
    return a.available ? undefined : a.reason;
  }
  if (name === 'webgpu') {
    const { probeWebGpu } = await import('../../src/backends/webgpu/index.js');
    const p = await probeWebGpu();
    return p.available ? undefined : p.reason;
  }
  return undefined;
}

/** The backends to test; `names` defaults to all three. */
export async function backendsUnderTest(names: BackendName[] = ['js', 'native', 'webgpu']): Promise<BackendUnderTest[]> {
  const out: BackendUnderTest[] = [];
  for (const name of names) {
    const why = await availability(name);
    if (why && inCI) throw new Error(`CI requires the ${name} backend, but it is unavailable: ${why}`);
    if (why) console.warn(`[riverbed tests] SKIPPING ${name} backend: ${why}`);
    out.push({ name, skip: why, create: () => createBackend(name) });
  }
  return out;
}

export interface Tolerance {
  rtol: number;
  atol: number;
}
export const DEFAULT_TOL: Tolerance = { rtol: 1e-4, atol: 1e-6 };

/** |a − b| ≤ atol + rtol·|b| elementwise, reporting the worst element on failure. */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: Tolerance = DEFAULT_TOL,
  label = '',
): void {
  expect(actual.length, `${label} length`).toBe(expected.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const b = expected[i]!;
    const excess = Math.abs(a - b) - (tol.atol + tol.rtol * Math.abs(b));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    expect.fail(
      `${label}: element ${worst} is ${actual[worst]} but expected ${expected[worst]} (rtol ${tol.rtol}, atol ${tol.atol})`,
    );
  }
}

/** Deterministic pseudo-random numbers for test inputs (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

export function randomInts(n: number, seed: number, hiExclusive: number): Int32Array {
  const r = rng(seed);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r() * hiExclusive);
  return out;
}

/** Sizes every elementwise kernel is tried on: tiny, odd, and past lavapipe's 65 535 loop limit. */
export const AWKWARD_SIZES = [1, 7, 257, 65_537] as const;
