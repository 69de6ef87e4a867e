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
 * - GPU errors reject, never print. Every device call runs inside a *segment*: error scopes
 *   (validation, internal, out-of-memory) pushed after one submit and popped at the next, so
 *   nothing reaches Dawn's uncaptured-error printer. A segment logs what its commands read and
 *   write; when its scopes report an error, the buffers it wrote are lost (an invalid command
 *   buffer runs nothing) and so is whatever later commands computed from them. read() of a lost
 *   buffer rejects with the GPU message (E_MEMORY for out-of-memory, else E_BACKEND); so does the
 *   first read() or sync() after an error nobody has been told of yet. Other tensors stay valid
 *   and the backend stays usable. A lost device (not our dispose) makes every later call E_BACKEND.
 */
import { type ErrorCode, RiverbedError } from '../../errors.js';
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

/** A GPU error as the caller will see it. */
interface Failure {
  code: ErrorCode;
  message: string;
  reported: boolean;
}

/** What one recorded command touched: reading a lost buffer loses what it writes. */
interface Op {
  reads: GPUBuffer[];
  writes: GPUBuffer[];
  /** A buffer handed out by acquire(): a fresh tensor, whatever its previous owner lost. */
  fresh?: GPUBuffer;
}

/** Device calls between two scope cuts, and who waits for their verdict. */
interface Segment {
  ops: Op[];
  /** Called once the segment's verdict is applied, with the lost-state of the buffer asked about. */
  probes: { buffer?: GPUBuffer; done: (f: Failure | undefined) => void }[];
}

const SCOPES: GPUErrorFilter[] = ['out-of-memory', 'internal', 'validation'];

