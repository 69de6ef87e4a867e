/**
 * The `native` backend: the C++ addon (native/) behind the Backend contract.
 *
 * Tensors are plain typed arrays in JS memory handed to C++ without copies. Shapes, dtypes and
 * indices are validated here, before the call; small kernels run synchronously, the CLD kernel
 * runs on a libuv worker (its C++ side splits the work over the addon's own thread pool).
 *
 * Environment: RIVERBED_THREADS=n sizes the pool (default: the cores this process may use);
 * RIVERBED_ISA=generic|avx2 caps the hand-written AVX-512 paths (gemm, CLD, streaming sum) for
 * testing the fallbacks; RIVERBED_DISABLE_NATIVE=1 makes the addon unavailable;
 * RIVERBED_SKIP_NATIVE=1 skips building it on install; RIVERBED_NATIVE_POOL_MB caps the arrays kept
 * from freed tensors for reuse (default 512, 0 = off; see host-pool.ts); RIVERBED_GEMM_PACK=1
 * makes sgemm pack both operands always (testing/timing the packed path).
 */
import { RiverbedError, fail } from '../../errors.js';
import {
  type Activation,
  type AdamHyper,
  type Backend,
  type BackendInfo,
  type CldKernelInput,
  type DType,
  type FusedCurvatureRequest,
  type SgdHyper,
  type Tensor,
  dims2,
  sameSize,
  shapeSize,
} from '../backend.js';
import { type NativeAddon, nativeAddon, nativeAddonWarnOnce } from './addon.js';
import { HostPool, poolCapFromEnv } from './host-pool.js';

export type NativeAvailability = { available: true; threads: number; isa: string } | { available: false; reason: string };

/** Whether the addon loaded here, with its thread count and the instruction set its dispatch picked. */
export function nativeAvailability(): NativeAvailability {
  const l = nativeAddon();
  if (!l.ok) return { available: false, reason: l.reason };
  const i = l.addon.info();
  return { available: true, threads: i.threads, isa: i.isa };
}

function addonOrThrow(): NativeAddon {
  const l = nativeAddonWarnOnce();
  if (!l.ok) throw new RiverbedError('E_BACKEND', `native backend unavailable: ${l.reason}`);
  return l.addon;
}

/**
 * Maps a file read-only into memory (no copy; pages come from the page cache). Undefined when the
 * addon is unavailable, so callers can fall back to reading the file. Unmapped when the returned
 * ArrayBuffer is garbage-collected.
 */
export function mapFileReadOnly(file: string): ArrayBuffer | undefined {
  const l = nativeAddonWarnOnce();
  if (!l.ok) return undefined;
  try {
    return l.addon.mapFile(file);
  } catch (e) {
    throw new RiverbedError('E_FILE', `cannot map the file read-only: ${(e as Error).message}`, { file });
  }
}

/** A plain multi-threaded sum over `data`: the memory-bandwidth yardstick the benchmark compares against. */
export function nativeSumBandwidth(data: Float32Array): number {
  if (!(data instanceof Float32Array)) fail('E_ARG', 'nativeSumBandwidth expects a Float32Array');
  return addonOrThrow().sumBandwidth(data);
}

export class NativeTensor implements Tensor {
  readonly backend = 'native' as const;
  readonly size: number;
  /** Set by free(): the array may already belong to another tensor. */
  freed = false;
  constructor(
    readonly dtype: DType,
    readonly shape: readonly number[],
    readonly data: Float32Array | Int32Array,
  ) {
    this.size = shapeSize(shape);
    if (data.length !== this.size) fail('E_INTERNAL', `tensor data length ${data.length} != shape [${shape.join(', ')}]`);
  }
}

const ACT_CODE: Record<Activation, number> = { relu: 0, tanh: 1, sigmoid: 2, gelu: 3 };

