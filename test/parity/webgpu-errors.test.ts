/**
 * GPU errors reach the caller as RiverbedErrors, never as printed warnings: a validation error
 * rejects the read() of every buffer it lost (and of what was computed from them) and the first
 * sync(); out-of-memory is E_MEMORY; a lost device makes every later call E_BACKEND. Tensors the
 * error did not touch stay readable and the backend stays usable. A child process checks that
 * Dawn prints none of it.
 *
 * Skips visibly without an adapter (and fails in CI, through backendsUnderTest).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { WebGpuBackend } from '../../src/backends/webgpu/backend.js';
import { createWebGpuBackend } from '../../src/backends/webgpu/index.js';
import { GpuTensor } from '../../src/backends/webgpu/tensor.js';
import { RiverbedError } from '../../src/errors.js';
import { backendsUnderTest, expectClose, randomArray } from '../helpers/backends.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const [gpuCase] = await backendsUnderTest(['webgpu']);
const skip = gpuCase!.skip;

const STORAGE = 0x80 | 0x4 | 0x8;
const AXPY = { count: 0, first: 0, xBase: 0, yBase: 0, oBase: 0, alpha: 1 };

async function rejection(p: Promise<unknown>): Promise<RiverbedError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(RiverbedError);
    return e as RiverbedError;
  }
  throw new Error('expected a rejection');
}

/** A dispatch Dawn refuses: a 2-byte binding (storage bindings are multiples of 4 bytes). */
function badAxpy(be: WebGpuBackend, x: GPUBuffer, out: GPUBuffer, n: number): void {
  be.rt.dispatch('axpy', 'axpy', {}, { ...AXPY, count: n }, { x: { buffer: x, offset: 0, size: 2 }, y: x, o: out }, Math.ceil(n / 256));
}

