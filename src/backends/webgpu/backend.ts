/**
 * The webgpu Backend: WGSL kernels through Dawn, as an executor of the op registry (../ops.ts).
 * Its kernel table maps each registered op to the binding file of its shader family
 * (kernels/*.ts); this class owns tensor memory and the device lifetime. Arguments arrive
 * checked by the registry.
 */
import { fail } from '../../errors.js';
import { type Backend, type BackendInfo, type Tensor, shapeSize } from '../backend.js';
import { type GenericCall, KernelBackend, type KernelTable, type TensorState } from '../dispatch.js';
import { checkShape, checkUpload } from '../ops.js';
import type { GpuDevice } from './device.js';
import { activationRGrad } from './kernels/act-rgrad.js';
import { axpy, mul, scale } from './kernels/axpy.js';
import { cldScores } from './kernels/cld.js';
import { copyInto, slice } from './kernels/copy.js';
import { conv2d, conv2dInputGrad, conv2dWeightGrad } from './kernels/conv.js';
import type { Ctx } from './kernels/ctx.js';
import { activation, activationGrad, addBias } from './kernels/elementwise.js';
import { gatherRows } from './kernels/gather.js';
import { avgPool2d, avgPool2dBackward, channelSum, gatherFlat, maxPool2d, maxPool2dBackward } from './kernels/pool.js';
import { bisimulationLoss } from './kernels/bisim.js';
import { guProject } from './kernels/gu.js';
import { batchedMatmul, pointCombine } from './kernels/landscape.js';
import { matmul } from './kernels/matmul.js';
import { adamStep, sgdStep } from './kernels/optim.js';
import { dot, sum, sumRows } from './kernels/reduce.js';
import { softmaxHessianVec } from './kernels/softmax-hvp.js';
import { softmaxCrossEntropy } from './kernels/softmax.js';
import { mlpTrainSteps } from './kernels/train.js';
import { runMap } from './kernels/map.js';
import { Runtime, type RuntimeOptions } from './runtime.js';
import { shaderLayout } from './shader.js';
import { GpuTensor, asGpu } from './tensor.js';

export type WebGpuOptions = RuntimeOptions;

export class WebGpuBackend extends KernelBackend implements Backend, Ctx {
  readonly name = 'webgpu' as const;
  readonly rt: Runtime;
  /** Buffers of tensors the caller dropped without free(): returned to the pool by GC. */
  private readonly finalizer = new FinalizationRegistry<GPUBuffer>((buf) => this.rt.release(buf));

  constructor(readonly gpu: GpuDevice, options: WebGpuOptions = {}) {
    super();
    this.rt = new Runtime(gpu, options);
  }

  info(): BackendInfo {
    const kind = this.gpu.software ? 'software Vulkan (correctness path, slow)' : 'GPU';
    return {
      name: 'webgpu',
      description: `WGSL kernels on ${this.gpu.description} via Dawn (${kind})`,
      adapter: this.gpu.description,
      software: this.gpu.software,
    };
  }

  alloc(shape: readonly number[], dtype: 'f32' | 'i32' = 'f32'): GpuTensor {
    const size = shapeSize(shape);
    const t = new GpuTensor(dtype, [...shape], this.rt.acquire(Math.max(4, size * 4)));
    this.finalizer.register(t, t.buffer, t);
    return t;
  }

  // ---- memory ----------------------------------------------------------------------------------

  upload(data: Float32Array, shape: readonly number[]): Tensor {
    const t = this.alloc(checkUpload(data, Float32Array, shape, 'upload'));
    this.rt.write(t.buffer, 0, data);
    return t;
  }
  uploadInt(data: Int32Array, shape: readonly number[]): Tensor {
    const t = this.alloc(checkUpload(data, Int32Array, shape, 'uploadInt'), 'i32');
    this.rt.write(t.buffer, 0, data);
    return t;
  }
  zeros(shape: readonly number[]): Tensor {
    const t = this.alloc(checkShape(shape, 'zeros'));
    this.rt.clear(t.buffer, 0, t.buffer.size);
    return t;
  }
  async read(t: Tensor): Promise<Float32Array> {
    this.checkTensor(t, { dtype: 'f32' }, 'read');
    const g = asGpu(t, 'f32', 'read');
    return this.rt.readInto(g.buffer, 0, g.size, new Float32Array(g.size));
  }
  async readInt(t: Tensor): Promise<Int32Array> {
    this.checkTensor(t, { dtype: 'i32' }, 'readInt');
    const g = asGpu(t, 'i32', 'readInt');
    return this.rt.readInto(g.buffer, 0, g.size, new Int32Array(g.size));
  }
  free(t: Tensor): void {
    if (!(t instanceof GpuTensor) || t.freed) return;
    t.freed = true;
    this.finalizer.unregister(t);
    this.rt.release(t.buffer);
  }

  protected tensorState(t: Tensor): TensorState {
    if (!(t instanceof GpuTensor)) return 'foreign';
    return t.freed ? 'freed' : 'live';
  }

