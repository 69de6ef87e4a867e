/**
 * The WebGPU runtime under the backend: pipeline cache, buffer pool, batched dispatches,
 * uniform ring, readback, and the binding-size arithmetic that tiling needs.
 *
 * - Pipelines are cached by (family, entry point, override constants) — what changes the
 *   code. Sizes travel as uniforms, so one pipeline serves every shape.
 * - Buffers are pooled by (size class, usage). A freed buffer goes to a pending list and
 *   returns to the pool only after the submit that used it: `queue.writeBuffer` runs ahead of
 *   commands still being recorded, so reusing it earlier would corrupt them.
 * - Dispatches are recorded into one compute pass and submitted after `flushEvery` of them
 *   (FLUSH_EVERY_DEFAULT; tests run 1 and the default) or when a result is read.
 * - Each batch writes its uniforms into one buffer of `flushEvery` slots with a single
 *   writeBuffer just before its submit; the buffers cycle through a ring of free ones.
 */
import { RiverbedError } from '../../errors.js';
import type { GpuDevice } from './device.js';
import { type ShaderLayout, bindingsFor, grid, shaderLayout, shaderSource, sizeClass, writeParams } from './shader.js';

/** Dispatches per queue.submit unless a read forces an earlier flush. */
export const FLUSH_EVERY_DEFAULT = 32;
/** Longest loop one shader invocation runs; lavapipe silently stops loops at 65 535 iterations. */
export const LOOP_CHUNK_DEFAULT = 16_384;

export interface RuntimeOptions {
  /** Dispatches per submit (≥ 1). */
  flushEvery?: number;
  /** Cap on one storage binding in bytes (defaults to the device limit); tests lower it to force tiling. */
  maxBindingBytes?: number;
  /** Longest in-shader loop (matmul K chunk, CLD epoch chunk); tests lower it to force chunking. */
  loopChunk?: number;
}

export interface BufView {
  buffer: GPUBuffer;
  offset: number;
  size: number;
}
export type Bindable = GPUBuffer | BufView;

export interface RuntimeStats {
  compiles: number;
  cacheHits: number;
  submits: number;
  dispatches: number;
  buffersCreated: number;
}

const STORAGE = 0x80 | 0x4 | 0x8; // STORAGE | COPY_SRC | COPY_DST
const UNIFORM = 0x40 | 0x8; // UNIFORM | COPY_DST
const READBACK = 0x1 | 0x8; // MAP_READ | COPY_DST
const MAP_READ_MODE = 0x1;

interface Cached {
  pipeline: GPUComputePipeline;
  layout: ShaderLayout;
}

const PRINT_SHADER = /^(1|true|yes)$/i.test(process.env.RIVERBED_WEBGPU_PRINT_SHADER ?? '');

export class Runtime {
  readonly device: GPUDevice;
  readonly flushEvery: number;
  readonly maxBinding: number;
  readonly loopChunk: number;
  readonly stats: RuntimeStats = { compiles: 0, cacheHits: 0, submits: 0, dispatches: 0, buffersCreated: 0 };
  /** Validation / compilation errors seen (also printed); tests assert it stays empty. */
  readonly errors: string[] = [];

  private readonly pipelines = new Map<string, Cached>();
  private readonly free = new Map<string, GPUBuffer[]>();
  private pending: GPUBuffer[] = [];
  private readonly all = new Set<GPUBuffer>();
  private readonly uniformRing: GPUBuffer[] = [];
  private readonly slotBytes: number;

  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private uniformBuf: GPUBuffer | null = null;
  private readonly staging: ArrayBuffer;
  private readonly stagingView: DataView;
  private inBatch = 0;

  private pendingMaps = 0;
  private disposeRequested = false;
  private destroyed = false;

  constructor(
    readonly gpu: GpuDevice,
    opts: RuntimeOptions = {},
  ) {
    this.device = gpu.device;
    this.flushEvery = Math.max(1, Math.floor(opts.flushEvery ?? FLUSH_EVERY_DEFAULT));
    this.maxBinding = Math.min(gpu.maxStorageBinding, opts.maxBindingBytes ?? Infinity);
    if (this.maxBinding < 4 * gpu.storageAlign) {
      throw new RiverbedError('E_ARG', `maxBindingBytes ${this.maxBinding} is below 4 × the offset alignment ${gpu.storageAlign}`);
    }
    this.loopChunk = Math.max(1, Math.min(65_535, Math.floor(opts.loopChunk ?? LOOP_CHUNK_DEFAULT)));
    this.slotBytes = Math.max(256, gpu.uniformAlign);
    this.staging = new ArrayBuffer(this.slotBytes * this.flushEvery);
    this.stagingView = new DataView(this.staging);
    this.device.addEventListener?.('uncapturederror', (ev: Event) => {
      const msg = (ev as GPUUncapturedErrorEvent).error?.message ?? String(ev);
      this.errors.push(msg);
      console.error(`[riverbed webgpu] ${msg}`);
    });
  }

