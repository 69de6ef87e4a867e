/**
 * The environment switches of the native backend, checked before the addon reads them. The C++
 * side reads them with atoi/strcmp, which turn "4x" into 4 and "abc" or "avx3" into "use the
 * default" without a word; here every set value must mean something, or the run stops naming the
 * variable. An empty value counts as unset (the shell idiom `VAR= cmd`).
 */
import { fail } from '../../errors.js';

/** native/pool.cc's ceiling on RIVERBED_THREADS. */
export const MAX_THREADS = 256;
export const ISA_VALUES = ['generic', 'default', 'avx2', 'avx512f', 'avx512'] as const;

const set = (env: NodeJS.ProcessEnv, name: string): string | undefined => {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
};

/** RIVERBED_THREADS as an integer in [1, 256], or undefined when unset. */
export function threadsFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = set(env, 'RIVERBED_THREADS');
  if (v === undefined) return undefined;
  const n = /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!(n >= 1 && n <= MAX_THREADS)) fail('E_ARG', `"${v}" is not a thread count; expected an integer in [1, ${MAX_THREADS}] (or unset: the cores this process may use)`, { field: 'RIVERBED_THREADS' });
  return n;
}

/** RIVERBED_NATIVE_POOL_MB in bytes (a decimal number of MiB ≥ 0; 0 disables pooling), default 512 MiB. */
export function poolBytesFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const v = set(env, 'RIVERBED_NATIVE_POOL_MB');
  if (v === undefined) return 512 * 2 ** 20;
  const mb = /^\s*(?:\d+\.?\d*|\.\d+)\s*$/.test(v) ? Number(v) : NaN;
  const bytes = Math.floor(mb * 2 ** 20);
  if (!Number.isSafeInteger(bytes)) fail('E_ARG', `"${v}" is not a size in MiB; expected a decimal number ≥ 0 (0 disables pooling; default 512)`, { field: 'RIVERBED_NATIVE_POOL_MB' });
  return bytes;
}

/** RIVERBED_ISA, or undefined when unset. */
export function isaFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const v = set(env, 'RIVERBED_ISA');
  if (v !== undefined && !(ISA_VALUES as readonly string[]).includes(v)) {
    fail('E_ARG', `"${v}" is not an instruction-set cap; expected one of ${ISA_VALUES.join(', ')} (or unset: the best this CPU supports)`, { field: 'RIVERBED_ISA' });
  }
  return v;
}

/** Checks every native switch; throws an E_ARG RiverbedError naming the first bad variable. */
export function checkNativeEnvironment(env: NodeJS.ProcessEnv = process.env): void {
  threadsFromEnv(env);
  poolBytesFromEnv(env);
  isaFromEnv(env);
}
