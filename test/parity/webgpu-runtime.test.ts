/**
 * The WebGPU runtime beyond kernel parity (test/parity/kernels.test.ts covers every kernel):
 * batching (flushEvery 1 vs default), tiling past the storage-binding cap (forced with a tiny
 * maxBindingBytes), loops past lavapipe's 65 535-iteration cap, the pipeline cache, CLD's hard
 * cases (ulp-level differences, float64 detail below float32 resolution, epoch chunking), the
 * GELU tail, the curvature kernels tiled and batched (R-operator pieces, slice/copyInto past the
 * binding cap, the matrix × vector path, a Lanczos loop on the device), and a child process that
 * must exit by itself after dispose().
 *
 * The first block needs no GPU (layouts, dispatch maths). The rest skips visibly without an
 * adapter (and fails in CI, through backendsUnderTest).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, CldKernelInput, Tensor } from '../../src/backends/backend.js';
import { JsBackend } from '../../src/backends/js/index.js';
import { WebGpuBackend, type WebGpuOptions } from '../../src/backends/webgpu/backend.js';
import { openDevice } from '../../src/backends/webgpu/device.js';
import { RiverbedError } from '../../src/errors.js';
import { createWebGpuBackend, probeWebGpu } from '../../src/backends/webgpu/index.js';
import { cldPlan } from '../../src/backends/webgpu/kernels/cld.js';
import { matmulBlocks } from '../../src/backends/webgpu/kernels/matmul.js';
import { SHADER_DIR, bindingsFor, grid, parseLayout, parseParams, shaderLayout, shaderSource, sizeClass, writeParams } from '../../src/backends/webgpu/shader.js';
import { backendsUnderTest, expectClose, randomArray, randomInts, rng } from '../helpers/backends.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ref = new JsBackend();

describe('webgpu runtime: pure parts (no GPU)', () => {
  it('parses every family’s Params struct into 4-byte slots', () => {
    const families = readdirSync(SHADER_DIR)
      .filter((f) => f.endsWith('.wgsl'))
      .map((f) => f.slice(0, -5));
    expect(families).toEqual(expect.arrayContaining(['matmul', 'elementwise', 'reduce', 'softmax_ce', 'axpy', 'gather', 'optim', 'cld', 'act_rgrad', 'softmax_hvp', 'matvec']));
    for (const fam of families) {
      const layout = parseParams(shaderSource(fam));
      layout.fields.forEach((f, i) => expect(f.offset).toBe(4 * i));
      expect(layout.size % 16).toBe(0);
    }
    const cld = parseParams(shaderSource('cld'));
    expect(cld.fields.map((f) => f.name).slice(0, 3)).toEqual(['lanes', 'stride4', 'rows']);
    expect(cld.fields.find((f) => f.name === 'D')!.type).toBe('f32');
  });

  it('writes uniforms by name and rejects missing or unknown fields', () => {
    const layout = parseParams('struct Params { a: u32, b: f32, c: i32 }');
    expect(layout.size).toBe(16);
    const view = new DataView(new ArrayBuffer(32));
    writeParams(layout, { a: 7, b: 0.5, c: -3 }, view, 16);
    expect([view.getUint32(16, true), view.getFloat32(20, true), view.getInt32(24, true)]).toEqual([7, 0.5, -3]);
    expect(() => writeParams(layout, { a: 1, b: 2 }, view, 0)).toThrow(/"c" not given/);
    expect(() => writeParams(layout, { a: 1, b: 2, c: 3, d: 4 }, view, 0)).toThrow(/unknown uniform field "d"/);
  });

  it('parses bindings by name and the variables each entry point uses (shadowing, helpers, comments)', () => {
    const wgsl = `struct Params { count: u32, scale: f32, unread: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> o: array<f32>;
@group(0) @binding(3) var<storage> w: array<f32>;
var<workgroup> sh: array<f32, 4>;
fn helper(i: u32) -> f32 { return y[i] * p.scale; }
fn shadowed(x: f32) -> f32 { let o = x; return o; } // neither x nor o is the module's
fn chain(i: u32) -> f32 { return helper(i); }
@compute @workgroup_size(1)
fn reads_y(@builtin(local_invocation_index) lid: u32) { o[lid] = chain(lid) + shadowed(1.0) + f32(p.count); }
@compute @workgroup_size(1)
fn loop_var(@builtin(local_invocation_index) lid: u32) {
  // x[0] in a comment is no use
  for (var w = 0u; w < 2u; w++) { sh[w] = 1.0; }
  o[lid] = w[lid] + sh[0];
}
@compute @workgroup_size(1)
fn member(@builtin(local_invocation_index) lid: u32) { let s = vec2<f32>(1.0, 2.0); o[lid] = s.x; }`;
    const l = parseLayout(wgsl, 'demo');
    expect(l.uniform).toEqual({ name: 'p', binding: 0 });
    expect([...l.storage.values()]).toEqual([
      { name: 'x', binding: 1, access: 'read' },
      { name: 'y', binding: 2, access: 'read' },
      { name: 'o', binding: 5, access: 'read_write' },
      { name: 'w', binding: 3, access: 'read' },
    ]);
    expect([...l.entries.get('reads_y')!].sort()).toEqual(['o', 'p', 'y']);
    // The loop variable w shadows the module's w only inside the loop.
    expect([...l.entries.get('loop_var')!].sort()).toEqual(['o', 'w']);
    expect([...l.entries.get('member')!]).toEqual(['o']);
    expect([...l.entries.keys()]).toEqual(['reads_y', 'loop_var', 'member']);
    // Params fields read per entry, through called helpers (scale is read only inside helper).
    expect([...l.entryParams.get('reads_y')!].sort()).toEqual(['count', 'scale']);
    expect([...l.entryParams.get('loop_var')!]).toEqual([]);
    expect([...l.entryParams.get('member')!]).toEqual([]);
    expect(() => parseLayout('@group(0) @binding(1) var<storage, read> a: array<f32>;\n@group(0) @binding(1) var<storage, read> b: array<f32>;', 'dup')).toThrow(/"dup".*"b".*also "a"/);
    expect(() => parseLayout('@group(1) @binding(0) var<storage, read> a: array<f32>;', 'g1')).toThrow(/only @group\(0\)/);
    // The real families: reduce's entries each use their own subset.
    const reduce = shaderLayout('reduce');
    expect([...reduce.entries.get('partial')!].sort()).toEqual(['p', 'pout', 'x', 'y']);
    expect([...reduce.entries.get('finalize')!].sort()).toEqual(['outv', 'p', 'pin']);
    expect([...shaderLayout('matvec').entries.get('rows_finish')!].sort()).toEqual(['p', 'part', 'y']);
  });

  it('binds by name: a missing, unknown or unused variable is E_INTERNAL naming family, entry and variable', () => {
    const l = shaderLayout('axpy');
    const ok = bindingsFor(l, 'axpy', { x: 'X', y: 'Y', o: 'O' });
    expect(ok.map((b) => [b.name, b.binding, b.access])).toEqual([
      ['x', 1, 'read'],
      ['y', 2, 'read'],
      ['o', 3, 'read_write'],
    ]);
    const err = (f: () => unknown): RiverbedError => {
      try {
        f();
      } catch (e) {
        return e as RiverbedError;
      }
      throw new Error('no error');
    };
    const missing = err(() => bindingsFor(l, 'axpy', { x: 'X', o: 'O' }));
    expect(missing).toBeInstanceOf(RiverbedError);
    expect(missing.code).toBe('E_INTERNAL');
    expect(missing.message).toMatch(/axpy:axpy: binding "y" not given/);
    expect(err(() => bindingsFor(l, 'axpy', { x: 'X', y: 'Y', o: 'O', out: 'O' })).message).toMatch(/axpy:axpy: unknown binding "out"/);
    // scale never reads y: Dawn's auto layout has no slot for it.
    const extra = err(() => bindingsFor(l, 'scale', { x: 'X', y: 'Y', o: 'O' }));
    expect(extra.code).toBe('E_INTERNAL');
    expect(extra.message).toMatch(/axpy:scale: binding "y" is given but the entry point does not use it/);
    expect(err(() => bindingsFor(l, 'nope', {})).message).toMatch(/axpy:nope: no @compute entry point/);
  });

  it('lays out dispatches within 65 535 workgroups per dimension', () => {
    expect(grid(1)).toEqual([1, 1]);
    expect(grid(65_535)).toEqual([65_535, 1]);
    for (const n of [65_536, 1_000_000, 123_456_789]) {
      const [x, y] = grid(n);
      expect(x).toBeLessThanOrEqual(65_535);
      expect(y).toBeLessThanOrEqual(65_535);
      expect(x * y).toBeGreaterThanOrEqual(n);
    }
  });

  it('pools buffers by size class with bounded waste', () => {
    expect(sizeClass(1)).toBe(256);
    expect(sizeClass(300)).toBe(512);
    for (const b of [1_048_577, 5e6, 2e8]) {
      expect(sizeClass(b)).toBeGreaterThanOrEqual(b);
      expect(sizeClass(b) / b).toBeLessThan(1.13);
    }
  });

  it('tiles matmul so every operand span fits the binding and K chunks stay short', () => {
    for (const [M, N, K] of [
      [1024, 1024, 1024],
      [3, 5, 70_000],
      [70, 50, 90],
    ] as const) {
      for (const tA of [false, true]) {
        for (const tB of [false, true]) {
          const maxElems = 1000;
          const { mb, nb, kb } = matmulBlocks(M, N, K, tA, tB, maxElems, 16_384);
          expect(kb).toBeLessThanOrEqual(16_384);
          const spanA = tA ? (kb - 1) * M + mb : (mb - 1) * K + kb;
          const spanB = tB ? (nb - 1) * K + kb : (kb - 1) * N + nb;
          expect(Math.max(spanA, spanB, (mb - 1) * N + nb)).toBeLessThanOrEqual(maxElems);
        }
      }
    }
  });

  it('plans CLD tiles: 1 M × 50 float32 needs two tiles under 128 MiB', () => {
    const plan = cldPlan(50, 1_000_000, (128 * 2 ** 20 - 16) / 4, 16_384);
    expect(plan.tiles).toBe(2);
    expect(plan.chunks).toBe(1);
    expect(plan.tileN * 50 * 4).toBeLessThanOrEqual(128 * 2 ** 20);
    const chunked = cldPlan(10, 100, 1000, 4);
    expect(chunked.chunks).toBe(3);
    expect(chunked.tileN * 5).toBeLessThanOrEqual(1000);
  });
});

const [gpuCase] = await backendsUnderTest(['webgpu']);
const skip = gpuCase!.skip;

function classZ(E: number, C: number, seed: number): Float64Array {
  const r = rng(seed);
  const D = E - 1;
  const z = new Float64Array(D * C);
  for (let c = 0; c < C; c++) {
    const d = Array.from({ length: D }, () => r() - 0.5);
    const mean = d.reduce((s, x) => s + x, 0) / D;
    const std = Math.sqrt(d.reduce((s, x) => s + (x - mean) ** 2, 0) / D);
    for (let e = 0; e < D; e++) z[e * C + c] = std === 0 || c === C - 1 ? 0 : (d[e]! - mean) / std;
  }
  return z;
}

/** CLD inputs whose float32 arithmetic is hard: ulp-level differences, big offsets, exact constants. */
function hardCld(E: number, N: number, C: number, f64: boolean, seed: number): CldKernelInput {
  const r = rng(seed);
  const T = f64 ? new Float64Array(E * N) : new Float32Array(E * N);
  for (let i = 0; i < N; i++) {
    const kind = i % 6;
    const base = 1 + 5 * r();
    const slope = -0.01 * r();
    for (let e = 0; e < E; e++) {
      let v: number;
      if (kind === 0) v = base + slope * e; // linear: differences equal in exact arithmetic, rounding varies
      else if (kind === 1) v = 1000 + 1e-3 * r(); // big offset, small spread
      else if (kind === 2) v = 0.75 + 0.25 * e; // exactly constant differences
      else if (kind === 3) v = 2.5; // constant loss
      else if (kind === 4) v = base * Math.exp(-0.05 * e) + 1e-6 * r(); // smooth decay + noise
      else v = 3 * r();
      T[e * N + i] = f64 && kind === 1 ? 1000 + 1e-9 * r() : v; // f64: detail below f32 resolution of 1000
    }
  }
  return { trajectory: T, epochs: E, samples: N, labels: randomInts(N, seed + 1, C), numClasses: C, classZ: classZ(E, C, seed + 2) };
}

