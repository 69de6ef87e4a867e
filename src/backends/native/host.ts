/**
 * What the addon offers besides the Backend: whether it loaded, read-only file mapping and a
 * streaming sum. These are plain host functions, the only part of backends/native/ that code above
 * backends/ imports (io/npy.ts maps big files, coreset/finite.ts checks finiteness, cli/doctor.ts
 * reports), statically and typed. Importing this module loads nothing: the addon is loaded the
 * first time one of these functions runs.
 */
import { RiverbedError, fail } from '../../errors.js';
import { type NativeAddon, nativeAddon, nativeAddonWarnOnce } from './addon.js';

export type NativeAvailability = { available: true; threads: number; isa: string } | { available: false; reason: string };

/** Whether the addon loaded here, with its thread count and the instruction set its dispatch picked. */
export function nativeAvailability(): NativeAvailability {
  const l = nativeAddon();
  if (!l.ok) return { available: false, reason: l.reason };
  const i = l.addon.info();
  return { available: true, threads: i.threads, isa: i.isa };
}

/** The addon, or E_BACKEND saying why it is unavailable (printed once). */
export function addonOrThrow(): NativeAddon {
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

/**
 * The same sum (float64 accumulation), or undefined when the addon is unavailable: for callers with
 * a JS fallback, which should not print the unavailability warning.
 */
export function nativeSumIfAvailable(data: Float32Array): number | undefined {
  const l = nativeAddon();
  return l.ok ? l.addon.sumBandwidth(data) : undefined;
}

/**
 * coreset/select.ts's per-class top-k in C++ (the same order, bit for bit), or undefined when the
 * addon is unavailable. Labels must be in [0, numClasses) and k_c ≥ 0 (the addon throws otherwise).
 */
export function nativeTopPerClassIfAvailable(scores: Float32Array, labels: Int32Array, numClasses: number, k: readonly number[]): Int32Array | undefined {
  const l = nativeAddon();
  if (!l.ok || numClasses < 1) return undefined; // no classes: nothing to select, the TypeScript says so
  const n = scores.length;
  const kc = new Int32Array(numClasses); // k_c past N selects all of the class either way: fits int32
  let capacity = 0; // Σ min(k_c, n_c) ≤ min(Σ k_c, N); the addon says how many it wrote
  for (let c = 0; c < numClasses; c++) capacity += kc[c] = Math.min(k[c]!, n);
  capacity = Math.min(capacity, n);
  const out = new Int32Array(capacity);
  const written = l.addon.topPerClass({ n, classes: numClasses, capacity }, scores, labels, kc, out);
  return written === capacity ? out : out.slice(0, written);
}

/** The native backend's environment switches, checked at CLI start (env.ts). */
export { checkNativeEnvironment } from './env.js';
