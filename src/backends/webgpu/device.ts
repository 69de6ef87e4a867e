/**
 * Adapter and device: the one place that touches Dawn's entry points.
 *
 * Dawn traps learned on this machine (DESIGN.md): the object returned by `create()` must stay
 * strongly referenced while any device lives (else segfault / futex abort at GC), so it is kept
 * in a module-level variable *and* on every GpuDevice.
 *
 * riverbed is embedded in other tools, so nothing here touches process-global state: no
 * `process.env` writes (XDG_RUNTIME_DIR was once set here; only libwayland-client reads it, for
 * a display connection a compute device never opens — Dawn, the Vulkan loader and lavapipe run
 * without it) and no `globalThis` writes (Dawn's `globals` — GPUBufferUsage, GPUMapMode, … — are
 * not needed: the runtime uses the numeric flags).
 */
import { RiverbedError } from '../../errors.js';

type DawnModule = { create: (flags: string[]) => GPU };

let dawn: DawnModule | undefined;
/** Strong reference to Dawn's navigator.gpu for the life of the process. */
let gpuRoot: GPU | undefined;

async function loadGpu(): Promise<GPU> {
  if (gpuRoot) return gpuRoot;
  dawn ??= (await import('webgpu')) as unknown as DawnModule;
  gpuRoot = dawn.create([]);
  return gpuRoot;
}

export type Probe = { available: true; adapter: string; software: boolean } | { available: false; reason: string };

const NO_DRIVER =
  'no WebGPU adapter: no usable Vulkan driver; on a CPU-only Debian 12 box install mesa-vulkan-drivers ≥ 25 and libvulkan1 ' +
  '(bookworm-backports) for lavapipe';

export function describeAdapter(adapter: GPUAdapter): { adapter: string; software: boolean } {
  const info = adapter.info;
  const parts = [info.vendor, info.architecture, info.device, info.description].filter((s) => s && s.length > 0);
  const text = parts.join(' / ') || 'unknown adapter';
  const software =
    /lavapipe|llvmpipe|swiftshader|software|softpipe/i.test(text) || (info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  return { adapter: text, software };
}

async function requestAdapter(): Promise<GPUAdapter | null> {
  const gpu = await loadGpu();
  return gpu.requestAdapter({ powerPreference: 'high-performance' });
}

let probeCache: Promise<Probe> | undefined;

export function probeWebGpu(): Promise<Probe> {
  probeCache ??= (async (): Promise<Probe> => {
    try {
      const adapter = await requestAdapter();
      if (!adapter) return { available: false, reason: NO_DRIVER };
      return { available: true, ...describeAdapter(adapter) };
    } catch (e) {
      return { available: false, reason: `webgpu (Dawn) failed to load: ${(e as Error).message}` };
    }
  })();
  return probeCache;
}

/** A device plus everything that must outlive it. */
export interface GpuDevice {
  /** Strong reference to Dawn's root object (see the file comment). */
  readonly root: GPU;
  readonly adapter: GPUAdapter;
  readonly device: GPUDevice;
  readonly description: string;
  readonly software: boolean;
  readonly maxStorageBinding: number;
  readonly maxBufferSize: number;
  readonly storageAlign: number;
  readonly uniformAlign: number;
}

export async function openDevice(): Promise<GpuDevice> {
  const adapter = await requestAdapter();
  if (!adapter) throw new RiverbedError('E_BACKEND', NO_DRIVER);
  const L = adapter.limits;
  const device = await adapter.requestDevice({
    label: 'riverbed',
    requiredLimits: {
      maxStorageBufferBindingSize: L.maxStorageBufferBindingSize,
      maxBufferSize: L.maxBufferSize,
      maxComputeWorkgroupStorageSize: L.maxComputeWorkgroupStorageSize,
      maxStorageBuffersPerShaderStage: Math.min(L.maxStorageBuffersPerShaderStage, 10),
      maxComputeInvocationsPerWorkgroup: Math.min(L.maxComputeInvocationsPerWorkgroup, 256),
      maxComputeWorkgroupSizeX: Math.min(L.maxComputeWorkgroupSizeX, 256),
    },
  });
  const { adapter: description, software } = describeAdapter(adapter);
  return {
    root: gpuRoot!,
    adapter,
    device,
    description,
    software,
    maxStorageBinding: device.limits.maxStorageBufferBindingSize,
    maxBufferSize: device.limits.maxBufferSize,
    storageAlign: device.limits.minStorageBufferOffsetAlignment,
    uniformAlign: Math.max(device.limits.minUniformBufferOffsetAlignment, 16),
  };
}