async function runSequence(be: Backend): Promise<Float32Array[]> {
  const a = be.upload(randomArray(37 * 91, 1), [37, 91]);
  const b = be.upload(randomArray(91 * 29, 2), [91, 29]);
  const c = be.matmul(a, b);
  const h = be.activation('gelu', be.addBias(c, be.upload(randomArray(29, 3), [29])));
  const g = be.activationGrad('tanh', c, h);
  const s = be.sum(g);
  const sr = be.sumRows(h);
  const { loss, grad } = be.softmaxCrossEntropy(h, be.uploadInt(randomInts(37, 4, 29), [37]));
  const gat = be.gatherRows(grad, be.uploadInt(randomInts(50, 5, 37), [50]));
  const ax = be.axpy(-0.5, h, g);
  const d = be.dot(ax, g);
  const p = be.upload(randomArray(3000, 6), [3000]);
  const gr = be.upload(randomArray(3000, 7), [3000]);
  const m = be.zeros([3000]);
  const v = be.zeros([3000]);
  for (let step = 1; step <= 3; step++) {
    be.adamStep(p, gr, m, v, { lr: 1e-2, weightDecay: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, step, decoupled: true });
  }
  const cld = await be.cldScores(hardCld(9, 1001, 5, false, 8));
  const outs: Tensor[] = [c, h, g, s, sr, loss, gat, ax, d, p, m, v];
  return [...(await Promise.all(outs.map((t) => be.read(t)))), cld];
}

