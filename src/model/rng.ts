/**
 * Seeded pseudo-random numbers for initialisation, shuffling and splits.
 *
 * xoshiro128** seeded through splitmix32, so nearby seeds give unrelated streams. `derive(seed, tag)`
 * gives an independent stream per purpose ("init", "shuffle", "split"), so e.g. the shuffling order
 * does not change when the model gets wider (which would happen with one shared stream).
 */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    let x = seed >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** A stream for one purpose, independent of other tags under the same seed. */
  static derive(seed: number, tag: string): Rng {
    let h = 0x811c9dc5 ^ (seed >>> 0);
    for (let i = 0; i < tag.length; i++) h = Math.imul(h ^ tag.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ (seed >>> 0), 0x01000193) ^ Math.floor(seed / 4294967296);
    return new Rng(h >>> 0);
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 random bits. */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform integer in [0, n), unbiased (rejection). */
  int(n: number): number {
    if (n <= 0) return 0;
    if (n > 4294967296) return Math.floor(this.next() * n);
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const u = this.nextU32();
      if (u < limit) return u % n;
    }
  }

  /** Fisher–Yates shuffle in place. */
  shuffle<T extends { length: number; [i: number]: number }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
    return a;
  }

  /** The generator's state (four unsigned 32-bit words): `Rng.fromState` continues the stream exactly. */
  state(): [number, number, number, number] {
    return [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0];
  }

  /** A generator continuing from `state()` (checkpoints); refuses words outside [0, 2³²) and the all-zero state. */
  static fromState(s: readonly number[]): Rng {
    if (s.length !== 4 || !s.every((w) => Number.isInteger(w) && w >= 0 && w < 4294967296) || s.every((w) => w === 0)) {
      throw new RangeError(`an Rng state is four integers in [0, 2^32), not all zero; got [${s.join(', ')}]`);
    }
    const r = new Rng(0);
    [r.s0, r.s1, r.s2, r.s3] = [s[0]! | 0, s[1]! | 0, s[2]! | 0, s[3]! | 0];
    return r;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
