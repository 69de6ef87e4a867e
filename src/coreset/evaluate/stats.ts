/** Summary statistics of the evaluation: mean and sample standard deviation over seeds. */

export interface Stat {
  mean: number;
  /** Sample standard deviation (n − 1 in the denominator); 0 for a single value. */
  std: number;
  n: number;
}

export function stat(values: readonly number[]): Stat {
  const n = values.length;
  if (n === 0) return { mean: NaN, std: NaN, n: 0 };
  let s = 0;
  for (const v of values) s += v;
  const mean = s / n;
  let ss = 0;
  for (const v of values) ss += (v - mean) ** 2;
  return { mean, std: n > 1 ? Math.sqrt(ss / (n - 1)) : 0, n };
}

/** Per-seed differences a[i] − b[i] (paired: same seed, same initialisation). */
export function paired(a: readonly number[], b: readonly number[]): Stat {
  return stat(a.map((v, i) => v - b[i]!));
}

/** "94.72 ± 0.31" in percent. */
export function pm(s: Stat, digits = 2): string {
  if (!Number.isFinite(s.mean)) return '—';
  return `${(100 * s.mean).toFixed(digits)} ± ${(100 * s.std).toFixed(digits)}`;
}
