/**
 * Recycles the Float32Arrays of freed native tensors, keyed by length.
 *
 * Why: every native kernel returns a fresh tensor, and on these VMs fresh memory faults in at
 * 0.3–0.4 GB/s (see DESIGN.md "Native notes"); a model step makes the same shapes over and over,
 * so handing a freed array to the next tensor of the same length skips both the allocation (calloc
 * + page faults) and the garbage collector. Callers already free every dead intermediate because
 * webgpu pools its buffers the same way. Arrays below MIN_POOLED elements (256 bytes) are left
 * to V8; it puts typed arrays above 64 bytes off-heap, a microsecond or two per small output.
 */
import { poolBytesFromEnv } from './env.js';

const MIN_POOLED = 64;

export class HostPool {
  readonly #free = new Map<number, Float32Array[]>();
  #bytes = 0;

  /** @param capBytes most bytes kept for reuse; 0 disables pooling. */
  constructor(readonly capBytes: number) {}

  /** An array of n floats with unspecified contents (the caller overwrites every element). */
  take(n: number): Float32Array {
    if (n >= MIN_POOLED) {
      const list = this.#free.get(n);
      const a = list?.pop();
      if (a) {
        this.#bytes -= a.byteLength;
        return a;
      }
    }
    return new Float32Array(n);
  }

  /** Hands an array back; it must not be used by anyone afterwards. */
  give(a: Float32Array): void {
    if (a.length < MIN_POOLED || this.#bytes + a.byteLength > this.capBytes) return;
    let list = this.#free.get(a.length);
    if (!list) this.#free.set(a.length, (list = []));
    list.push(a);
    this.#bytes += a.byteLength;
  }

  /** Bytes currently held for reuse. */
  get bytes(): number {
    return this.#bytes;
  }

  clear(): void {
    this.#free.clear();
    this.#bytes = 0;
  }
}

/** The pool cap from RIVERBED_NATIVE_POOL_MB (default 512 MiB; 0 disables pooling; a bad value is an E_ARG error). */
export function poolCapFromEnv(): number {
  return poolBytesFromEnv();
}