describe.skipIf(!!skip)('webgpu errors reject, never print', () => {
  it('a validation error rejects read() of what it lost and of what was computed from it; other tensors and the backend stay usable', async () => {
    const be = (await createWebGpuBackend()) as WebGpuBackend;
    try {
      const n = 1000;
      const data = randomArray(n, 1);
      const a = be.upload(data, [n]);
      const before = be.scale(2, a);
      await be.sync();

      const lostT = new GpuTensor('f32', [n], be.rt.acquire(n * 4));
      badAxpy(be, (a as GpuTensor).buffer, lostT.buffer, n);
      be.rt.flush(true); // the next commands go to a segment of their own, which succeeds
      const derived = be.scale(3, lostT); // computed from a lost buffer: lost too
      const clean = be.scale(5, a); // same segment, untouched by the error

      const e1 = await rejection(be.read(lostT));
      expect(e1.code).toBe('E_BACKEND');
      expect(e1.message).toMatch(/^webgpu validation error: /);
      expect(e1.message).toMatch(/riverbed:axpy:axpy/); // the bind group's label names family and entry
      expect(e1.message).not.toMatch(/\n/);
      const e2 = await rejection(be.read(derived));
      expect(e2.message).toBe(e1.message);

      expectClose(await be.read(before), data.map((v) => 2 * v), { rtol: 0, atol: 0 }, 'before the error');
      expectClose(await be.read(clean), data.map((v) => 5 * v), { rtol: 0, atol: 0 }, 'beside the error');
      await be.sync(); // reported already: nothing left to say
      expectClose(await be.read(be.scale(7, a)), data.map((v) => 7 * v), { rtol: 0, atol: 0 }, 'after the error');

      // An error nobody reads the result of is still reported: by the next sync().
      badAxpy(be, (a as GpuTensor).buffer, be.rt.acquire(n * 4), n);
      const e3 = await rejection(be.sync());
      expect(e3.code).toBe('E_BACKEND');
      await be.sync();
      expect(be.rt.errors.length).toBe(2);
    } finally {
      be.dispose();
    }
  });

  it('a buffer past maxBufferSize is E_MEMORY at once; an out-of-memory error from the device rejects sync() with E_MEMORY', async () => {
    const be = (await createWebGpuBackend()) as WebGpuBackend;
    try {
      const max = be.gpu.maxBufferSize;
      const tooBig = Math.floor(max / 4) + 1;
      let err: unknown;
      try {
        be.zeros([tooBig]);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(RiverbedError);
      expect((err as RiverbedError).code).toBe('E_MEMORY');
      expect((err as RiverbedError).message).toMatch(/maxBufferSize/);

      // lavapipe refuses a buffer of 2³² − 1 bytes (Dawn rounds it up to 2³²) with a genuine Vulkan
      // out-of-memory error; a hardware adapter may grant it, so the check is lavapipe's.
      if (be.gpu.software && max >= 2 ** 32 - 1) {
        const raw = be.rt.device.createBuffer({ size: 2 ** 32 - 1, usage: STORAGE });
        const e = await rejection(be.sync());
        expect(e.code).toBe('E_MEMORY');
        expect(e.message).toMatch(/^webgpu out of memory: .*OUT_OF_DEVICE_MEMORY/);
        raw.destroy();
      }
      const x = be.upload(new Float32Array([1, 2, 3]), [3]);
      expect(Array.from(await be.read(be.scale(2, x)))).toEqual([2, 4, 6]);
    } finally {
      be.dispose();
    }
  });

  it('a lost device rejects the read in flight and every later call with E_BACKEND', async () => {
    const be = (await createWebGpuBackend()) as WebGpuBackend;
    const x = be.upload(randomArray(100_000, 2), [100_000]);
    const pending = be.read(be.scale(2, x));
    be.rt.device.destroy(); // not our dispose(): the device is gone under the backend
    expect((await rejection(pending)).code).toBe('E_BACKEND');
    await be.rt.device.lost;
    let later: unknown;
    try {
      be.upload(new Float32Array(4), [4]);
    } catch (e) {
      later = e;
    }
    expect(later).toBeInstanceOf(RiverbedError);
    expect((later as RiverbedError).code).toBe('E_BACKEND');
    expect((later as RiverbedError).message).toMatch(/webgpu device lost \(destroyed\).*create a new one/);
    await expect(be.sync()).rejects.toThrow(/device lost/);
    be.dispose();
  });

  it('Dawn prints nothing for these errors (child process, stderr checked)', () => {
    const dist = join(ROOT, 'dist/backends/webgpu/index.js');
    if (!existsSync(dist)) throw new Error(`${dist} is missing: run "npm run build" first (npm test does)`);
    const dir = mkdtempSync(join(tmpdir(), 'riverbed-errors-'));
    const script = join(dir, 'errors.mjs');
    writeFileSync(
      script,
      `import { createWebGpuBackend } from ${JSON.stringify(dist)};
const be = await createWebGpuBackend();
const out = {};
const x = be.upload(new Float32Array(64), [64]);
const o = be.rt.acquire(256);
be.rt.dispatch('axpy', 'axpy', {}, ${JSON.stringify({ ...AXPY, count: 64 })}, { x: { buffer: x.buffer, offset: 0, size: 2 }, y: x.buffer, o }, 1);
try { await be.sync(); } catch (e) { out.validation = e.code; }
if (be.gpu.software) {
  be.rt.device.createBuffer({ size: 2 ** 32 - 1, usage: ${STORAGE} });
  try { await be.sync(); } catch (e) { out.memory = e.code; }
}
out.after = Array.from(await be.read(be.scale(2, be.upload(new Float32Array([1, 2]), [2]))));
be.dispose();
console.log(JSON.stringify(out));
`,
    );
    const res = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 60_000 });
    expect(res.status, res.stderr).toBe(0);
    const out = JSON.parse(res.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    expect(out.validation).toBe('E_BACKEND');
    expect(out.after).toEqual([2, 4]);
    const stderr = res.stderr + res.stdout.split('\n').slice(0, -2).join('\n');
    expect(stderr).not.toMatch(/While calling|minimum binding size|OUT_OF_DEVICE_MEMORY|riverbed webgpu/i);
  });
});

if (skip) {
  describe('webgpu errors reject, never print', () => {
    it.skip(`SKIPPED: ${skip}`, () => {});
  });
}
