/**
 * Backend selection: "auto" | "js" | "native" | "webgpu", with the reason for the choice visible.
 *
 * auto: webgpu when an adapter exists and is not a software rasteriser, else native when the
 * addon loaded, else js. The heavy modules (Dawn, the addon) are imported only when asked for,
 * so a CLI run that never touches the GPU does not pay for loading Dawn.
 */
import { readdirSync } from 'node:fs';
import { RiverbedError, fail } from '../errors.js';
import type { Backend, BackendChoice } from './backend.js';
import { BACKEND_NAMES } from './backend.js';

/** The js backend, imported on first use: a run on native or webgpu never loads its kernels. */
async function jsBackend(): Promise<Backend> {
  const { JsBackend } = await import('./js/index.js');
  return new JsBackend();
}

export interface Selected {
  backend: Backend;
  /** Why this backend was chosen, one line. */
  reason: string;
}

export interface BackendStatus {
  name: 'js' | 'native' | 'webgpu';
  available: boolean;
  /** What it runs on, or why it is unavailable. */
  detail: string;
  software?: boolean;
}

export function parseBackendChoice(value: string, field = '--backend'): BackendChoice {
  if (value === 'auto' || (BACKEND_NAMES as readonly string[]).includes(value)) return value as BackendChoice;
  return fail('E_ARG', `expected one of auto, ${BACKEND_NAMES.join(', ')}; got "${value}"`, { field });
}

async function nativeStatus(): Promise<BackendStatus> {
  const { nativeAvailability } = await import('./native/index.js');
  const a = nativeAvailability();
  return a.available
    ? { name: 'native', available: true, detail: `C++ addon, ${a.threads} threads, ${a.isa}` }
    : { name: 'native', available: false, detail: a.reason };
}

async function webgpuStatus(): Promise<BackendStatus> {
  const { probeWebGpu } = await import('./webgpu/index.js');
  const p = await probeWebGpu();
  return p.available
    ? { name: 'webgpu', available: true, detail: p.adapter, software: p.software }
    : { name: 'webgpu', available: false, detail: p.reason };
}

/** What each backend would run on here, and why any is missing (`riverbed doctor`). */
export async function backendStatuses(): Promise<BackendStatus[]> {
  return [
    { name: 'js', available: true, detail: (await jsBackend()).info().description },
    await nativeStatus(),
    await webgpuStatus(),
  ];
}

export async function createBackend(name: 'js' | 'native' | 'webgpu'): Promise<Backend> {
  switch (name) {
    case 'js':
      return jsBackend();
    case 'native': {
      const { createNativeBackend } = await import('./native/index.js');
      return createNativeBackend();
    }
    case 'webgpu': {
      const { createWebGpuBackend } = await import('./webgpu/index.js');
      return createWebGpuBackend();
    }
  }
}

/**
 * On Linux a hardware GPU shows up as a device node. Without one, Dawn could only offer a software
 * adapter (lavapipe), which `auto` rejects anyway — so `auto` skips loading Dawn (~50 ms and two
 * warning lines on stderr) when no node exists. Other platforms always probe.
 */
export function gpuDeviceNode(): string | undefined {
  if (process.platform !== 'linux') return 'n/a';
  const found = (dir: string, prefix: string) => {
    try {
      return readdirSync(dir).find((f) => f.startsWith(prefix));
    } catch {
      return undefined;
    }
  };
  const dri = found('/dev/dri', 'renderD');
  if (dri) return `/dev/dri/${dri}`;
  const nv = found('/dev', 'nvidia');
  if (nv) return `/dev/${nv}`;
  const dxg = found('/dev', 'dxg');
  return dxg ? '/dev/dxg' : undefined;
}

export async function selectBackend(choice: BackendChoice = 'auto'): Promise<Selected> {
  if (choice !== 'auto') return { backend: await createBackend(choice), reason: `requested with backend "${choice}"` };
  const noDevice = gpuDeviceNode() === undefined;
  const gpu: BackendStatus = noDevice
    ? { name: 'webgpu', available: false, detail: 'no GPU device node (/dev/dri/renderD*, /dev/nvidia*), so no hardware adapter' }
    : await webgpuStatus();
  if (gpu.available && !gpu.software) {
    return { backend: await createBackend('webgpu'), reason: `auto: GPU adapter ${gpu.detail}` };
  }
  const native = await nativeStatus();
  const gpuWhy = noDevice
    ? gpu.detail
    : gpu.available
      ? `webgpu adapter is a software rasteriser (${gpu.detail})`
      : `webgpu unavailable (${gpu.detail})`;
  if (native.available) {
    return { backend: await createBackend('native'), reason: `auto: ${gpuWhy}; native ${native.detail}` };
  }
  return { backend: await jsBackend(), reason: `auto: ${gpuWhy}; native unavailable (${native.detail}); using js` };
}

export { RiverbedError };