function checkShape(shape: readonly number[], what: string): readonly number[] {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) fail('E_SHAPE', `${what}: shape [${shape.join(', ')}] has a dimension that is not a non-negative integer`);
  }
  return [...shape];
}
function f32(t: Tensor, what: string): Float32Array {
  if (!(t instanceof NativeTensor)) fail('E_ARG', `${what}: expected a native tensor, got one from the ${t.backend} backend`);
  if (t.freed) fail('E_ARG', `${what}: the tensor was freed`);
  if (t.dtype !== 'f32') fail('E_DTYPE', `${what}: expected an f32 tensor, got ${t.dtype}`);
  return t.data as Float32Array;
}
function i32(t: Tensor, what: string): Int32Array {
  if (!(t instanceof NativeTensor)) fail('E_ARG', `${what}: expected a native tensor, got one from the ${t.backend} backend`);
  if (t.freed) fail('E_ARG', `${what}: the tensor was freed`);
  if (t.dtype !== 'i32') fail('E_DTYPE', `${what}: expected an i32 tensor, got ${t.dtype}`);
  return t.data as Int32Array;
}
function finite(x: number, what: string): number {
  if (typeof x !== 'number' || !Number.isFinite(x)) fail('E_ARG', `${what} must be a finite number, got ${x}`);
  return x;
}

const tensor = (shape: readonly number[], data: Float32Array) => new NativeTensor('f32', shape, data);

export class NativeBackend implements Backend {
  readonly name = 'native' as const;
  readonly #addon: NativeAddon;
  readonly #info: { threads: number; isa: string };
  readonly #pool: HostPool;

  constructor(addon: NativeAddon = addonOrThrow(), poolBytes = poolCapFromEnv()) {
    this.#addon = addon;
    this.#info = addon.info();
    this.#pool = new HostPool(poolBytes);
  }

