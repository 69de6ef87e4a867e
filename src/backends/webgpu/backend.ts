/**
 * The webgpu Backend: WGSL kernels through Dawn. The explicit kernel registry is the import
 * list below (one binding file per shader family); this class only routes calls, owns tensor
 * memory and the device lifetime.
 */
import { fail } from '../../errors.js';
import {
  type Activation,
  type AdamHyper,
  type Backend,
  type BackendInfo,
  type CldKernelInput,
  type SgdHyper,
  type Tensor,
  shapeSize,
} from '../backend.js';
import type { GpuDevice } from './device.js';
import { activationRGrad } from './kernels/act-rgrad.js';
import { axpy, mul, scale } from './kernels/axpy.js';
import { cldScores } from './kernels/cld.js';
import { copyInto, slice } from './kernels/copy.js';
import type { Ctx } from './kernels/ctx.js';
import { activation, activationGrad, addBias } from './kernels/elementwise.js';
import { gatherRows } from './kernels/gather.js';
import { matmul } from './kernels/matmul.js';
import { adamStep, sgdStep } from './kernels/optim.js';
import { dot, sum, sumRows } from './kernels/reduce.js';
import { softmaxHessianVec } from './kernels/softmax-hvp.js';
import { softmaxCrossEntropy } from './kernels/softmax.js';
import { Runtime, type RuntimeOptions } from './runtime.js';
import { GpuTensor, asGpu } from './tensor.js';

export type WebGpuOptions = RuntimeOptions;

export class WebGpuBackend implements Backend, Ctx {
  readonly name = 'webgpu' as const;
  readonly rt: Runtime;
  /** Buffers of tensors the caller dropped without free(): returned to the pool by GC. */
  private readonly finalizer = new FinalizationRegistry<GPUBuffer>((buf) => this.rt.release(buf));

  constructor(readonly gpu: GpuDevice, options: WebGpuOptions = {}) {
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
    if (data.length !== shapeSize(shape)) fail('E_SHAPE', `upload: ${data.length} values for shape [${shape.join(', ')}]`);
    const t = this.alloc(shape);
    this.rt.write(t.buffer, 0, data);
    return t;
  }
  uploadInt(data: Int32Array, shape: readonly number[]): Tensor {
    if (data.length !== shapeSize(shape)) fail('E_SHAPE', `uploadInt: ${data.length} values for shape [${shape.join(', ')}]`);
    const t = this.alloc(shape, 'i32');
    this.rt.write(t.buffer, 0, data);
    return t;
  }
  zeros(shape: readonly number[]): Tensor {
    const t = this.alloc(shape);
    this.rt.clear(t.buffer, 0, t.buffer.size);
    return t;
  }
  async read(t: Tensor): Promise<Float32Array> {
    const g = asGpu(t, 'f32', 'read');
    return this.rt.readInto(g.buffer, 0, g.size, new Float32Array(g.size));
  }
  async readInt(t: Tensor): Promise<Int32Array> {
    const g = asGpu(t, 'i32', 'readInt');
    return this.rt.readInto(g.buffer, 0, g.size, new Int32Array(g.size));
  }
  free(t: Tensor): void {
    if (!(t instanceof GpuTensor) || t.freed) return;
    t.freed = true;
    this.finalizer.unregister(t);
    this.rt.release(t.buffer);
  }

  // ---- primitives ------------------------------------------------------------------------------

  matmul(a: Tensor, b: Tensor, transA = false, transB = false): Tensor {
    return matmul(this, a, b, transA, transB);
  }
  addBias(x: Tensor, bias: Tensor): Tensor {
    return addBias(this, x, bias);
  }
  activation(kind: Activation, x: Tensor): Tensor {
    return activation(this, kind, x);
  }
  activationGrad(kind: Activation, x: Tensor, gy: Tensor): Tensor {
    return activationGrad(this, kind, x, gy);
  }
  softmaxCrossEntropy(logits: Tensor, labels: Tensor): { loss: Tensor; grad: Tensor } {
    return softmaxCrossEntropy(this, logits, labels);
  }
  sumRows(x: Tensor): Tensor {
    return sumRows(this, x);
  }
  sum(x: Tensor): Tensor {
    return sum(this, x);
  }
  axpy(alpha: number, x: Tensor, y: Tensor): Tensor {
    return axpy(this, alpha, x, y);
  }
  scale(alpha: number, x: Tensor): Tensor {
    return scale(this, alpha, x);
  }
  dot(x: Tensor, y: Tensor): Tensor {
    return dot(this, x, y);
  }
  gatherRows(x: Tensor, idx: Tensor): Tensor {
    return gatherRows(this, x, idx);
  }
  sgdStep(param: Tensor, grad: Tensor, velocity: Tensor, h: SgdHyper): void {
    sgdStep(this, param, grad, velocity, h);
  }
  adamStep(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, h: AdamHyper): void {
    adamStep(this, param, grad, m, v, h);
  }

  // ---- curvature (R-operator pieces) -------------------------------------------------------------

  mul(x: Tensor, y: Tensor): Tensor {
    return mul(this, x, y);
  }
  activationRGrad(kind: Activation, z: Tensor, rz: Tensor, ga: Tensor, rga: Tensor): Tensor {
    return activationRGrad(this, kind, z, rz, ga, rga);
  }
  softmaxHessianVec(logits: Tensor, r: Tensor): Tensor {
    return softmaxHessianVec(this, logits, r);
  }
  slice(x: Tensor, offset: number, shape: readonly number[]): Tensor {
    return slice(this, x, offset, shape);
  }
  copyInto(dst: Tensor, dstOffset: number, src: Tensor): void {
    copyInto(this, dst, dstOffset, src);
  }

  cldScores(input: CldKernelInput): Promise<Float32Array> {
    return cldScores(this, input);
  }

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
