/** What a kernel binding needs from the backend: the runtime and a tensor allocator. */
import type { Runtime } from '../runtime.js';
import type { GpuTensor } from '../tensor.js';

export interface Ctx {
  rt: Runtime;
  alloc(shape: readonly number[], dtype?: 'f32' | 'i32'): GpuTensor;
}
