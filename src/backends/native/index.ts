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
import { fail } from '../../errors.js';
import { type Backend, type BackendInfo, type DType, type FusedCurvatureRequest, type FusedTrainRequest, type Tensor, shapeSize } from '../backend.js';
import { type GenericCall, KernelBackend, type KernelTable, type TensorState } from '../dispatch.js';
import { type Conv2dPlan, type CurvaturePlan, type TrainPlan, checkShape, checkUpload } from '../ops.js';
import type { NativeAddon } from './addon.js';
import { addonOrThrow } from './host.js';
import { HostPool, poolCapFromEnv } from './host-pool.js';

// The host functions (availability, file mapping, streaming sum) live in host.ts: code above
// backends/ imports them from there without loading this module.
export { type NativeAvailability, mapFileReadOnly, nativeAvailability, nativeSumBandwidth } from './host.js';

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

// Kernels receive tensors the registry has checked (this backend's, live, right dtype): plain casts.
const f32 = (t: Tensor): Float32Array => (t as NativeTensor).data as Float32Array;
const i32 = (t: Tensor): Int32Array => (t as NativeTensor).data as Int32Array;
const tensor = (shape: readonly number[], data: Float32Array) => new NativeTensor('f32', shape, data);
const EMPTY = new Float32Array(0);
/** The sizes of a convolution plan, exactly the fields the addon reads (native/conv.cc). */
const convSizes = (p: Conv2dPlan) => {
  const { n, c, h, w, o, kh, kw, oh, ow, strideH, strideW, padH, padW } = p;
  return { n, c, h, w, o, kh, kw, oh, ow, strideH, strideW, padH, padW };
};
const EMPTY_F32 = new Float32Array(0);

export class NativeBackend extends KernelBackend implements Backend {
  readonly name = 'native' as const;
  readonly #addon: NativeAddon;
  readonly #info: { threads: number; isa: string };
  readonly #pool: HostPool;

  constructor(addon: NativeAddon = addonOrThrow(), poolBytes = poolCapFromEnv()) {
    super();
    this.#addon = addon;
    this.#info = addon.info();
    this.#pool = new HostPool(poolBytes);
  }