/** A multi-line Dawn message on one line, as RiverbedError messages are. */
function oneLine(msg: string): string {
  return msg
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ');
}

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
  /** Every GPU error seen (each also rejects a read or sync); tests assert it stays empty. */
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

  private seg: Segment = { ops: [], probes: [] };
  /** Segments' verdicts, applied in submit order. */
  private checked: Promise<void> = Promise.resolve();
  /** Buffers whose contents an error lost, with that error. */
  private readonly lost = new Map<GPUBuffer, Failure>();
  private readonly unreported: Failure[] = [];
  /** Everyone waiting for a verdict (a lost device answers them all: its scopes may never). */
  private readonly waiting = new Set<(f: Failure | undefined) => void>();
  private deviceLost?: string;

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
    // Only reachable if a call escapes the segments' scopes: recorded and reported, not printed.
    this.device.addEventListener?.('uncapturederror', (ev: Event) => {
      ev.preventDefault?.();
      const err = (ev as GPUUncapturedErrorEvent).error;
      this.fail(err?.constructor?.name === 'GPUOutOfMemoryError' ? 'out-of-memory' : 'validation', err?.message ?? String(ev));
    });
    void this.device.lost.then((info) => {
      if (this.disposeRequested) return;
      this.deviceLost = oneLine(`webgpu device lost (${info.reason}): ${info.message}`);
      this.errors.push(this.deviceLost);
      for (const done of this.waiting) done(this.lostFailure());
      this.waiting.clear();
    });
    this.openScopes();
  }

  // ---- errors -------------------------------------------------------------------------------

  private openScopes(): void {
    for (const f of SCOPES) this.device.pushErrorScope(f);
  }

  private lostFailure(): Failure {
    return { code: 'E_BACKEND', message: `${this.deviceLost}; this backend cannot be used any more: create a new one`, reported: true };
  }

  /** Throws when the backend cannot take work: disposed, or its device lost. */
  private usable(): void {
    if (this.deviceLost) throw new RiverbedError('E_BACKEND', this.lostFailure().message);
    if (this.destroyed || this.disposeRequested) throw new RiverbedError('E_BACKEND', 'webgpu backend used after dispose()');
  }

  private fail(filter: GPUErrorFilter, message: string): Failure {
    const kind = filter === 'out-of-memory' ? 'out of memory' : `${filter} error`;
    const f: Failure = { code: filter === 'out-of-memory' ? 'E_MEMORY' : 'E_BACKEND', message: oneLine(`webgpu ${kind}: ${message}`), reported: false };
    this.errors.push(f.message);
    this.unreported.push(f);
    return f;
  }

  /**
   * Closes the current segment: pops its scopes (reopening them at once, so no call is ever
   * outside one) and queues its verdict behind the earlier segments'.
   */
  private cut(): void {
    const seg = this.seg;
    this.seg = { ops: [], probes: [] };
    if (this.destroyed) {
      for (const p of seg.probes) p.done(undefined);
      return;
    }
    const popped = [...SCOPES].reverse().map((f) =>
      this.device.popErrorScope().then(
        (e) => (e ? { f, message: e.message } : undefined),
        () => undefined, // a destroyed or lost device: its own path reports that
      ),
    );
    this.openScopes();
    const verdict = Promise.all(popped);
    this.checked = this.checked.then(async () => {
      const errs = (await verdict).filter((e) => e !== undefined);
      // Out-of-memory first: a buffer that could not be allocated then fails every use of it.
      const first = errs.find((e) => e.f === 'out-of-memory') ?? errs[0];
      this.settle(seg, first ? this.fail(first.f, first.message) : undefined);
    });
  }

  /** Replays a segment's log against the lost set, then answers its probes. */
  private settle(seg: Segment, failure: Failure | undefined): void {
    for (const op of seg.ops) {
      if (op.fresh) {
        this.lost.delete(op.fresh);
        continue;
      }
      // Only a fresh acquire clears a lost buffer: writes may cover part of it (tiles, accumulation).
      let cause = failure;
      for (const b of op.reads) cause ??= this.lost.get(b);
      for (const b of op.writes) cause ??= this.lost.get(b);
      if (cause) for (const b of op.writes) if (!this.lost.has(b)) this.lost.set(b, cause);
    }
    for (const p of seg.probes) {
      let f = failure ?? (p.buffer ? this.lost.get(p.buffer) : undefined);
      f ??= this.unreported.find((u) => !u.reported);
      if (f) f.reported = true;
      p.done(f);
    }
    for (let i = this.unreported.length - 1; i >= 0; i--) if (this.unreported[i]!.reported) this.unreported.splice(i, 1);
  }

  /** The verdict for `buffer` (or for the work so far) once the current segment settles. */
  private probe(buffer?: GPUBuffer): Promise<Failure | undefined> {
    return new Promise((resolve) => {
      const done = (f: Failure | undefined): void => {
        this.waiting.delete(done);
        resolve(f);
      };
      this.waiting.add(done);
      this.seg.probes.push({ buffer, done });
    });
  }

  private static reject(f: Failure): never {
    throw new RiverbedError(f.code, f.message);
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
    // A compilation error lands in the segment's scopes (its message names the pipeline label).
    const module = this.device.createShaderModule({ label: `riverbed:${family}`, code });
    const pipeline = this.device.createComputePipeline({
      label: `riverbed:${key}`,
      layout: 'auto',
      compute: { module, entryPoint: entry, constants },
    });
    this.stats.compiles++;
    const cached = { pipeline, layout: shaderLayout(family) };
    this.pipelines.set(key, cached);
    return cached;
  }

  // ---- buffers ------------------------------------------------------------------------------

  acquire(bytes: number, usage = STORAGE, label = 'riverbed:tensor'): GPUBuffer {
    this.usable();
    const size = sizeClass(bytes);
    const key = `${usage}:${size}`;
    const list = this.free.get(key);
    const reused = list?.pop();
    if (reused) {
      this.seg.ops.push({ reads: [], writes: [], fresh: reused });
      return reused;
    }
    if (size > this.gpu.maxBufferSize) {
      throw new RiverbedError('E_MEMORY', `webgpu: a buffer of ${bytes} bytes exceeds this adapter's maxBufferSize of ${this.gpu.maxBufferSize} bytes`);
    }
    const buf = this.device.createBuffer({ label, size, usage });
    this.seg.ops.push({ reads: [], writes: [], fresh: buf });
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
    this.usable();
    const { pipeline, layout } = this.pipeline(family, entry, constants);
    const bound = bindingsFor(layout, entry, buffers);
    const pass = this.ensurePass();
    const slot = this.inBatch;
    writeParams(layout.params, params, this.stagingView, slot * this.slotBytes);
    const entries: GPUBindGroupEntry[] = [];
    if (layout.uniform && layout.entries.get(entry)!.has(layout.uniform.name)) {
      entries.push({ binding: layout.uniform.binding, resource: { buffer: this.uniformBuf!, offset: slot * this.slotBytes, size: layout.params.size } });
    }
    const op: Op = { reads: [], writes: [] };
    for (const b of bound) {
      const resource = 'buffer' in b.resource ? b.resource : { buffer: b.resource };
      entries.push({ binding: b.binding, resource });
      (b.access === 'read_write' ? op.writes : op.reads).push(resource.buffer);
    }
    this.seg.ops.push(op);
    const bindGroup = this.device.createBindGroup({ label: `riverbed:${family}:${entry}`, layout: pipeline.getBindGroupLayout(0), entries });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y);
    this.inBatch++;
    this.stats.dispatches++;
    if (this.inBatch >= this.flushEvery) this.flush();
  }

  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.usable();
    this.seg.ops.push({ reads: [src], writes: [dst] });
    this.ensurePass();
    this.pass!.end();
    this.pass = null;
    this.encoder!.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
    this.inBatch++;
    if (this.inBatch >= this.flushEvery) this.flush();
  }

  /** Zero-fills `bytes` of `buf` from `offset` (multiples of 4), in queue order. */
  clear(buf: GPUBuffer, offset = 0, bytes = buf.size): void {
    this.usable();
    this.seg.ops.push({ reads: [], writes: [buf] });
    this.ensurePass();
    this.pass!.end();
    this.pass = null;
    this.encoder!.clearBuffer(buf, offset, bytes);
    this.inBatch++;
    if (this.inBatch >= this.flushEvery) this.flush();
  }

  /**
   * Submits everything recorded and closes the segment; buffers freed meanwhile become reusable.
   * With `force` the segment is closed even when nothing was recorded (its allocations and
   * writes may have failed too).
   */
  flush(force = false): void {
    if (!this.encoder) {
      if (force) this.cut();
      return;
    }
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
    this.cut();
  }

  // ---- readback -----------------------------------------------------------------------------

  /** Copies `count` elements from element `start` of `src` into `out` at `outStart` (default whole). */
  async readInto<T extends Float32Array | Int32Array>(src: GPUBuffer, start: number, count: number, out: T, outStart = 0): Promise<T> {
    this.usable();
    if (count === 0) return out;
    const bytes = count * 4;
    const staging = this.acquire(bytes, READBACK, 'riverbed:readback');
    // The probe joins the segment that records the copy (copy() may submit it by itself).
    const verdict = this.probe(src);
    this.copy(src, start * 4, staging, 0, bytes);
    this.flush(true);
    this.pendingMaps++;
    try {
      let mapError: unknown;
      await staging.mapAsync(MAP_READ_MODE, 0, bytes).catch((e: unknown) => (mapError = e));
      const failure = await verdict;
      if (failure) Runtime.reject(failure);
      if (mapError !== undefined) {
        this.usable();
        throw new RiverbedError('E_BACKEND', oneLine(`webgpu: reading a tensor back failed: ${(mapError as Error).message ?? String(mapError)}`));
      }
      const range = staging.getMappedRange(0, bytes);
      const ctor = out.constructor as Float32ArrayConstructor | Int32ArrayConstructor;
      out.set(new ctor(range, 0, count), outStart);
    } finally {
      if (staging.mapState === 'mapped') staging.unmap();
      this.pendingMaps--;
      if (this.disposeRequested) {
        if (this.pendingMaps === 0) this.destroyNow();
      } else this.release(staging);
    }
    return out;
  }

  /** Waits for all submitted work; rejects with any GPU error no read has reported yet. */
  async sync(): Promise<void> {
    if (this.destroyed || this.disposeRequested) return;
    this.usable();
    const verdict = this.probe();
    this.flush(true);
    this.pendingMaps++;
    try {
      await this.device.queue.onSubmittedWorkDone();
      const failure = await verdict;
      if (failure) Runtime.reject(failure);
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
    this.lost.clear();
    this.device.destroy();
  }
}
