/**
 * An independent float64 implementation of the official `Compute_CLD_scores.py`, written the way
 * the script does it (per-class boolean masks, np.diff along epochs, column standardisation,
 * mean of the product) on plain number[][] matrices — nothing shared with src/.
 *
 * Where the script divides by 1 for a zero std, X − mean is exactly 0 in exact arithmetic when a
 * column is constant; floating-point means can leave a tiny residue there, so (as the issue
 * specifies) an exactly constant column standardises to exactly 0.
 */
export type Matrix = number[][]; // [rows][cols]

export function toMatrix(flat: ArrayLike<number>, rows: number, cols: number): Matrix {
  const m: Matrix = [];
  for (let r = 0; r < rows; r++) {
    const row: number[] = [];
    for (let c = 0; c < cols; c++) row.push(Number(flat[r * cols + c]));
    m.push(row);
  }
  return m;
}

/** np.diff(m, axis=0) */
function diff0(m: Matrix): Matrix {
  const out: Matrix = [];
  for (let r = 1; r < m.length; r++) out.push(m[r]!.map((v, c) => v - m[r - 1]![c]!));
  return out;
}

/** m[:, mask] */
function columns(m: Matrix, mask: boolean[]): Matrix {
  return m.map((row) => row.filter((_, c) => mask[c]));
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** (x − mean) / std, population std; 0 → divide by 1; exactly constant → zeros. */
function standardise(xs: number[]): number[] {
  if (xs.every((x) => x === xs[0])) return xs.map(() => 0);
  const mu = mean(xs);
  const sd = Math.sqrt(mean(xs.map((x) => (x - mu) ** 2)));
  const safe = sd === 0 ? 1 : sd;
  return xs.map((x) => (x - mu) / safe);
}

export interface OfficialResult {
  /** r per training sample in original order; NaN where the class has no validation samples. */
  r: number[];
  /** Per class: training indices sorted by r descending, ties by index ascending ([] when skipped). */
  sorted: number[][];
  numClasses: number;
}

export function officialCld(
  train: ArrayLike<number>,
  epochs: number,
  n: number,
  trainLabels: ArrayLike<number>,
  val: ArrayLike<number>,
  m: number,
  valLabels: ArrayLike<number>,
): OfficialResult {
  const trainLosses = toMatrix(train, epochs, n);
  const valLosses = toMatrix(val, epochs, m);
  let numClasses = 0;
  for (let i = 0; i < n; i++) numClasses = Math.max(numClasses, trainLabels[i]! + 1);
  for (let j = 0; j < m; j++) numClasses = Math.max(numClasses, valLabels[j]! + 1);
  const dTrain = diff0(trainLosses);
  const r = new Array<number>(n).fill(NaN);
  const sorted: number[][] = [];
  for (let c = 0; c < numClasses; c++) {
    const trainMask = Array.from({ length: n }, (_, i) => trainLabels[i] === c);
    const valMask = Array.from({ length: m }, (_, j) => valLabels[j] === c);
    if (!trainMask.some(Boolean) || !valMask.some(Boolean)) {
      sorted.push([]);
      continue;
    }
    const avgValLoss = columns(valLosses, valMask).map(mean); // (E,)
    const dAvgVal = avgValLoss.slice(1).map((v, e) => v - avgValLoss[e]!);
    const yz = standardise(dAvgVal);
    const X = columns(dTrain, trainMask); // (E−1, M)
    const positions = trainMask.flatMap((b, i) => (b ? [i] : []));
    const rc = positions.map((_, k) => {
      const xz = standardise(X.map((row) => row[k]!));
      return mean(xz.map((x, e) => x * yz[e]!));
    });
    positions.forEach((i, k) => (r[i] = rc[k]!));
    sorted.push(positions.slice().sort((a, b) => r[b]! - r[a]! || a - b));
  }
  return { r, sorted, numClasses };
}

/** Largest-remainder apportionment, written with exact integer maths on F = num/den. */
export function largestRemainder(counts: number[], num: number, den: number): number[] {
  const quotas = counts.map((n) => n * num);
  const k = quotas.map((q) => Math.floor(q / den));
  const totalNum = counts.reduce((a, b) => a + b, 0) * num;
  const target = Math.floor((2 * totalNum + den) / (2 * den));
  let extra = target - k.reduce((a, b) => a + b, 0);
  const order = counts.map((_, c) => c).sort((a, b) => (quotas[b]! % den) - (quotas[a]! % den) || a - b);
  for (const c of order) {
    if (extra <= 0) break;
    if (quotas[c]! % den === 0) continue;
    k[c]!++;
    extra--;
  }
  return k;
}