  /** A float array for a kernel's output, recycled from freed tensors when one of that length is pooled. */
  #out(n: number): Float32Array {
    return this.#pool.take(n);
  }

  info(): BackendInfo {
    const { threads, isa } = this.#info;
    return { name: 'native', description: `C++ addon (${isa} kernels, ${threads} threads)`, threads };
  }
  /** The instruction-set path the addon's CPU dispatch picked ("avx512f", "avx2" or "generic"). */
  get isa(): string {
    return this.#info.isa;
  }

  upload(data: Float32Array, shape: readonly number[]): Tensor {
    const s = checkShape(shape, 'upload');
    if (data.length !== shapeSize(s)) fail('E_SHAPE', `upload: ${data.length} values for shape [${s.join(', ')}]`);
    const out = this.#out(data.length);
    out.set(data);
    return new NativeTensor('f32', s, out);
  }
  uploadInt(data: Int32Array, shape: readonly number[]): Tensor {
    const s = checkShape(shape, 'uploadInt');
    if (data.length !== shapeSize(s)) fail('E_SHAPE', `uploadInt: ${data.length} values for shape [${s.join(', ')}]`);
    return new NativeTensor('i32', s, Int32Array.from(data));
  }
  zeros(shape: readonly number[]): Tensor {
    const s = checkShape(shape, 'zeros');
    return new NativeTensor('f32', s, this.#out(shapeSize(s)).fill(0));
  }
  async read(t: Tensor): Promise<Float32Array> {
    return Float32Array.from(f32(t, 'read'));
  }
  async readInt(t: Tensor): Promise<Int32Array> {
    return Int32Array.from(i32(t, 'readInt'));
  }
  /** Hands t's array to the pool for the next tensor of the same length; t is unusable afterwards. */
  free(t: Tensor): void {
    if (!(t instanceof NativeTensor) || t.freed) return;
    t.freed = true;
    if (t.dtype === 'f32') this.#pool.give(t.data as Float32Array);
  }

  matmul(a: Tensor, b: Tensor, transA = false, transB = false): Tensor {
    const [ar, ac] = dims2(a, 'matmul A');
    const [br, bc] = dims2(b, 'matmul B');
    const [m, k] = transA ? [ac, ar] : [ar, ac];
    const [k2, n] = transB ? [bc, br] : [br, bc];
    if (k !== k2) fail('E_SHAPE', `matmul: inner dimensions differ (${k} vs ${k2})`);
    if (m > 0x7fffffff || n > 0x7fffffff || k > 0x7fffffff) fail('E_SHAPE', 'matmul: dimension too large');
    const out = this.#out(m * n);
    this.#addon.sgemm(m, n, k, f32(a, 'matmul A'), transA, f32(b, 'matmul B'), transB, out);
    return tensor([m, n], out);
  }

  addBias(x: Tensor, bias: Tensor): Tensor {
    const [m, n] = dims2(x, 'addBias x');
    if (bias.size !== n) fail('E_SHAPE', `addBias: bias has ${bias.size} elements, expected ${n}`);
    const out = this.#out(m * n);
    this.#addon.addBias(f32(x, 'addBias x'), f32(bias, 'addBias bias'), out, m, n);
    return tensor(x.shape, out);
  }

  activation(kind: Activation, x: Tensor): Tensor {
    const code = ACT_CODE[kind];
    if (code === undefined) fail('E_ARG', `unknown activation "${kind}"`);
    const X = f32(x, `${kind} x`);
    const out = this.#out(X.length);
    this.#addon.activation(code, X, out);
    return tensor(x.shape, out);
  }

  activationGrad(kind: Activation, x: Tensor, gy: Tensor): Tensor {
    const code = ACT_CODE[kind];
    if (code === undefined) fail('E_ARG', `unknown activation "${kind}"`);
    sameSize(x, gy, 'activationGrad');
    const X = f32(x, `${kind}Grad x`);
    const out = this.#out(X.length);
    this.#addon.activationGrad(code, X, f32(gy, `${kind}Grad gy`), out);
    return tensor(x.shape, out);
  }

  softmaxCrossEntropy(logits: Tensor, labels: Tensor): { loss: Tensor; grad: Tensor } {
    const [b, c] = dims2(logits, 'softmaxCrossEntropy logits');
    if (labels.size !== b) fail('E_SHAPE', `softmaxCrossEntropy: ${labels.size} labels for ${b} rows`);
    const Y = i32(labels, 'softmaxCrossEntropy labels');
    const loss = this.#out(b);
    const grad = this.#out(b * c);
    const bad = this.#addon.softmaxXent(f32(logits, 'softmaxCrossEntropy logits'), Y, loss, grad, b, c);
    if (bad >= 0) fail('E_LABEL', `label ${Y[bad]} of row ${bad} is outside [0, ${c})`);
    return { loss: tensor([b], loss), grad: tensor([b, c], grad) };
  }

  sumRows(x: Tensor): Tensor {
    const [m, n] = dims2(x, 'sumRows x');
    const out = this.#out(n);
    this.#addon.sumRows(f32(x, 'sumRows x'), out, m, n);
    return tensor([n], out);
  }

  sum(x: Tensor): Tensor {
    return tensor([1], Float32Array.of(this.#addon.sum(f32(x, 'sum x'))));
  }

  axpy(alpha: number, x: Tensor, y: Tensor): Tensor {
    sameSize(x, y, 'axpy');
    const X = f32(x, 'axpy x');
    const out = this.#out(X.length);
    this.#addon.axpy(finite(alpha, 'axpy alpha'), X, f32(y, 'axpy y'), out);
    return tensor(y.shape, out);
  }

  scale(alpha: number, x: Tensor): Tensor {
    const X = f32(x, 'scale x');
    const out = this.#out(X.length);
    this.#addon.scale(finite(alpha, 'scale alpha'), X, out);
    return tensor(x.shape, out);
  }

  dot(x: Tensor, y: Tensor): Tensor {
    sameSize(x, y, 'dot');
    return tensor([1], Float32Array.of(this.#addon.dot(f32(x, 'dot x'), f32(y, 'dot y'))));
  }

  gatherRows(x: Tensor, idx: Tensor): Tensor {
    const [m, n] = dims2(x, 'gatherRows x');
    const I = i32(idx, 'gatherRows idx');
    const out = this.#out(I.length * n);
    const bad = this.#addon.gatherRows(f32(x, 'gatherRows x'), m, n, I, out);
    if (bad >= 0) fail('E_ARG', `gatherRows: index ${I[bad]} is outside [0, ${m})`);
    return tensor([I.length, n], out);
  }

  sgdStep(param: Tensor, grad: Tensor, velocity: Tensor, h: SgdHyper): void {
    sameSize(param, grad, 'sgdStep');
    sameSize(param, velocity, 'sgdStep');
    this.#addon.sgdStep(
      f32(param, 'sgdStep param'), f32(grad, 'sgdStep grad'), f32(velocity, 'sgdStep velocity'),
      finite(h.lr, 'sgd lr'), finite(h.weightDecay, 'sgd weightDecay'), finite(h.momentum, 'sgd momentum'), !!h.nesterov,
    );
  }

  adamStep(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, h: AdamHyper): void {
    sameSize(param, grad, 'adamStep');
    sameSize(param, m, 'adamStep');
    sameSize(param, v, 'adamStep');
    if (!Number.isInteger(h.step) || h.step < 1) fail('E_ARG', `adam step must be an integer >= 1, got ${h.step}`);
    this.#addon.adamStep(
      f32(param, 'adamStep param'), f32(grad, 'adamStep grad'), f32(m, 'adamStep m'), f32(v, 'adamStep v'),
      finite(h.lr, 'adam lr'), finite(h.weightDecay, 'adam weightDecay'), finite(h.beta1, 'adam beta1'),
      finite(h.beta2, 'adam beta2'), finite(h.eps, 'adam eps'), h.step, !!h.decoupled,
    );
  }

  mul(x: Tensor, y: Tensor): Tensor {
    sameSize(x, y, 'mul');
    const X = f32(x, 'mul x');
    const out = this.#out(X.length);
    this.#addon.mul(X, f32(y, 'mul y'), out);
    return tensor(x.shape, out);
  }

  activationRGrad(kind: Activation, z: Tensor, rz: Tensor, ga: Tensor, rga: Tensor): Tensor {
    const code = ACT_CODE[kind];
    if (code === undefined) fail('E_ARG', `unknown activation "${kind}"`);
    for (const [t, what] of [[rz, 'rz'], [ga, 'ga'], [rga, 'rga']] as const) sameSize(z, t, `activationRGrad ${what}`);
    const Z = f32(z, `${kind}RGrad z`);
    const out = this.#out(Z.length);
    this.#addon.activationRGrad(code, Z, f32(rz, `${kind}RGrad rz`), f32(ga, `${kind}RGrad ga`), f32(rga, `${kind}RGrad rga`), out);
    return tensor(z.shape, out);
  }

  softmaxHessianVec(logits: Tensor, r: Tensor): Tensor {
    const [b, c] = dims2(logits, 'softmaxHessianVec logits');
    sameSize(logits, r, 'softmaxHessianVec');
    const out = this.#out(b * c);
    this.#addon.softmaxHessianVec(f32(logits, 'softmaxHessianVec logits'), f32(r, 'softmaxHessianVec r'), out, b, c);
    return tensor(logits.shape, out);
  }

  // slice / copyInto are plain memcpy: TypedArray slice/set do it without crossing into C++.
  slice(x: Tensor, offset: number, shape: readonly number[]): Tensor {
    const s = checkShape(shape, 'slice');
    const n = shapeSize(s);
    const X = f32(x, 'slice x');
    if (!Number.isInteger(offset) || offset < 0 || offset + n > X.length) {
      fail('E_ARG', `slice [${offset}, ${offset + n}) is outside a tensor of ${X.length} elements`);
    }
    const out = this.#out(n);
    out.set(X.subarray(offset, offset + n));
    return tensor(s, out);
  }

  copyInto(dst: Tensor, dstOffset: number, src: Tensor): void {
    const D = f32(dst, 'copyInto dst');
    const S = f32(src, 'copyInto src');
    if (!Number.isInteger(dstOffset) || dstOffset < 0 || dstOffset + S.length > D.length) {
      fail('E_ARG', `copyInto [${dstOffset}, ${dstOffset + S.length}) is outside a tensor of ${D.length} elements`);
    }
    D.set(S, dstOffset);
  }

  /** The fused HVP / GGN product (native/mlp_hvp.cc): one addon call, scratch reused across calls. */
  mlpCurvatureProduct(req: FusedCurvatureRequest): void {
    const [B, D] = dims2(req.x, 'mlpCurvatureProduct x');
    if (req.labels.size !== B) fail('E_SHAPE', `mlpCurvatureProduct: ${req.labels.size} labels for ${B} samples`, { field: 'labels' });
    if (req.kind !== 'hessian' && req.kind !== 'ggn') fail('E_ARG', `mlpCurvatureProduct: kind must be "hessian" or "ggn", got ${JSON.stringify(req.kind)}`);
    const n = req.layers.length;
    const spec = new Int32Array(5 * n);
    const params: Float32Array[] = [];
    const widths: number[] = [];
    let width = D;
    let vSize = 0;
    let active = 0;
    req.layers.forEach((l, i) => {
      if (l.type === 'linear') {
        const [o, inn] = dims2(l.weight, `mlpCurvatureProduct layers[${i}].weight`);
        if (inn !== width) fail('E_SHAPE', `mlpCurvatureProduct: layers[${i}] expects ${inn} features, gets ${width}`);
        if (l.bias !== undefined && l.bias.size !== o) fail('E_SHAPE', `mlpCurvatureProduct: layers[${i}].bias has ${l.bias.size} elements, expected ${o}`);
        params.push(f32(l.weight, `mlpCurvatureProduct layers[${i}].weight`));
        if (l.bias !== undefined) params.push(f32(l.bias, `mlpCurvatureProduct layers[${i}].bias`));
        spec.set([-1, inn, o, l.bias !== undefined ? 1 : 0, l.active ? 1 : 0], 5 * i);
        if (l.active) {
          vSize += o * inn + (l.bias !== undefined ? o : 0);
          active++;
        }
        width = o;
      } else {
        const code = ACT_CODE[l.type];
        if (code === undefined) fail('E_ARG', `unknown activation "${l.type}"`);
        spec.set([code, width, width, 0, 0], 5 * i);
      }
      widths.push(width);
    });
    if (n === 0 || req.layers[n - 1]!.type !== 'linear') fail('E_ARG', 'mlpCurvatureProduct: the last layer must be linear (the logits)');
    if (active === 0) fail('E_ARG', 'mlpCurvatureProduct: no active layer');
    if (req.v.size !== vSize) fail('E_SHAPE', `mlpCurvatureProduct: vector has ${req.v.size} elements; expected ${vSize}`, { field: 'vector' });
    sameSize(req.v, req.out, 'mlpCurvatureProduct out');
    const hess = req.kind === 'hessian';
    // Per-batch forward state on the caller's object, recomputed when the problem changes.
    let stateH: Float32Array[] | null = null;
    let stateG: (Float32Array | null)[] | null = null;
    let stateD: (Float32Array | null)[] | null = null;
    let valid = false;
    if (req.state) {
      const key = `${req.kind}|${B}|${spec.join(',')}`;
      let st = req.state.data as { key: string; h: Float32Array[]; g: (Float32Array | null)[]; d: (Float32Array | null)[]; valid: boolean } | undefined;
      if (!st || st.key !== key) {
        const lowest = req.layers.findIndex((l) => l.type === 'linear' && l.active);
        st = {
          key,
          h: widths.map((w) => new Float32Array(B * w)),
          g: widths.map((w, i) => (hess && i >= lowest ? new Float32Array(B * w) : null)),
          // f'(z) then f''(z) of every activation layer, kept from the forward.
          d: widths.map((w, i) => (req.layers[i]!.type !== 'linear' ? new Float32Array(2 * B * w) : null)),
          valid: false,
        };
        req.state.data = st;
      }
      stateH = st.h;
      stateG = st.g;
      stateD = st.d;
      valid = st.valid;
      st.valid = false; // until the call returns without error
      this.#curvature(spec, params, req, B, hess, stateH, stateG, stateD, valid);
      st.valid = true;
      return;
    }
    this.#curvature(spec, params, req, B, hess, null, null, null, false);
  }

  #curvature(
    spec: Int32Array, params: Float32Array[], req: FusedCurvatureRequest, B: number, hess: boolean,
    stateH: Float32Array[] | null, stateG: (Float32Array | null)[] | null, stateD: (Float32Array | null)[] | null, valid: boolean,
  ): void {
    const labels = i32(req.labels, 'mlpCurvatureProduct labels');
    const bad = this.#addon.mlpCurvatureProduct(
      spec, params, f32(req.x, 'mlpCurvatureProduct x'), labels, B, f32(req.v, 'mlpCurvatureProduct v'),
      f32(req.out, 'mlpCurvatureProduct out'), !hess, finite(req.scale, 'mlpCurvatureProduct scale'), !!req.accumulate,
      stateH, stateG, stateD, valid,
    );
    if (bad >= 0) fail('E_LABEL', `label ${labels[bad]} of row ${bad} is outside [0, ${spec[spec.length - 3]})`, { field: 'labels' });
  }

  async cldScores(input: CldKernelInput): Promise<Float32Array> {
    const { trajectory: T, epochs: E, samples: N, labels, numClasses: C, classZ } = input;
    if (!(T instanceof Float32Array) && !(T instanceof Float64Array)) fail('E_DTYPE', 'cldScores: trajectory must be a Float32Array or Float64Array', { field: 'trajectory' });
    for (const [v, what] of [[E, 'epochs'], [N, 'samples'], [C, 'numClasses']] as const) {
      if (!Number.isInteger(v) || v < 0) fail('E_ARG', `cldScores: ${what} must be a non-negative integer, got ${v}`, { field: what });
    }
    if (T.length !== E * N) fail('E_SHAPE', `cldScores: trajectory has ${T.length} values, expected epochs × samples = ${E} × ${N}`, { field: 'trajectory' });
    if (!(labels instanceof Int32Array) || labels.length !== N) fail('E_SHAPE', `cldScores: expected ${N} int32 labels, got ${labels?.length}`, { field: 'labels' });
    const zLen = Math.max(E - 1, 0) * C;
    if (!(classZ instanceof Float64Array) || classZ.length !== zLen) {
      fail('E_SHAPE', `cldScores: classZ must be a Float64Array of (epochs − 1) × numClasses = ${zLen} values, got ${classZ?.length}`, { field: 'classZ' });
    }
    if (C === 0 && N > 0) fail('E_ARG', 'cldScores: numClasses is 0 but there are samples', { field: 'numClasses' });
    const out = new Float32Array(N);
    if (N === 0) return out;
    const bad = await this.#addon.cldScores(T, E, N, labels, classZ, C, out);
    if (bad >= 0) fail('E_LABEL', `label ${labels[bad]} of sample ${bad} is outside [0, ${C})`, { field: 'labels' });
    return out;
  }

  async sync(): Promise<void> {}
  dispose(): void {
    // The addon's thread pool is process-wide and never keeps the process alive.
    this.#pool.clear();
  }
}

/** The native backend; throws RiverbedError E_BACKEND (after printing the reason once) when the addon is unavailable. */
export function createNativeBackend(): Backend {
  return new NativeBackend();
}