  /**
   * Ops marked generic in the registry: the first entry point of their WGSL family runs
   * elementwise (kernels/map.ts) over the first output, or in place over the first tensor; every
   * tensor is bound by its parameter (or output) name with a `<name>Base` uniform, and every other
   * `Params` field takes the call's or the plan's number of that name — a field with none is an error.
   */
  protected override genericKernel(call: GenericCall): Tensor[] {
    const { family, entries } = call.spec.wgsl![0]!;
    const outs = call.outputs.map((o) => this.alloc(o.shape, o.dtype));
    const bound: [string, GpuTensor][] = [...call.tensors.map(([n, t]) => [n, t as GpuTensor] as [string, GpuTensor]), ...call.outputs.map((o, i) => [o.name, outs[i]!] as [string, GpuTensor])];
    const count = (outs[0] ?? bound[0]![1]).size;
    for (const [n, t] of bound) if (t.size !== count) fail('E_INTERNAL', `${call.op}: generic webgpu ops are elementwise; ${n} has ${t.size} elements, not ${count}`);
    const params: Record<string, number> = {};
    const layout = shaderLayout(family);
    const reads = layout.entryParams.get(entries[0]!);
    if (!reads) fail('E_INTERNAL', `${family}.wgsl has no entry point ${entries[0]!}`);
    for (const f of layout.params.fields) {
      if (f.name === 'count' || f.name === 'first') continue;
      if (f.name.endsWith('Base')) {
        // The base of a tensor this entry does not bind (another entry's, in the shared Params): unused.
        if (!bound.some(([n]) => `${n}Base` === f.name)) params[f.name] = 0;
        continue;
      }
      const v = call.scalars[f.name];
      // Entries of a family share one Params struct: a field this entry never reads may stay 0.
      if (v === undefined && reads.has(f.name)) fail('E_INTERNAL', `${call.op}: ${family}.wgsl Params.${f.name} has no value in the call or the plan`);
      params[f.name] = v ?? 0;
    }
    runMap(this.rt, { family, entry: entries[0]! }, count, bound.map(([name, t]) => ({ name, buffer: t.buffer, base: `${name}Base` })), params);
    return outs;
  }

  protected readonly kernels: KernelTable = {
    matmul: ({ a, b }, { transA, transB }) => matmul(this, a, b, transA, transB),
    addBias: ({ x, bias }) => addBias(this, x, bias),
    activation: ({ x }, { kind }) => activation(this, kind, x),
    activationGrad: ({ x, gy }, { kind }) => activationGrad(this, kind, x, gy),
    softmaxCrossEntropy: ({ logits, labels }) => softmaxCrossEntropy(this, logits, labels),
    sumRows: ({ x }) => sumRows(this, x),
    sum: ({ x }) => sum(this, x),
    axpy: ({ alpha, x, y }) => axpy(this, alpha, x, y),
    scale: ({ alpha, x }) => scale(this, alpha, x),
    dot: ({ x, y }) => dot(this, x, y),
    gatherRows: ({ x, idx }) => gatherRows(this, x, idx),
    sgdStep: ({ param, grad, velocity, h }) => sgdStep(this, param, grad, velocity, h),
    adamStep: ({ param, grad, m, v, h }) => adamStep(this, param, grad, m, v, h),
    mul: ({ x, y }) => mul(this, x, y),
    activationRGrad: ({ z, rz, ga, rga }, { kind }) => activationRGrad(this, kind, z, rz, ga, rga),
    softmaxHessianVec: ({ logits, r }) => softmaxHessianVec(this, logits, r),
    slice: ({ x }, { offset, shape }) => slice(this, x, offset, shape),
    copyInto: ({ dst, src }, { offset }) => copyInto(this, dst, offset, src),
    pointCombine: ({ coef, basis }, plan) => pointCombine(this, coef, basis, plan),
    batchedMatmul: ({ a, b, bias }, plan) => batchedMatmul(this, a, b, bias, plan),
    guProject: ({ g, basis, metric }, plan) => guProject(this, g, basis, metric, plan),
    bisimulationLoss: ({ z, reward, mu, sigma }, plan) => bisimulationLoss(this, z, reward, mu, sigma, plan),
    cldScores: ({ input }) => cldScores(this, input),
    mlpTrainSteps: ({ req }, plan) => mlpTrainSteps(this, req, plan),
    conv2d: ({ x, weight, bias }, plan) => conv2d(this, x, weight, bias, plan),
    conv2dInputGrad: ({ gy, weight }, plan) => conv2dInputGrad(this, gy, weight, plan),
    conv2dWeightGrad: ({ x, gy }, plan) => conv2dWeightGrad(this, x, gy, plan),
    channelSum: ({ gy }, plan) => channelSum(this, gy, plan),
    maxPool2d: ({ x }, plan) => maxPool2d(this, x, plan),
    maxPool2dBackward: ({ gy, argmax }, plan) => maxPool2dBackward(this, gy, argmax, plan),
    gatherFlat: ({ x, idx }, plan) => gatherFlat(this, x, idx, plan),
    avgPool2d: ({ x }, plan) => avgPool2d(this, x, plan),
    avgPool2dBackward: ({ gy }, plan) => avgPool2dBackward(this, gy, plan),
  };

  sync(): Promise<void> {
    return this.rt.sync();
  }
  dispose(): void {
    this.rt.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}
