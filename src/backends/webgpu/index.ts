/**
 * The webgpu backend's public surface: a cached probe and a factory. Everything else in this
 * folder is internal (runtime, kernels, device).
 */
import { RiverbedError } from '../../errors.js';
import type { Backend } from '../backend.js';
import { WebGpuBackend, type WebGpuOptions } from './backend.js';
import { openDevice, probeWebGpu as probe } from './device.js';

export function probeWebGpu(): Promise<
  { available: true; adapter: string; software: boolean } | { available: false; reason: string }
> {
  return probe();
}

/** Opens a device and returns the backend; E_BACKEND (with the reason) when there is no adapter. */
export async function createWebGpuBackend(options?: WebGpuOptions): Promise<Backend> {
  const p = await probe();
  if (!p.available) throw new RiverbedError('E_BACKEND', p.reason);
  return new WebGpuBackend(await openDevice(), options);
}
