/**
 * Budgets and per-class selection.
 *
 * Ranking: within each class by score descending, ties by sample index ascending. Selection:
 *  - `{ perClass: K }`: k_c = min(K, n_c); K must be an integer ≥ 1.
 *  - `{ fraction: F }`, 0 < F ≤ 1: k_c = F·n_c rounded by the largest-remainder method so that
 *    Σ k_c = round(F·N) (half up); remainders tied by class index ascending. The arithmetic is
 *    exact: F is taken as the decimal it prints as (0.1 is 1/10, not 0.1000000000000000055…).
 *
 * Excluded classes (CLD: classes with no validation samples) select nothing.
 * Decision (fractions): excluded classes still TAKE PART in the apportionment, i.e. N counts
 * every training sample and the quotas are those the issue defines (k_c = F·n_c over all
 * classes, Σ = round(F·N)); an excluded class's quota is then dropped, not handed to the others.
 * So the k_c of a scored class never depends on whether another class happened to have
 * validation samples, and the total is round(F·N) minus the dropped quotas (reported per class).
 */
import { fail } from '../errors.js';

export type Budget = { perClass: number } | { fraction: number };

export function validateBudget(budget: Budget): void {
  if ('perClass' in budget) {
    const k = budget.perClass;
    if (!Number.isInteger(k) || k < 1) fail('E_ARG', `per-class budget K must be an integer ≥ 1, got ${k}`, { field: '--per-class' });
  } else if ('fraction' in budget) {
    const f = budget.fraction;
    if (typeof f !== 'number' || !(f > 0 && f <= 1)) fail('E_ARG', `fraction F must satisfy 0 < F ≤ 1, got ${f}`, { field: '--fraction' });
  } else {
    fail('E_ARG', 'a budget is { perClass: K } or { fraction: F }', { field: 'budget' });
  }
}

/** F as an exact decimal fraction num/den (den a power of ten), from its shortest printed form. */
export function decimalFraction(f: number): { num: bigint; den: bigint } {
  const m = /^(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/i.exec(String(f));
  if (!m) return fail('E_ARG', `fraction ${f} is not a finite decimal`, { field: '--fraction' });
  const frac = m[2] ?? '';
  const exp = Number(m[3] ?? 0) - frac.length;
  let num = BigInt(m[1]! + frac);
  let den = 1n;
  if (exp >= 0) num *= 10n ** BigInt(exp);
  else den = 10n ** BigInt(-exp);
  return { num, den };
}

/** Training samples per class. */
export function classCounts(labels: Int32Array, numClasses: number): Int32Array {
  const counts = new Int32Array(numClasses);
  for (let i = 0; i < labels.length; i++) counts[labels[i]!]!++;
  return counts;
}

/** k_c per class for a budget (see the module comment for the rules). */
export function budgetPerClass(counts: ArrayLike<number>, budget: Budget, excluded?: ReadonlySet<number>): number[] {
  validateBudget(budget);
  const C = counts.length;
  const k = new Array<number>(C).fill(0);
  if ('perClass' in budget) {
    for (let c = 0; c < C; c++) k[c] = Math.min(budget.perClass, counts[c]!);
  } else {
    const { num, den } = decimalFraction(budget.fraction);
    let total = 0n;
    let floors = 0n;
    const rem: bigint[] = [];
    for (let c = 0; c < C; c++) {
      const q = num * BigInt(counts[c]!);
      total += q;
      k[c] = Number(q / den);
      floors += q / den;
      rem.push(q % den);
    }
    const target = (2n * total + den) / (2n * den); // round(F·N), half up
    let extra = Number(target - floors);
    if (extra > 0) {
      const order = Array.from({ length: C }, (_, c) => c).filter((c) => rem[c]! > 0n);
      order.sort((a, b) => (rem[a]! > rem[b]! ? -1 : rem[a]! < rem[b]! ? 1 : a - b));
      for (const c of order) {
        if (extra === 0) break;
        k[c]!++;
        extra--;
      }
    }
  }
  if (excluded) for (const c of excluded) if (c >= 0 && c < C) k[c] = 0;
  return k;
}

/** Float32 bits → uint32 whose ascending order is the float's DESCENDING order (NaN last, −0 = +0). */
function descendingKeys(scores: Float32Array): Uint32Array {
  const bits = new Uint32Array(scores.buffer, scores.byteOffset, scores.length);
  const keys = new Uint32Array(scores.length);
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i]!;
    let u: number;
    if (s !== s) u = 0; // NaN: below every number
    else if (s === 0) u = 0x80000000; // +0 and −0 tie
    else {
      u = bits[i]!;
      u = u & 0x80000000 ? ~u >>> 0 : (u | 0x80000000) >>> 0;
    }
    keys[i] = ~u >>> 0;
  }
  return keys;
}

