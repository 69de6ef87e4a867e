/**
 * Long native work called through the async API leaves the event loop free: a 1 ms setInterval
 * keeps firing while one CLD scoring (a libuv worker) and one big-model Hessian-vector product
 * (matvecAsync → the fused product on a libuv worker) are pending. A blocking call would let no
 * tick through until it returned. Each job is a single native call (one batch, one kernel), so
 * the ticks cannot come from gaps between calls. Nothing is timed: only ticks are counted.
 */
import { describe, expect, it } from 'vitest';
import { createBackend, lanczos, RiverbedError } from '../../src/index.js';
import { availability } from '../helpers/backends.js';
import { cldInput, type HvpJob, hvpProblem } from '../helpers/native-jobs.js';

const why = await availability('native');
const inCI = process.env.CI === 'true' || process.env.CI === '1';
if (why && inCI) throw new Error(`CI requires the native backend, but it is unavailable: ${why}`);
if (why) console.warn(`[riverbed tests] SKIPPING native event-loop tests: ${why}`);

/** Ticks of a 1 ms interval while `p` is pending. */
async function ticksDuring<T>(start: () => Promise<T>): Promise<{ ticks: number; value: T }> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  try {
    const value = await start();
    return { ticks, value };
  } finally {
    clearInterval(timer);
  }
}

const bitsEqual = (a: Float32Array, b: Float32Array) =>
  a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe.skipIf(!!why)('native work through the async API does not block the event loop', () => {
  it('a timer keeps firing during one large CLD scoring', async () => {
    const backend = await createBackend('native');
    // 80 epochs × 1 M samples (320 MB) with 100 000 classes: the class table (63 MB) misses the
    // cache on most elements, which makes this one call long (0.7–1.1 s on the 2-core dev VM)
    // without a larger input.
    const input = cldInput({ kind: 'cld', epochs: 80, samples: 1_000_000, classes: 100_000, seed: 5 });
    const { ticks, value } = await ticksDuring(() => backend.cldScores(input));
    expect(value.length).toBe(1_000_000);
    expect(ticks).toBeGreaterThanOrEqual(5);
    backend.dispose();
  });

  it('a timer keeps firing during one big-model Hessian-vector product, which equals the synchronous one', async () => {
    const backend = await createBackend('native');
    // 784-1024-1024-10 (1.86 M parameters), tanh, one batch of 4096: a single fused native call (0.9–1.4 s on the 2-core dev VM).
    const job: HvpJob = { kind: 'hvp', features: 784, hidden: [1024, 1024], classes: 10, activation: 'tanh', samples: 4096, batch: 4096, seed: 9 };
    const { op, v, dispose } = hvpProblem(backend, job);
    try {
      // First product: computes and keeps the forward/backward state, then the R-passes.
      const first = await ticksDuring(() => op.matvecAsync!(v));
      expect(first.ticks).toBeGreaterThanOrEqual(5);
      // Second: reuses the kept state (R-passes only), still off the main thread.
      const second = await ticksDuring(() => op.matvecAsync!(v));
      expect(second.ticks).toBeGreaterThanOrEqual(3);
      const sync = op.matvec(v);
      const [a, b2, c] = await Promise.all([backend.read(first.value), backend.read(second.value), backend.read(sync)]);
      expect(bitsEqual(a, c)).toBe(true);
      expect(bitsEqual(b2, c)).toBe(true);
      expect(c.some((x) => x !== 0)).toBe(true);
      for (const t of [first.value, second.value, sync]) backend.free(t);
    } finally {
      dispose();
      backend.dispose();
    }
  });

  it('the curvature algorithms take the async product, and a product cannot start while one is running', async () => {
    const backend = await createBackend('native');
    const job: HvpJob = { kind: 'hvp', features: 64, hidden: [128], classes: 10, activation: 'relu', samples: 1024, batch: 512, seed: 3 };
    const { op, v, dispose } = hvpProblem(backend, job);
    try {
      // An operator whose synchronous product throws: lanczos must go through matvecAsync.
      let asyncProducts = 0;
      const asyncOnly = {
        ...op,
        matvec: () => {
          throw new Error('synchronous product called');
        },
        matvecAsync: (x: typeof v) => {
          asyncProducts++;
          return op.matvecAsync!(x);
        },
      };
      const r = await lanczos(asyncOnly, { k: 1, maxMatvecs: 6, seed: 1 });
      expect(r.eigenvalues.length).toBe(1);
      expect(asyncProducts).toBeGreaterThan(0);
      // apply() while a product of the same operator is pending would race on its kept state.
      const pending = op.matvecAsync!(v);
      let code: string | undefined;
      try {
        op.matvec(v);
      } catch (e) {
        code = e instanceof RiverbedError ? e.code : String(e);
      }
      expect(code).toBe('E_ARG');
      backend.free(await pending);
    } finally {
      dispose();
      backend.dispose();
    }
  });
});
