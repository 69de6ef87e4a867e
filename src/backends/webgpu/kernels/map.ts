/**
 * The shared factory of elementwise-shaped kernels: a kernel is (family, entry, constants) plus
 * the WGSL variable each operand is bound to. Work is cut into chunks of at most `rt.maxElems()`
 * elements so that every binding stays under the storage-binding cap; each operand is bound to
 * the sub-range its chunk touches, and its `*Base` uniform tells the shader where that range
 * starts. Operands marked `whole` (a bias vector) are bound entirely.
 */
import type { Bindable, Runtime } from '../runtime.js';

export interface MapKernel {
  family: string;
  entry: string;
  constants?: Record<string, number>;
  /** Workgroup size of the entry point (one invocation per element). */
  wg?: number;
}

export interface Operand {
  /** The WGSL storage variable it is bound to. */
  name: string;
  buffer: GPUBuffer;
  /** Uniform field that receives the bound range's first element. */
  base: string;
  /** Bind the whole buffer of `length` elements instead of the chunk's range. */
  whole?: number;
}

/** Runs `k` over elements [0, count) in binding-sized chunks; `params` are shared by all chunks. */
export function runMap(rt: Runtime, k: MapKernel, count: number, operands: Operand[], params: Record<string, number> = {}): void {
  const wg = k.wg ?? 256;
  const chunk = Math.max(1, rt.maxElems());
  for (let first = 0; first < count; first += chunk) {
    const n = Math.min(chunk, count - first);
    const bound: Record<string, Bindable> = {};
    const bases: Record<string, number> = {};
    for (const op of operands) {
      const v = op.whole !== undefined ? rt.view(op.buffer, 0, op.whole) : rt.view(op.buffer, first, first + n);
      bound[op.name] = v.binding;
      bases[op.base] = v.base;
    }
    rt.dispatch(k.family, k.entry, k.constants ?? {}, { ...params, ...bases, count: n, first }, bound, Math.ceil(n / wg));
  }
}