describe.skipIf(!!skip)('webgpu runtime on a device', () => {
  const made: Backend[] = [];
  async function backend(opts?: WebGpuOptions): Promise<WebGpuBackend> {
    const be = (await createWebGpuBackend(opts)) as WebGpuBackend;
    made.push(be);
    return be;
  }
  let be: WebGpuBackend;
  beforeAll(async () => {
    be = await backend();
  });
  afterAll(() => {
    for (const b of made) {
      expect((b as WebGpuBackend).rt.errors, 'WebGPU validation errors').toEqual([]);
      b.dispose();
    }
  });

  it('every entry point binds exactly what Dawn’s auto layout keeps (parsed usage = Tint’s reflection)', async () => {
    const fresh = await backend();
    const dev = fresh.rt.device;
    const families = readdirSync(SHADER_DIR)
      .filter((f) => f.endsWith('.wgsl'))
      .map((f) => f.slice(0, -5));
    let checked = 0;
    for (const fam of families) {
      const layout = shaderLayout(fam);
      const uniform = dev.createBuffer({ size: Math.max(16, layout.params.size), usage: 0x40 });
      const bufs = new Map([...layout.storage.keys()].map((n) => [n, dev.createBuffer({ size: 4096, usage: 0x80 })]));
      for (const [entry, used] of layout.entries) {
        const { pipeline } = fresh.rt.pipeline(fam, entry);
        const entryOf = (name: string): GPUBindGroupEntry =>
          name === layout.uniform?.name
            ? { binding: layout.uniform.binding, resource: { buffer: uniform } }
            : { binding: layout.storage.get(name)!.binding, resource: { buffer: bufs.get(name)! } };
        const tryBind = async (names: string[]): Promise<string | undefined> => {
          dev.pushErrorScope('validation');
          dev.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: names.map(entryOf) });
          return (await dev.popErrorScope())?.message;
        };
        const all = [...layout.storage.keys(), ...(layout.uniform ? [layout.uniform.name] : [])];
        expect(await tryBind([...used]), `${fam}:${entry} with its parsed bindings`).toBeUndefined();
        for (const name of all) {
          const without = [...used].filter((n) => n !== name);
          if (used.has(name)) expect(await tryBind(without), `${fam}:${entry} without "${name}"`).toBeDefined();
          else expect(await tryBind([...used, name]), `${fam}:${entry} plus unused "${name}"`).toMatch(/not present in the bind group layout/);
        }
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(20);
  });

  it('a dispatch with a wrong binding name throws E_INTERNAL before recording anything', async () => {
    const fresh = await backend();
    const buf = fresh.rt.acquire(1024);
    const params = { count: 4, first: 0, xBase: 0, yBase: 0, oBase: 0, alpha: 1 };
    const before = fresh.rt.stats.dispatches;
    expect(() => fresh.rt.dispatch('axpy', 'axpy', {}, params, { x: buf, y: buf, out: buf }, 1)).toThrow(/axpy:axpy: unknown binding "out"/);
    expect(() => fresh.rt.dispatch('axpy', 'scale', {}, params, { x: buf, y: buf, o: buf }, 1)).toThrow(/axpy:scale: binding "y" is given but the entry point does not use it/);
    expect(fresh.rt.stats.dispatches).toBe(before);
    fresh.rt.release(buf);
  });

  it('probes a described adapter and reports it in info()', async () => {
    const p = await probeWebGpu();
    expect(p.available).toBe(true);
    if (!p.available) return;
    expect(p.adapter.length).toBeGreaterThan(3);
    expect(await probeWebGpu()).toBe(p); // cached
    const info = be.info();
    expect(info.adapter).toBe(p.adapter);
    expect(info.software).toBe(p.software);
    if (/llvmpipe|lavapipe/i.test(p.adapter)) expect(p.software).toBe(true);
  });

  it('flushEvery = 1 and the default give identical results', async () => {
    const one = await runSequence(await backend({ flushEvery: 1 }));
    const dflt = await runSequence(be);
    expect(one.length).toBe(dflt.length);
    one.forEach((o, i) => expect(Array.from(o), `output ${i}`).toEqual(Array.from(dflt[i]!)));
    const b1 = made.find((b) => (b as WebGpuBackend).rt.flushEvery === 1) as WebGpuBackend;
    expect(b1.rt.stats.submits).toBeGreaterThan(be.rt.stats.submits / 2);
  });

  it('forced tiling (maxBindingBytes = 4 KiB) gives the untiled results', async () => {
    const tiled = await backend({ maxBindingBytes: 4096 });
    expect(tiled.rt.maxElems()).toBeLessThan(1024);
    const t = await runSequence(tiled);
    const u = await runSequence(be);
    // Elementwise, gather, softmax, optimizers and CLD tile without changing any operation: equal.
    // Reductions combine pairs in another order; matmul (K chunks) sums in another order.
    const names = ['matmul', 'bias+gelu', 'tanh grad', 'sum', 'sumRows', 'loss', 'gather', 'axpy', 'dot', 'param', 'm', 'v', 'cld'];
    t.forEach((x, i) => expectClose(x, u[i]!, { rtol: 1e-5, atol: 1e-5 }, `tiled ${names[i]}`));
    expect(Array.from(t[12]!)).toEqual(Array.from(u[12]!));
    expect(tiled.rt.stats.dispatches).toBeGreaterThan(be.rt.stats.dispatches);
  });

  it('tiled matmul with every transpose matches js', async () => {
    const tiled = await backend({ maxBindingBytes: 2048, loopChunk: 7 });
    const [m, k, n] = [45, 38, 29];
    for (const tA of [false, true]) {
      for (const tB of [false, true]) {
        const A = randomArray(m * k, 11);
        const B = randomArray(k * n, 12);
        const got = await tiled.read(tiled.matmul(tiled.upload(A, tA ? [k, m] : [m, k]), tiled.upload(B, tB ? [n, k] : [k, n]), tA, tB));
        const want = await ref.read(ref.matmul(ref.upload(A, tA ? [k, m] : [m, k]), ref.upload(B, tB ? [n, k] : [k, n]), tA, tB));
        expectClose(got, want, { rtol: 1e-4, atol: 1e-6 * k }, `matmul tA=${tA} tB=${tB}`);
      }
    }
  });

  it('loops past 65 535: sum of 210 000 elements, matmul with K = 70 000', async () => {
    const x = randomArray(70_000 * 3, 21);
    const s = (await be.read(be.sum(be.upload(x, [70_000, 3]))))[0]!;
    let want = 0;
    for (const v of x) want += v;
    expect(Math.abs(s - want)).toBeLessThan(1e-4);
    const sr = await be.read(be.sumRows(be.upload(x, [70_000, 3])));
    expectClose(sr, await ref.read(ref.sumRows(ref.upload(x, [70_000, 3]))), { rtol: 1e-5, atol: 1e-4 }, 'sumRows 70 000 rows');
    const K = 70_000;
    const A = randomArray(2 * K, 22);
    const B = randomArray(K * 3, 23);
    const got = await be.read(be.matmul(be.upload(A, [2, K]), be.upload(B, [K, 3])));
    const wantM = await ref.read(ref.matmul(ref.upload(A, [2, K]), ref.upload(B, [K, 3])));
    expectClose(got, wantM, { rtol: 1e-4, atol: 1e-6 * Math.sqrt(K) * 10 }, 'matmul K=70 000');
  });

  it('a reduction carries more than float32: 1 + 65 536 × 2⁻²⁴ sums exactly', async () => {
    const x = new Float32Array(65_537).fill(2 ** -24);
    x[0] = 1;
    const s = (await be.read(be.sum(be.upload(x, [x.length]))))[0]!;
    expect(s).toBe(Math.fround(1 + 65_536 * 2 ** -24));
  });

  it('compiles a pipeline once per (family, variant) and hits the cache after', async () => {
    const fresh = await backend();
    const x = fresh.upload(randomArray(100, 31), [100]);
    fresh.activation('relu', x);
    const after1 = { ...fresh.rt.stats };
    fresh.activation('relu', x);
    expect(fresh.rt.stats.compiles).toBe(after1.compiles);
    expect(fresh.rt.stats.cacheHits).toBe(after1.cacheHits + 1);
    fresh.activation('sigmoid', x); // another override constant: another pipeline
    expect(fresh.rt.stats.compiles).toBe(after1.compiles + 1);
    await fresh.sync();
  });

  it('GELU and its gradient keep relative accuracy in the far negative tail', async () => {
    const x = new Float32Array(200);
    for (let i = 0; i < x.length; i++) x[i] = -12 + (i * 12) / x.length;
    const gy = new Float32Array(200).fill(1);
    for (const kind of ['gelu', 'sigmoid', 'tanh'] as const) {
      const got = await be.read(be.activation(kind, be.upload(x, [200])));
      const want = await ref.read(ref.activation(kind, ref.upload(x, [200])));
      expectClose(got, want, { rtol: 2e-5, atol: 1e-37 }, `${kind} tail`);
      const gg = await be.read(be.activationGrad(kind, be.upload(x, [200]), be.upload(gy, [200])));
      const gw = await ref.read(ref.activationGrad(kind, ref.upload(x, [200]), ref.upload(gy, [200])));
      expectClose(gg, gw, { rtol: 2e-5, atol: 1e-37 }, `${kind}' tail`);
    }
  });

  for (const f64 of [false, true]) {
    it(`CLD hard cases (${f64 ? 'float64' : 'float32'}): within 1e-5, zero-variance exact, tiled and epoch-chunked alike`, async () => {
      const input = hardCld(12, 3001, 7, f64, f64 ? 41 : 42);
      const want = await ref.cldScores(input);
      const got = await be.cldScores(input);
      expectClose(got, want, { rtol: 0, atol: 1e-5 }, 'cld');
      for (let i = 0; i < want.length; i++) if (want[i] === 0) expect(got[i], `sample ${i} zero`).toBe(0);
      const small = await backend({ maxBindingBytes: 8192, loopChunk: 4 });
      const chunked = await small.cldScores(input);
      expectClose(chunked, want, { rtol: 0, atol: 1e-5 }, 'cld tiled + chunked');
      for (let i = 0; i < want.length; i++) if (want[i] === 0) expect(chunked[i], `sample ${i} zero (chunked)`).toBe(0);
    });
  }

  it('curvature kernels tiled past the binding cap (4 KiB, flushEvery 1) match js and the untiled run', async () => {
    // loopChunk 256: rows of 700 take the workgroup-per-row entry, as rows past the loop chunk do.
    const tiled = await backend({ maxBindingBytes: 4096, flushEvery: 1, loopChunk: 256 });
    const maxE = tiled.rt.maxElems();
    expect(maxE).toBeLessThan(1024);
    const n = 5003; // > 5 bindings, odd
    const zs = randomArray(n, 61, -6, 6);
    zs.set([0, -6, 6, 1e-3, -1e-3, Math.SQRT2, -Math.SQRT2, 9, -9], 1000); // straddles a tile edge
    const ops = [zs, randomArray(n, 62), randomArray(n, 63), randomArray(n, 64)];
    const run = async (b: Backend): Promise<Float32Array[]> => {
      const [z, rz, ga, rga] = ops.map((d) => b.upload(d, [n]));
      const outs = [b.mul(z!, rz!), ...(['relu', 'tanh', 'sigmoid', 'gelu'] as const).map((k) => b.activationRGrad(k, z!, rz!, ga!, rga!))];
      for (const [bsz, c] of [[301, 10], [9, 700]] as const) {
        // rows of 10: one invocation per row, ~96 rows per tile; rows of 700: a workgroup per row, one row per tile
        outs.push(b.softmaxHessianVec(b.upload(randomArray(bsz * c, c, -20, 20), [bsz, c]), b.upload(randomArray(bsz * c, c + 1), [bsz, c])));
      }
      return Promise.all(outs.map((t) => b.read(t)));
    };
    const [got, untiled, want] = await Promise.all([run(tiled), run(be), run(ref)]);
    const names = ['mul', "R(relu')", "R(tanh')", "R(sigmoid')", "R(gelu')", 'H·r rows', 'H·r wide'];
    got.forEach((g, i) => {
      expectClose(g, want[i]!, { rtol: 1e-4, atol: 1e-6 }, `tiled ${names[i]}`);
      // Tiling only moves bindings: the same operations in the same order (the untiled run takes
      // the one-invocation-per-row entry for rows of 700 on lavapipe, so that one differs in rounding).
      if (i < 6) expect(Array.from(g), `tiled = untiled ${names[i]}`).toEqual(Array.from(untiled[i]!));
    });
    // A row longer than one binding cannot be tiled by rows: a clear error, not garbage.
    expect(() => tiled.softmaxHessianVec(tiled.zeros([2, maxE + 1]), tiled.zeros([2, maxE + 1]))).toThrow(RiverbedError);
  });

  it('slice and copyInto move tensors far past the binding cap exactly, and copyInto of a tensor onto itself', async () => {
    const tiled = await backend({ maxBindingBytes: 4096, flushEvery: 1 });
    const n = 20_011;
    const data = randomArray(n, 71);
    const x = tiled.upload(data, [n]);
    expect(Array.from(await tiled.read(tiled.slice(x, 3, [4, 4001])))).toEqual(Array.from(data.subarray(3, 3 + 16_004)));
    const dst = tiled.zeros([n + 5]);
    tiled.copyInto(dst, 5, x);
    const back = await tiled.read(dst);
    expect(Array.from(back.subarray(0, 5))).toEqual([0, 0, 0, 0, 0]);
    expect(Array.from(back.subarray(5))).toEqual(Array.from(data));
    // WebGPU forbids copying a buffer onto itself; the backend goes through a temporary, as TypedArray.set does.
    const self = tiled.upload(data, [n]);
    tiled.copyInto(self, 0, self);
    expect(Array.from(await tiled.read(self))).toEqual(Array.from(data));
  });

  it('matrix × vector (N = 1 or M = 1) with every transpose matches js, tiled and untiled, K past 65 535', async () => {
    const tiled = await backend({ maxBindingBytes: 4096, loopChunk: 7 });
    // [M, K, N]: long K split over workgroups, short K one invocation per row, K-major matrices, K = 70 000.
    const shapes: [number, number, number][] = [
      [37, 3000, 1],
      [37, 300, 1],
      [3000, 37, 1],
      [1, 3000, 45],
      [1, 45, 3000],
      [2, 70_000, 1],
      [1, 70_000, 3],
      [1, 1, 1],
    ];
    for (const b of [be, tiled]) {
      for (const [m, k, n] of shapes) {
        for (const tA of [false, true]) {
          for (const tB of [false, true]) {
            const A = randomArray(m * k, m + 3 * k);
            const B = randomArray(k * n, n + 5 * k);
            const sa = tA ? [k, m] : [m, k];
            const sb = tB ? [n, k] : [k, n];
            const got = await b.read(b.matmul(b.upload(A, sa), b.upload(B, sb), tA, tB));
            const want = await ref.read(ref.matmul(ref.upload(A, sa), ref.upload(B, sb), tA, tB));
            const label = `${b === be ? '' : 'tiled '}${m}×${k}×${n} tA=${tA} tB=${tB}`;
            expectClose(got, want, { rtol: 1e-4, atol: 1e-6 * k }, label);
          }
        }
      }
    }
  });

  it('a Lanczos loop on the device (copyInto a basis row, slice k rows, Q(Qᵀw), read α and β) matches js and stays batched', async () => {
    const P = 3001;
    const k = 8;
    const diag = randomArray(P, 81, 0, 1);
    diag[17] = 10; // one outlier, as a Hessian's top eigenvalue
    const v0 = randomArray(P, 82);
    const lanczos = async (b: Backend): Promise<number[]> => {
      const d = b.upload(diag, [P, 1]);
      let norm = 0;
      for (const x of v0) norm += x * x;
      let v = b.scale(1 / Math.sqrt(norm), b.upload(v0, [P, 1]));
      const Q = b.zeros([k, P]);
      b.copyInto(Q, 0, v);
      const ab: number[] = [];
      for (let j = 0; j < k; j++) {
        let w = b.mul(d, v); // the operator: diag(d)
        ab.push((await b.read(b.dot(w, v)))[0]!);
        const Qj = b.slice(Q, 0, [j + 1, P]);
        w = b.axpy(-1, b.matmul(Qj, b.matmul(Qj, w), true), w); // full reorthogonalisation
        const beta = Math.sqrt((await b.read(b.dot(w, w)))[0]!);
        ab.push(beta);
        v = b.scale(1 / beta, w);
        if (j + 1 < k) b.copyInto(Q, (j + 1) * P, v);
      }
      return ab;
    };
    const fresh = await backend();
    const before = fresh.rt.stats.submits;
    const got = await lanczos(fresh);
    // One submit per read (2 per step) plus at most one flush per flushEvery recorded commands.
    expect(fresh.rt.stats.submits - before).toBeLessThanOrEqual(2 * k + Math.ceil(fresh.rt.stats.dispatches / fresh.rt.flushEvery) + 1);
    expectClose(got, await lanczos(ref), { rtol: 1e-4, atol: 1e-5 }, 'α, β');
    expect(Math.max(...got.filter((_, i) => i % 2 === 0))).toBeGreaterThan(5); // α sees the outlier

    // Many small copies share submits: 100 single-element rows, one read.
    const rows = fresh.zeros([100]);
    const s0 = fresh.rt.stats.submits;
    for (let i = 0; i < 100; i++) fresh.copyInto(rows, i, fresh.upload(new Float32Array([i]), [1]));
    expect(Array.from(await fresh.read(rows))).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(fresh.rt.stats.submits - s0).toBeLessThanOrEqual(Math.ceil(100 / fresh.rt.flushEvery) + 1);
  });

  it('reuses pooled buffers after free()', async () => {
    const fresh = await backend();
    const x = fresh.upload(randomArray(1000, 51), [1000]);
    const y = fresh.scale(2, x);
    await fresh.read(y);
    fresh.free(y);
    const created = fresh.rt.stats.buffersCreated;
    const z = fresh.scale(3, x);
    expect(fresh.rt.stats.buffersCreated).toBe(created);
    expectClose(await fresh.read(z), Float32Array.from(randomArray(1000, 51), (v) => 3 * v), { rtol: 1e-6, atol: 0 }, 'scale');
  });

  it('the raw device opens with the binding cap the runtime assumes', async () => {
    const dev = await openDevice();
    expect(dev.maxStorageBinding).toBeGreaterThanOrEqual(128 * 2 ** 20);
    expect(dev.root).toBeDefined();
    dev.device.destroy();
  });

  it('a child process exits by itself with code 0, with and without dispose()', () => {
    const dist = join(ROOT, 'dist/backends/webgpu/index.js');
    if (!existsSync(dist)) {
      throw new Error(`${dist} is missing: run "npm run build" first (npm test does)`);
    }
    // The built copy must load the same shaders; a stale dist would test old code.
    expect(readFileSync(dist, 'utf8')).toContain('createWebGpuBackend');
    const dir = mkdtempSync(join(tmpdir(), 'riverbed-child-'));
    const script = join(dir, 'child.mjs');
    writeFileSync(
      script,
      `import { createWebGpuBackend } from ${JSON.stringify(dist)};
const be = await createWebGpuBackend();
const x = be.upload(new Float32Array([1, 2, 3, 4]), [2, 2]);
const y = await be.read(be.matmul(x, x));
const r = await be.cldScores({ trajectory: new Float32Array([3, 2, 1, 2.5, 1.5, 0.9, 2, 1, 0.8]), epochs: 3, samples: 3,
  labels: new Int32Array([0, 1, 0]), numClasses: 2, classZ: new Float64Array([1, -1, -1, 1]) });
be.dispose();
console.log(JSON.stringify([Array.from(y), Array.from(r)]));
`,
    );
    const res = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 60_000 });
    expect(res.error, String(res.error)).toBeUndefined();
    expect(res.status, res.stderr).toBe(0);
    const [y] = JSON.parse(res.stdout.trim().split('\n').pop()!) as [number[], number[]];
    expect(y).toEqual([7, 10, 15, 22]);

    // The contract also asks that a script which never calls dispose() exits.
    const lazy = join(dir, 'no-dispose.mjs');
    writeFileSync(
      lazy,
      `import { createWebGpuBackend } from ${JSON.stringify(dist)};
const be = await createWebGpuBackend();
const x = be.upload(new Float32Array([1, 2, 3, 4]), [2, 2]);
console.log(JSON.stringify(Array.from(await be.read(be.matmul(x, x)))));
`,
    );
    const res2 = spawnSync(process.execPath, [lazy], { encoding: 'utf8', timeout: 60_000 });
    expect(res2.error, String(res2.error)).toBeUndefined();
    expect(res2.status, res2.stderr).toBe(0);
    expect(JSON.parse(res2.stdout.trim().split('\n').pop()!)).toEqual([7, 10, 15, 22]);
  });

  it('creating, using and disposing a backend leaves process.env and globalThis as they were (and needs no XDG_RUNTIME_DIR)', () => {
    const dist = join(ROOT, 'dist/backends/webgpu/index.js');
    const dir = mkdtempSync(join(tmpdir(), 'riverbed-globals-'));
    const script = join(dir, 'globals.mjs');
    writeFileSync(
      script,
      `const snap = () => {
  const g = {};
  // Values, not descriptors: Node turns lazy getters (DOMException, …) into data properties on first use.
  for (const k of Reflect.ownKeys(globalThis)) g[String(k)] = globalThis[k];
  return { env: { ...process.env }, g, gpu: typeof navigator === 'object' ? 'gpu' in navigator : 'no navigator' };
};
snap(); // reading fetch & co. loads Node's lazy globals (undici adds a symbol); the baseline is the second read
const before = snap();
const { createWebGpuBackend } = await import(${JSON.stringify(dist)});
const be = await createWebGpuBackend();
const x = be.upload(new Float32Array([1, 2, 3, 4]), [2, 2]);
const y = Array.from(await be.read(be.matmul(x, x)));
be.dispose();
const after = snap();
const diff = (a, b, same) => [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => !same(a[k], b[k]));
console.log(JSON.stringify({ y, env: diff(before.env, after.env, (u, v) => u === v), globals: diff(before.g, after.g, Object.is), gpu: [before.gpu, after.gpu] }));
`,
    );
    const env = { ...process.env };
    delete env.XDG_RUNTIME_DIR;
    const res = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 60_000, env });
    expect(res.status, res.stderr).toBe(0);
    const out = JSON.parse(res.stdout.trim().split('\n').pop()!) as { y: number[]; env: string[]; globals: string[]; gpu: unknown[] };
    expect(out.y).toEqual([7, 10, 15, 22]);
    expect(out.env, 'process.env keys changed').toEqual([]);
    expect(out.globals, 'globalThis properties added, removed or replaced').toEqual([]);
    expect(out.gpu[1]).toBe(out.gpu[0]);
  });
});

if (skip) {
  describe('webgpu runtime on a device', () => {
    it.skip(`SKIPPED: ${skip}`, () => {});
  });
}