  // ---- limits -----------------------------------------------------------------------------

  /** Most elements of `elemBytes` one binding may span, whatever its start alignment. */
  maxElems(elemBytes = 4): number {
    return Math.floor((this.maxBinding - this.gpu.storageAlign) / elemBytes);
  }

  /** A binding covering elements [start, end) of `buffer`, aligned down; `base` is its first element. */
  view(buffer: GPUBuffer, start: number, end: number, elemBytes = 4): { binding: BufView; base: number } {
    const align = this.gpu.storageAlign;
    const startByte = Math.floor((start * elemBytes) / align) * align;
    const endByte = Math.max(end * elemBytes, startByte + 4);
    const size = Math.min(Math.ceil((endByte - startByte) / 4) * 4, buffer.size - startByte);
    if (size > this.maxBinding) throw new RiverbedError('E_INTERNAL', `binding of ${size} bytes exceeds ${this.maxBinding}`);
    return { binding: { buffer, offset: startByte, size }, base: startByte / elemBytes };
  }

  // ---- pipelines ----------------------------------------------------------------------------

  pipeline(family: string, entry: string, constants: Record<string, number> = {}): Cached {
    const key = `${family}:${entry}:${Object.entries(constants)
      .sort()
      .map(([k, v]) => `${k}=${v}`)
      .join(',')}`;
    const hit = this.pipelines.get(key);
    if (hit) {
      this.stats.cacheHits++;
      return hit;
    }
    const code = shaderSource(family);
    if (PRINT_SHADER) console.error(`// ---- riverbed WGSL ${key}\n${code}`);
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ label: `riverbed:${family}`, code });
    const pipeline = this.device.createComputePipeline({
      label: `riverbed:${key}`,
      layout: 'auto',
      compute: { module, entryPoint: entry, constants },
    });
    void this.device.popErrorScope().then((err) => {
      if (err) {
        const msg = `pipeline ${key}: ${err.message}`;
        this.errors.push(msg);
        console.error(`[riverbed webgpu] ${msg}`);
      }
    });
    this.stats.compiles++;
    const cached = { pipeline, layout: shaderLayout(family) };
    this.pipelines.set(key, cached);
    return cached;
  }

  // ---- buffers ------------------------------------------------------------------------------

  acquire(bytes: number, usage = STORAGE, label = 'riverbed:tensor'): GPUBuffer {
    const size = sizeClass(bytes);
    const key = `${usage}:${size}`;
    const list = this.free.get(key);
    const reused = list?.pop();
    if (reused) return reused;
    if (this.destroyed) throw new RiverbedError('E_BACKEND', 'webgpu backend used after dispose()');
    const buf = this.device.createBuffer({ label, size, usage });
    this.all.add(buf);
    this.stats.buffersCreated++;
    return buf;
  }

  /** Hands a buffer back; it becomes reusable after the submit of the commands recorded so far. */
  release(buf: GPUBuffer): void {
    if (this.destroyed) return;
    if (this.inBatch > 0) this.pending.push(buf);
    else this.toFree(buf);
  }

  private toFree(buf: GPUBuffer): void {
    const key = `${buf.usage}:${buf.size}`;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(buf);
  }

  write(buf: GPUBuffer, byteOffset: number, data: Float32Array | Int32Array | Uint32Array, start = 0, count = data.length): void {
    if (count > 0) this.device.queue.writeBuffer(buf, byteOffset, data, start, count);
  }

  private scratch?: Float32Array;
  /** A reused host array of at least `n` floats (fresh memory is slow to fault in on these VMs). */
  scratchF32(n: number): Float32Array {
    if (!this.scratch || this.scratch.length < n) this.scratch = new Float32Array(n);
    return this.scratch;
  }

  // ---- recording ------------------------------------------------------------------------------

  private ensurePass(): GPUComputePassEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder({ label: 'riverbed:batch' });
    if (!this.pass) this.pass = this.encoder.beginComputePass({ label: 'riverbed:pass' });
    if (!this.uniformBuf) {
      this.uniformBuf =
        this.uniformRing.pop() ??
        this.device.createBuffer({ label: 'riverbed:uniforms', size: this.slotBytes * this.flushEvery, usage: UNIFORM });
      this.all.add(this.uniformBuf);
    }
    return this.pass;
  }

  /**
   * Records one dispatch of `groups` workgroups (laid out as a ≤ 65 535-wide 2-D grid).
   * `buffers` are keyed by WGSL variable name and must be exactly the storage variables the
   * entry point uses (what Dawn's `layout: 'auto'` keeps); the `Params` uniform is bound here.
   */
  dispatch(
    family: string,
    entry: string,
    constants: Record<string, number>,
    params: Record<string, number>,
    buffers: Record<string, Bindable>,
    groups: number | [number, number],
  ): void {
    const [x, y] = typeof groups === 'number' ? (groups > 0 ? grid(groups) : [0, 0]) : groups;
    if (x <= 0 || y <= 0) return;
    const { pipeline, layout } = this.pipeline(family, entry, constants);
    const bound = bindingsFor(layout, entry, buffers);
    const pass = this.ensurePass();
    const slot = this.inBatch;
    writeParams(layout.params, params, this.stagingView, slot * this.slotBytes);
    const entries: GPUBindGroupEntry[] = [];
    if (layout.uniform && layout.entries.get(entry)!.has(layout.uniform.name)) {
      entries.push({ binding: layout.uniform.binding, resource: { buffer: this.uniformBuf!, offset: slot * this.slotBytes, size: layout.params.size } });
    }
    for (const b of bound) entries.push({ binding: b.binding, resource: 'buffer' in b.resource ? b.resource : { buffer: b.resource } });
    const bindGroup = this.device.createBindGroup({ label: `riverbed:${family}:${entry}`, layout: pipeline.getBindGroupLayout(0), entries });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y);
    this.inBatch++;
    this.stats.dispatches++;
    if (this.inBatch >= this.flushEvery) this.flush();
  }

  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.ensurePass();
    this.pass!.end();
    this.pass = null;
    this.encoder!.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
    this.inBatch++;
    if (this.inBatch >= this.flushEvery) this.flush();
  }

  /** Zero-fills `bytes` of `buf` from `offset` (multiples of 4), in queue order. */
  clear(buf: GPUBuffer, offset = 0, bytes = buf.size): void {
    this.ensurePass();
    this.pass!.end();
    this.pass = null;
    this.encoder!.clearBuffer(buf, offset, bytes);
    this.inBatch++;
    if (this.inBatch >= this.flushEvery) this.flush();
  }

  /** Submits everything recorded; buffers freed meanwhile become reusable. */
  flush(): void {
    if (!this.encoder) return;
    if (this.pass) this.pass.end();
    const cmd = this.encoder.finish();
    this.device.queue.writeBuffer(this.uniformBuf!, 0, this.staging, 0, this.inBatch * this.slotBytes);
    this.device.queue.submit([cmd]);
    this.stats.submits++;
    this.uniformRing.push(this.uniformBuf!);
    this.encoder = null;
    this.pass = null;
    this.uniformBuf = null;
    this.inBatch = 0;
    for (const b of this.pending) this.toFree(b);
    this.pending = [];
  }

  // ---- readback -----------------------------------------------------------------------------

  /** Copies `count` elements from element `start` of `src` into `out` at `outStart` (default whole). */
  async readInto<T extends Float32Array | Int32Array>(src: GPUBuffer, start: number, count: number, out: T, outStart = 0): Promise<T> {
    if (count === 0) return out;
    const bytes = count * 4;
    const staging = this.acquire(bytes, READBACK, 'riverbed:readback');
    this.copy(src, start * 4, staging, 0, bytes);
    this.flush();
    this.pendingMaps++;
    try {
      await staging.mapAsync(MAP_READ_MODE, 0, bytes);
      const range = staging.getMappedRange(0, bytes);
      const ctor = out.constructor as Float32ArrayConstructor | Int32ArrayConstructor;
      out.set(new ctor(range, 0, count), outStart);
      staging.unmap();
    } finally {
      this.pendingMaps--;
      if (this.disposeRequested) {
        if (this.pendingMaps === 0) this.destroyNow();
      } else this.release(staging);
    }
    return out;
  }

  async sync(): Promise<void> {
    this.flush();
    if (this.destroyed) return;
    this.pendingMaps++;
    try {
      await this.device.queue.onSubmittedWorkDone();
    } finally {
      this.pendingMaps--;
      if (this.disposeRequested && this.pendingMaps === 0) this.destroyNow();
    }
  }

  /** Destroys every buffer and the device; waits for pending maps (the device must outlive them). */
  dispose(): void {
    if (this.destroyed || this.disposeRequested) return;
    this.disposeRequested = true;
    if (this.encoder) this.flush();
    if (this.pendingMaps === 0) this.destroyNow();
  }

  get disposed(): boolean {
    return this.destroyed || this.disposeRequested;
  }

  private destroyNow(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const b of this.all) b.destroy();
    this.all.clear();
    this.free.clear();
    this.pending = [];
    this.pipelines.clear();
    this.device.destroy();
  }
}