/**
 * Every sample, grouped by class ascending and ranked within its class (score descending, index
 * ascending). A stable LSD radix sort on typed arrays (11+11+10 bits of the score, then the
 * class): O(N), no comparator calls; ties keep index order because every pass is stable.
 * Returns the order and, per class, where its run starts (`offsets[c]..offsets[c+1]`).
 */
export function rankWithinClasses(scores: Float32Array, labels: Int32Array, numClasses: number): { order: Int32Array; offsets: Int32Array } {
  const n = scores.length;
  let keys = descendingKeys(scores);
  let idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  let keys2 = new Uint32Array(n);
  let idx2 = new Int32Array(n);
  const passes: [number, number][] = [
    [0, 2047],
    [11, 2047],
    [22, 1023],
  ];
  const hist = new Int32Array(2048 * 3);
  for (let i = 0; i < n; i++) {
    const k = keys[i]!;
    hist[k & 2047]!++;
    hist[2048 + ((k >>> 11) & 2047)]!++;
    hist[4096 + (k >>> 22)]!++;
  }
  for (let p = 0; p < 3; p++) {
    const [shift, mask] = passes[p]!;
    const base = 2048 * p;
    // Skip a pass whose digit is the same for every key (common for the top bits).
    let nonEmpty = 0;
    for (let b = 0; b <= mask; b++) if (hist[base + b]! > 0) nonEmpty++;
    if (nonEmpty <= 1) continue;
    let sum = 0;
    for (let b = 0; b <= mask; b++) {
      const c = hist[base + b]!;
      hist[base + b] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const k = keys[i]!;
      const pos = hist[base + ((k >>> shift) & mask)]!++;
      keys2[pos] = k;
      idx2[pos] = idx[i]!;
    }
    [keys, keys2] = [keys2, keys];
    [idx, idx2] = [idx2, idx];
  }
  const offsets = new Int32Array(numClasses + 1);
  for (let i = 0; i < n; i++) offsets[labels[i]! + 1]!++;
  for (let c = 0; c < numClasses; c++) offsets[c + 1]! += offsets[c]!;
  const next = offsets.slice(0, numClasses);
  const order = idx2;
  for (let i = 0; i < n; i++) {
    const j = idx[i]!;
    order[next[labels[j]!]!++] = j;
  }
  return { order, offsets };
}

function checkLabels(scores: Float32Array, labels: Int32Array, numClasses: number): void {
  if (labels.length !== scores.length) fail('E_SHAPE', `${labels.length} labels for ${scores.length} scores`, { field: 'labels' });
  if (!Number.isInteger(numClasses) || numClasses < 1) fail('E_ARG', `numClasses must be an integer ≥ 1, got ${numClasses}`, { field: 'numClasses' });
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!;
    if (y < 0 || y >= numClasses) fail('E_LABEL', `labels[${i}] is ${y}; expected 0..${numClasses - 1}`, { field: 'labels' });
  }
}

/**
 * Selects the top-k_c samples of each class by score (see the module comment).
 * `excluded` holds class ids that select nothing. Indices come grouped by class ascending,
 * within a class by rank.
 */
export function selectPerClass(
  scores: Float32Array,
  labels: Int32Array,
  numClasses: number,
  budget: Budget,
  excluded?: ReadonlySet<number>,
): { indices: Int32Array; perClassSelected: number[] } {
  validateBudget(budget);
  checkLabels(scores, labels, numClasses);
  const k = budgetPerClass(classCounts(labels, numClasses), budget, excluded);
  const { order, offsets } = rankWithinClasses(scores, labels, numClasses);
  let total = 0;
  for (const kc of k) total += kc;
  const indices = new Int32Array(total);
  let at = 0;
  for (let c = 0; c < numClasses; c++) {
    indices.set(order.subarray(offsets[c]!, offsets[c]! + k[c]!), at);
    at += k[c]!;
  }
  return { indices, perClassSelected: k };
}