  /** A float array for a kernel's output, recycled from freed tensors when one of that length is pooled. */
  #out(n: number): Float32Array {
    return this.#pool.take(n);
  }

  protected tensorState(t: Tensor): TensorState {
    if (!(t instanceof NativeTensor)) return 'foreign';
    return t.freed ? 'freed' : 'live';
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
    const s = checkUpload(data, Float32Array, shape, 'upload');
    const out = this.#out(data.length);
    out.set(data);
    return new NativeTensor('f32', s, out);
  }
  uploadInt(data: Int32Array, shape: readonly number[]): Tensor {
    const s = checkUpload(data, Int32Array, shape, 'uploadInt');
    return new NativeTensor('i32', s, Int32Array.from(data));
  }
  zeros(shape: readonly number[]): Tensor {
    const s = checkShape(shape, 'zeros');
    return new NativeTensor('f32', s, this.#out(shapeSize(s)).fill(0));
  }
  async read(t: Tensor): Promise<Float32Array> {
    this.checkTensor(t, { dtype: 'f32' }, 'read');
    return Float32Array.from(f32(t));
  }
  async readInt(t: Tensor): Promise<Int32Array> {
    this.checkTensor(t, { dtype: 'i32' }, 'readInt');
    return Int32Array.from(i32(t));
  }
  /** Hands t's array to the pool for the next tensor of the same length; t is unusable afterwards. */
  free(t: Tensor): void {
    if (!(t instanceof NativeTensor) || t.freed) return;
    t.freed = true;
    if (t.dtype === 'f32') this.#pool.give(t.data as Float32Array);
  }

  /**
   * Ops marked generic in the registry need no entry in the table below: their addon export is
   * called as fn(plan, ...tensor params, ...outputs) (native/registry.h checks every length).
   */
  protected override genericKernel(call: GenericCall): Tensor[] {
    const sym = call.spec.native![0]!;
    const fn = (this.#addon as unknown as Record<string, (...a: unknown[]) => unknown>)[sym];
    if (typeof fn !== 'function') fail('E_BACKEND', `${call.op}: the native addon has no export "${sym}" (rebuild it: npm rebuild riverbed)`);
    const outs = call.outputs.map((o) => {
      const n = shapeSize(o.shape);
      return new NativeTensor(o.dtype, o.shape, o.dtype === 'f32' ? this.#out(n) : new Int32Array(n));
    });
    fn.call(this.#addon, call.scalars, ...call.tensors.map(([, t]) => (t as NativeTensor).data), ...outs.map((t) => t.data));
    return outs;
  }

  // Arguments arrive checked by the op registry (../ops.ts): each kernel is the addon call only.
  protected readonly kernels: KernelTable = {
    matmul: ({ a, b }, { m, n, k, transA, transB }) => {
      const out = this.#out(m * n);
      this.#addon.sgemm(m, n, k, f32(a), transA, f32(b), transB, out);
      return tensor([m, n], out);
    },
    addBias: ({ x, bias }, { m, n }) => {
      const out = this.#out(m * n);
      this.#addon.addBias(f32(x), f32(bias), out, m, n);
      return tensor(x.shape, out);
    },
    activation: ({ x }, { code }) => {
      const out = this.#out(x.size);
      this.#addon.activation(code, f32(x), out);
      return tensor(x.shape, out);
    },
    activationGrad: ({ x, gy }, { code }) => {
      const out = this.#out(x.size);
      this.#addon.activationGrad(code, f32(x), f32(gy), out);
      return tensor(x.shape, out);
    },
    softmaxCrossEntropy: ({ logits, labels }, { b, c }) => {
      const Y = i32(labels);
      const loss = this.#out(b);
      const grad = this.#out(b * c);
      const bad = this.#addon.softmaxXent(f32(logits), Y, loss, grad, b, c);
      if (bad >= 0) fail('E_LABEL', `softmaxCrossEntropy: label ${Y[bad]} of row ${bad} is outside [0, ${c})`, { field: 'labels' });
      return { loss: tensor([b], loss), grad: tensor([b, c], grad) };
    },
    sumRows: ({ x }, { m, n }) => {
      const out = this.#out(n);
      this.#addon.sumRows(f32(x), out, m, n);
      return tensor([n], out);
    },
    sum: ({ x }) => tensor([1], Float32Array.of(this.#addon.sum(f32(x)))),
    axpy: ({ alpha, x, y }) => {
      const out = this.#out(x.size);
      this.#addon.axpy(alpha, f32(x), f32(y), out);
      return tensor(y.shape, out);
    },
    scale: ({ alpha, x }) => {
      const out = this.#out(x.size);
      this.#addon.scale(alpha, f32(x), out);
      return tensor(x.shape, out);
    },
    dot: ({ x, y }) => tensor([1], Float32Array.of(this.#addon.dot(f32(x), f32(y)))),
    gatherRows: ({ x, idx }, { m, n, k }) => {
      const I = i32(idx);
      const out = this.#out(k * n);
      const bad = this.#addon.gatherRows(f32(x), m, n, I, out);
      if (bad >= 0) fail('E_ARG', `gatherRows: index ${I[bad]} is outside [0, ${m})`);
      return tensor([k, n], out);
    },
    sgdStep: ({ param, grad, velocity, h }) => {
      this.#addon.sgdStep(f32(param), f32(grad), f32(velocity), h.lr, h.weightDecay, h.momentum, h.nesterov === true);
    },
    adamStep: ({ param, grad, m, v, h }) => {
      this.#addon.adamStep(f32(param), f32(grad), f32(m), f32(v), h.lr, h.weightDecay, h.beta1, h.beta2, h.eps, h.step, h.decoupled === true);
    },
    mul: ({ x, y }) => {
      const out = this.#out(x.size);
      this.#addon.mul(f32(x), f32(y), out);
      return tensor(x.shape, out);
    },
    activationRGrad: ({ z, rz, ga, rga }, { code }) => {
      const out = this.#out(z.size);
      this.#addon.activationRGrad(code, f32(z), f32(rz), f32(ga), f32(rga), out);
      return tensor(z.shape, out);
    },
    softmaxHessianVec: ({ logits, r }, { b, c }) => {
      const out = this.#out(b * c);
      this.#addon.softmaxHessianVec(f32(logits), f32(r), out, b, c);
      return tensor(logits.shape, out);
    },
    // slice / copyInto are plain memcpy: TypedArray slice/set do it without crossing into C++.
    slice: ({ x }, { offset, shape, n }) => {
      const out = this.#out(n);
      out.set(f32(x).subarray(offset, offset + n));
      return tensor(shape, out);
    },
    copyInto: ({ dst, src }, { offset }) => {
      f32(dst).set(f32(src), offset);
    },
    pointCombine: ({ coef, basis }, plan) => {
      const out = this.#out(plan.p * plan.s);
      this.#addon.pointCombine(plan, f32(coef), f32(basis), out);
      return tensor([plan.p, ...basis.shape.slice(1)], out);
    },
    batchedMatmul: ({ a, b, bias }, { p, m, n, k, hasBias, act }) => {
      const out = this.#out(p * m * n);
      this.#addon.batchedMatmul({ p, m, n, k, hasBias: hasBias ? 1 : 0, act }, f32(a), f32(b), bias ? f32(bias) : EMPTY_F32, out);
      return tensor([p, m, n], out);
    },
    guProject: ({ g, basis, metric }, plan) => {
      const out = this.#out(g.size);
      this.#addon.guProject(plan, f32(g), f32(basis), metric ? f32(metric) : EMPTY_F32, out);
      return tensor(g.shape, out);
    },
    bisimulationLoss: ({ z, reward, mu, sigma }, { b, d, e, gamma, hasSigma, perm, inv }) => {
      const terms = this.#out(b);
      const grad = this.#out(b * d);
      const loss = this.#addon.bisimulationLoss({ b, d, e, gamma, hasSigma }, f32(z), f32(reward), f32(mu), sigma ? f32(sigma) : EMPTY_F32, perm, inv, terms, grad);
      const l = this.#out(1);
      l[0] = loss;
      return { loss: tensor([1], l), terms: tensor([b], terms), grad: tensor([b, d], grad) };
    },
    cldScores: async ({ input }, { epochs: E, samples: N, classes: C }) => {
      const out = new Float32Array(N);
      if (N === 0) return out;
      const bad = await this.#addon.cldScores(input.trajectory, E, N, input.labels, input.classZ, C, out);
      if (bad >= 0) fail('E_LABEL', `cldScores: label ${input.labels[bad]} of sample ${bad} is outside [0, ${C})`, { field: 'labels' });
      return out;
    },
    mlpCurvatureProduct: ({ req }, plan) => this.#fusedCurvature(req, plan, false),
    mlpCurvatureProductAsync: async ({ req }, plan) => {
      await this.#fusedCurvature(req, plan, true);
    },
    mlpTrainSteps: ({ req }, plan) => this.#trainSteps(req, plan),

    // Convolution and pooling (native/conv.cc, native/pooling.cc): the plan goes to the addon as is.
    conv2d: ({ x, weight, bias }, p) => {
      const y = this.#out(p.n * p.o * p.oh * p.ow);
      this.#addon.conv2d({ ...convSizes(p), hasBias: p.hasBias ? 1 : 0 }, f32(x), f32(weight), bias ? f32(bias) : EMPTY, y);
      return tensor([p.n, p.o, p.oh, p.ow], y);
    },
    conv2dInputGrad: ({ gy, weight }, p) => {
      const gx = this.#out(p.n * p.c * p.h * p.w);
      this.#addon.conv2dInputGrad(convSizes(p), f32(gy), f32(weight), gx);
      return tensor([p.n, p.c, p.h, p.w], gx);
    },
    conv2dWeightGrad: ({ x, gy }, p) => {
      const gw = this.#out(p.o * p.c * p.kh * p.kw);
      this.#addon.conv2dWeightGrad(convSizes(p), f32(x), f32(gy), gw);
      return tensor([p.o, p.c, p.kh, p.kw], gw);
    },
    channelSum: ({ gy }, p) => {
      const out = this.#out(p.c);
      this.#addon.channelSum(p, f32(gy), out);
      return tensor([p.c], out);
    },
    maxPool2d: ({ x }, p) => {
      const y = this.#out(p.n * p.c * p.oh * p.ow);
      const argmax = new Int32Array(y.length);
      this.#addon.maxPool2d({ ...p }, f32(x), y, argmax);
      const shape = [p.n, p.c, p.oh, p.ow];
      return { y: tensor(shape, y), argmax: new NativeTensor('i32', shape, argmax) };
    },
    maxPool2dBackward: ({ gy, argmax }, p) => {
      const gx = this.#out(p.n * p.c * p.h * p.w);
      const A = i32(argmax);
      const bad = this.#addon.maxPool2dBackward({ ...p }, f32(gy), A, gx);
      if (bad >= 0) {
        const plane = p.h * p.w;
        const lo = Math.floor(bad / (p.oh * p.ow)) * plane;
        fail('E_ARG', `maxPool2dBackward: argmax[${bad}] = ${A[bad]} is outside its (n, c) plane [${lo}, ${lo + plane})`);
      }
      return tensor([p.n, p.c, p.h, p.w], gx);
    },
    gatherFlat: ({ x, idx }, p) => {
      const I = i32(idx);
      const y = this.#out(p.k);
      const bad = this.#addon.gatherFlat(p, f32(x), I, y);
      if (bad >= 0) fail('E_ARG', `gatherFlat: index ${I[bad]} (idx[${bad}]) is outside [0, ${p.n})`);
      return tensor(idx.shape, y);
    },
    avgPool2d: ({ x }, p) => {
      const y = this.#out(p.n * p.c * p.oh * p.ow);
      this.#addon.avgPool2d({ ...p }, f32(x), y);
      return tensor([p.n, p.c, p.oh, p.ow], y);
    },
    avgPool2dBackward: ({ gy }, p) => {
      const gx = this.#out(p.n * p.c * p.h * p.w);
      this.#addon.avgPool2dBackward({ ...p }, f32(gy), gx);
      return tensor([p.n, p.c, p.h, p.w], gx);
    },
  };

  /**
   * Fused training steps (native/mlp_train.cc): one addon call for all the steps of `req`, on a
   * libuv worker; the scratch lives on `req.state` (an addon workspace, reused by its next calls).
   */
  #trainSteps(req: FusedTrainRequest, plan: TrainPlan): Promise<number> {
    const params: Float32Array[] = [];
    const state: Float32Array[] = [];
    for (const l of req.layers) {
      if (l.type !== 'linear') continue;
      params.push(f32(l.weight));
      for (const t of l.weightState) state.push(f32(t));
      if (l.bias !== undefined) {
        params.push(f32(l.bias));
        for (const t of l.biasState!) state.push(f32(t));
      }
    }
    const st = req.state as { data?: { workspace?: object } };
    if (typeof st.data !== 'object' || st.data === null || !st.data.workspace) st.data = { workspace: this.#addon.mlpTrainWorkspace() };
    return this.#addon.mlpTrainSteps(
      plan.spec, params, state, f32(req.x), req.labels, req.rows, req.batchSize, req.lr, plan.hyper, req.loss, st.data.workspace!,
    );
  }

  /**
   * The fused HVP / GGN product (native/mlp_hvp.cc): one addon call, scratch reused across calls;
   * offThread: on a libuv worker (mlpCurvatureProductAsync), settled by the returned promise.
   */
  #fusedCurvature(req: FusedCurvatureRequest, plan: CurvaturePlan, offThread: boolean): Promise<void> | undefined {
    const { batch: B, spec, widths } = plan;
    // Weights then bias of every linear layer, in layer order (the addon walks the same spec).
    const params: Float32Array[] = [];
    for (const l of req.layers) {
      if (l.type !== 'linear') continue;
      params.push(f32(l.weight));
      if (l.bias !== undefined) params.push(f32(l.bias));
    }
    const hess = req.kind === 'hessian';
    // Per-batch forward state on the caller's object, recomputed when the problem changes.
    let stateH: Float32Array[] | null = null;
    let stateG: (Float32Array | null)[] | null = null;
    let stateD: (Float32Array | null)[] | null = null;
    let valid = false;
    if (req.state) {
      const key = `${req.kind}|${B}|${spec.join(',')}`;
      let st = req.state.data as { key: string; h: Float32Array[]; g: (Float32Array | null)[]; d: (Float32Array | null)[]; valid: boolean; busy?: boolean } | undefined;
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
      // Its arrays are being written by a product still running off-thread.
      if (st.busy) fail('E_ARG', 'mlpCurvatureProduct: this state object is in use by a product still running; await it first', { field: 'state' });
      st.valid = false; // until the call returns without error
      const running = this.#curvature(spec, params, req, B, hess, stateH, stateG, stateD, valid, offThread);
      if (!running) {
        st.valid = true;
        return undefined;
      }
      const kept = st;
      kept.busy = true;
      return running.then(() => {
        kept.valid = true;
      }).finally(() => {
        kept.busy = false;
      });
    }
    return this.#curvature(spec, params, req, B, hess, null, null, null, false, offThread);
  }

  #curvature(
    spec: Int32Array, params: Float32Array[], req: FusedCurvatureRequest, B: number, hess: boolean,
    stateH: Float32Array[] | null, stateG: (Float32Array | null)[] | null, stateD: (Float32Array | null)[] | null, valid: boolean,
    offThread: boolean,
  ): Promise<void> | undefined {
    const labels = i32(req.labels);
    const args = [
      spec, params, f32(req.x), labels, B, f32(req.v), f32(req.out), !hess, req.scale, !!req.accumulate, stateH, stateG, stateD, valid,
    ] as const;
    if (offThread) return this.#addon.mlpCurvatureProductAsync(...args).then((bad) => this.#badLabel(bad, labels, spec));
    this.#badLabel(this.#addon.mlpCurvatureProduct(...args), labels, spec);
    return undefined;
  }

  #badLabel(bad: number, labels: Int32Array, spec: Int32Array): void {
    if (bad >= 0) fail('E_LABEL', `mlpCurvatureProduct: label ${labels[bad]} of row ${bad} is outside [0, ${spec[spec.length - 3]})`, { field: 'labels' });
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
