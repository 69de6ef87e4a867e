/** A device-resident tensor of the webgpu backend: a pooled GPUBuffer plus its shape. */
import { fail } from '../../errors.js';
import { type DType, type Tensor, shapeSize } from '../backend.js';

export class GpuTensor implements Tensor {
  readonly backend = 'webgpu' as const;
  readonly size: number;
  freed = false;
  constructor(
    readonly dtype: DType,
    readonly shape: readonly number[],
    readonly buffer: GPUBuffer,
  ) {
    this.size = shapeSize(shape);
  }
}

export function asGpu(t: Tensor, dtype: DType = 'f32', what = 'tensor'): GpuTensor {
  if (!(t instanceof GpuTensor)) fail('E_INTERNAL', `${what}: expected a webgpu tensor, got ${t.backend}`);
  if (t.dtype !== dtype) fail('E_INTERNAL', `${what}: expected ${dtype}, got ${t.dtype}`);
  if (t.freed) fail('E_INTERNAL', `${what}: tensor used after free()`);
  return t;
}

export { dims2, sameSize } from '../backend.js';
