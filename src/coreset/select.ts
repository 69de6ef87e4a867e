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
import { nativeTopPerClassIfAvailable } from '../backends/native/host.js';
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

/** A float32 (value and bits) → uint32 whose ascending order is the float's DESCENDING order (NaN last, −0 = +0). */
function descendingKey(s: number, u: number): number {
  if (s !== s) return 0xffffffff; // NaN: after every number
  if (s === 0) return 0x7fffffff; // +0 and −0 tie
  return u & 0x80000000 ? u : ~u >>> 0 & 0x7fffffff;
}

/** 2^21: a position below this packs with a 32-bit key into one exactly representable float64. */
const PACK = 2097152;

/**
 * Rearranges a[lo..hi] so that a[k] holds the value it would have if sorted, everything before it
 * is smaller and everything after larger (the values are distinct): Hoare's quickselect with a
 * median-of-three pivot, O(hi − lo) on average, insertion sort once the range is short.
 */
function nthSmallest(a: Float64Array, lo: number, hi: number, k: number): void {
  while (hi - lo > 16) {
    const mid = (lo + hi) >>> 1;
    let t: number;
    if (a[mid]! < a[lo]!) ((t = a[mid]!), (a[mid] = a[lo]!), (a[lo] = t));
    if (a[hi]! < a[lo]!) ((t = a[hi]!), (a[hi] = a[lo]!), (a[lo] = t));
    if (a[hi]! < a[mid]!) ((t = a[hi]!), (a[hi] = a[mid]!), (a[mid] = t));
    const pivot = a[mid]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        t = a[i]!;
        a[i++] = a[j]!;
        a[j--] = t;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return;
  }
  for (let i = lo + 1; i <= hi; i++) {
    const v = a[i]!;
    let j = i - 1;
    while (j >= lo && a[j]! > v) {
      a[j + 1] = a[j]!;
      j--;
    }
    a[j + 1] = v;
  }
}

/**
 * Orders `list` (sample indices in ascending index order) by rank — score descending, then
 * position, i.e. index — with a native numeric sort of packed float64 (key · 2^21 + position), no
 * comparator calls; writes the first `m` to `out` at `at`.
 */
function rankInto(list: Int32Array, scores: Float32Array, bits: Uint32Array, m: number, out: Int32Array, at: number): void {
  const len = list.length;
  if (m === 0 || len === 0) return;
  if (len <= PACK) {
    const packed = new Float64Array(len);
    for (let j = 0; j < len; j++) {
      const i = list[j]!;
      packed[j] = descendingKey(scores[i]!, bits[i]!) * PACK + j;
    }
    // Select the m best, then sort only those: a boundary bucket holding most of the class (scores
    // outside [−1, 1], or all alike) costs O(len), not a full sort.
    if (m < len) nthSmallest(packed, 0, len - 1, m - 1);
    packed.subarray(0, m).sort();
    for (let j = 0; j < m; j++) {
      const p = packed[j]!;
      out[at + j] = list[p - Math.floor(p / PACK) * PACK]!;
    }
  } else {
    const key = new Uint32Array(len);
    for (let j = 0; j < len; j++) key[j] = descendingKey(scores[list[j]!]!, bits[list[j]!]!);
    const order = Array.from({ length: len }, (_, j) => j);
    order.sort((a, b) => key[a]! - key[b]! || a - b);
    for (let j = 0; j < m; j++) out[at + j] = list[order[j]!]!;
  }
}

/**
 * The top k_c of every class, grouped by class ascending, within a class by rank (score
 * descending, index ascending; NaN last, −0 equal to +0). Labels must already be checked
 * (0 ≤ label < numClasses).
 *
 * Two straight passes over the N samples and small per-class work: pass 1 builds a per-class
 * histogram of a monotone bucket of the score (scores are correlations in [−1, 1]; any float still
 * lands in a bucket, only less evenly); per class, the bucket holding the k-th best sample is the
 * boundary. Pass 2 sends every sample above the boundary bucket, and every sample in it, to its
 * class's list (in index order). Each list is packed into exact (key, position) numbers, the k_c
 * best are selected (quickselect) and only they are sorted: samples in better buckets always rank
 * before the boundary bucket, so only that bucket's members compete. Memory stays O(candidates).
 * With the addon, the same algorithm runs in C++ (native/select.cc).
 */
export function topPerClass(scores: Float32Array, labels: Int32Array, numClasses: number, k: readonly number[]): Int32Array {
  // The same order in C++ when the addon is there: a CLI selects once, on a cold JIT, where these
  // passes over N samples cost several times the native ones.
  return nativeTopPerClassIfAvailable(scores, labels, numClasses, k) ?? topPerClassJs(scores, labels, numClasses, k);
}

/** topPerClass in TypeScript (the reference the native version is tested against). */
export function topPerClassJs(scores: Float32Array, labels: Int32Array, numClasses: number, k: readonly number[]): Int32Array {
  const n = scores.length;
  const C = numClasses;
  const B = Math.max(8, Math.min(512, Math.floor((1 << 22) / C)));
  const half = B / 2;
  const hist = new Int32Array(C * B);
  for (let i = 0; i < n; i++) {
    const s = scores[i]!;
    let b = Math.floor((1 - s) * half);
    if (!(b >= 0)) b = s !== s ? B - 1 : 0;
    else if (b >= B) b = B - 1;
    hist[labels[i]! * B + b]!++;
  }
  const bound = new Int32Array(C); // boundary bucket; −1: class selects nothing
  const listStart = new Int32Array(C + 1);
  const kc = new Int32Array(C);
  let total = 0;
  for (let c = 0; c < C; c++) {
    let nc = 0;
    for (let b = 0; b < B; b++) nc += hist[c * B + b]!;
    const want = Math.min(k[c]!, nc);
    kc[c] = want;
    total += want;
    let listLen = 0;
    if (want === 0) bound[c] = -1;
    else {
      let b = 0;
      while (listLen + hist[c * B + b]! < want) listLen += hist[c * B + b++]!;
      bound[c] = b;
      listLen += hist[c * B + b]!;
    }
    listStart[c + 1] = listStart[c]! + listLen;
  }
  const lists = new Int32Array(listStart[C]!);
  const fill = listStart.slice(0, C);
  for (let i = 0; i < n; i++) {
    const c = labels[i]!;
    const bc = bound[c]!;
    if (bc < 0) continue;
    const s = scores[i]!;
    let b = Math.floor((1 - s) * half);
    if (!(b >= 0)) b = s !== s ? B - 1 : 0;
    else if (b >= B) b = B - 1;
    if (b <= bc) lists[fill[c]!++] = i;
  }
  const out = new Int32Array(total);
  const bits = new Uint32Array(scores.buffer, scores.byteOffset, n);
  let at = 0;
  for (let c = 0; c < C; c++) {
    rankInto(lists.subarray(listStart[c]!, listStart[c + 1]!), scores, bits, kc[c]!, out, at);
    at += kc[c]!;
  }
  return out;
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
  return { indices: topPerClass(scores, labels, numClasses, k), perClassSelected: k };
}

// ---- budget options (issue 4): equal budgets, a minimum per class, excluded samples ----------

/**
 * How a `{ fraction: F }` budget is split over classes:
 *  - `proportional` (default): k_c = F·n_c by largest remainder (`budgetPerClass`).
 *  - `equal`: the same k for every class, T = round(F·N) in total. Water-filling from the
 *    smallest class: a class that cannot fill its share takes all its samples and the rest is
 *    shared again among the others; the last units of an uneven share go to the lowest class ids.
 * A `{ perClass: K }` budget is equal by definition (k_c = min(K, n_c)); the mode does not change it.
 * Classes listed in `excludedClasses` take no share in `equal` mode (their share is redistributed).
 */
export type BudgetMode = 'proportional' | 'equal';

export interface BudgetOptions {
  mode?: BudgetMode;
  /** Every class keeps at least min(M, n_c) samples, on top of the budget (the total can grow). */
  minPerClass?: number;
  /** Sample indices never to select (e.g. known-bad labels). */
  exclude?: Int32Array | readonly number[];
}

export function validateBudgetOptions(o: BudgetOptions, samples?: number): void {
  if (o.mode !== undefined && o.mode !== 'proportional' && o.mode !== 'equal') {
    fail('E_ARG', `budget mode must be proportional or equal, got "${o.mode}"`, { field: '--budget' });
  }
  if (o.minPerClass !== undefined && (!Number.isInteger(o.minPerClass) || o.minPerClass < 0)) {
    fail('E_ARG', `the minimum per class must be an integer ≥ 0, got ${o.minPerClass}`, { field: '--min-per-class' });
  }
  if (o.exclude && samples !== undefined) {
    for (let j = 0; j < o.exclude.length; j++) {
      const i = o.exclude[j]!;
      if (!Number.isInteger(i) || i < 0 || i >= samples) fail('E_ARG', `excluded index ${i} (entry ${j}) is outside 0..${samples - 1}`, { field: '--exclude' });
    }
  }
}

/** 1 for every excluded sample index. */
export function excludedMask(samples: number, exclude?: Int32Array | readonly number[]): Uint8Array {
  const mask = new Uint8Array(samples);
  if (exclude) for (let j = 0; j < exclude.length; j++) mask[exclude[j]!] = 1;
  return mask;
}

/** Equal shares of `total` over classes with capacities `cap` (see BudgetMode). */
export function equalShares(cap: ArrayLike<number>, total: number, excluded?: ReadonlySet<number>): number[] {
  const C = cap.length;
  const k = new Array<number>(C).fill(0);
  const open = Array.from({ length: C }, (_, c) => c).filter((c) => !excluded?.has(c) && cap[c]! > 0);
  open.sort((a, b) => cap[a]! - cap[b]! || a - b);
  let left = total;
  let i = 0;
  // classes too small for the current share take everything
  while (i < open.length && cap[open[i]!]! * (open.length - i) <= left) {
    k[open[i]!] = cap[open[i]!]!;
    left -= cap[open[i]!]!;
    i++;
  }
  const rest = open.slice(i).sort((a, b) => a - b);
  if (rest.length > 0) {
    const share = Math.floor(left / rest.length);
    let extra = left - share * rest.length;
    for (const c of rest) {
      k[c] = share + (extra > 0 ? 1 : 0);
      if (extra > 0) extra--;
    }
  }
  return k;
}

/**
 * k_c per class under a budget and its options. `counts` are the samples that CAN be selected
 * per class (excluded samples already removed): fractions are fractions of that pool, and every
 * class's quota and cap use its own count.
 */
export function budgetPerClassWith(counts: ArrayLike<number>, budget: Budget, options: BudgetOptions = {}, excludedClasses?: ReadonlySet<number>): number[] {
  validateBudget(budget);
  validateBudgetOptions(options);
  let k: number[];
  if ('fraction' in budget && options.mode === 'equal') {
    let n = 0;
    for (let c = 0; c < counts.length; c++) n += counts[c]!;
    const { num, den } = decimalFraction(budget.fraction);
    const total = Number((2n * num * BigInt(n) + den) / (2n * den)); // round(F·N), half up
    k = equalShares(counts, total, excludedClasses);
  } else {
    k = budgetPerClass(counts, budget, excludedClasses);
  }
  const m = options.minPerClass ?? 0;
  if (m > 0) for (let c = 0; c < k.length; c++) if (!excludedClasses?.has(c)) k[c] = Math.max(k[c]!, Math.min(m, counts[c]!));
  return k;
}

/** Which end of a score a method keeps. */
export type Keep = 'highest' | 'lowest';

/**
 * The top k_c of each class by `scores` (highest or lowest kept), never an excluded sample:
 * budgets from each class's own count of selectable samples. Ties by index ascending; NaN scores
 * rank last. Indices grouped by class ascending, within a class by rank.
 * `checkedCounts`: the caller has range-checked `labels` already and passes their per-class counts
 * (CLD's validation did both), which saves two passes over the labels.
 */
export function selectPerClassWith(
  scores: Float32Array,
  labels: Int32Array,
  numClasses: number,
  budget: Budget,
  options: BudgetOptions & { keep?: Keep } = {},
  excludedClasses?: ReadonlySet<number>,
  checkedCounts?: Int32Array,
): { indices: Int32Array; perClassSelected: number[] } {
  validateBudget(budget);
  if (!checkedCounts || checkedCounts.length !== numClasses || labels.length !== scores.length) checkLabels(scores, labels, numClasses);
  validateBudgetOptions(options, scores.length);
  const excluding = (options.exclude?.length ?? 0) > 0;
  const mask = excludedMask(excluding ? scores.length : 0, options.exclude);
  let counts = checkedCounts && checkedCounts.length === numClasses && !excluding ? checkedCounts : undefined;
  if (!counts) {
    counts = new Int32Array(numClasses);
    for (let i = 0; i < labels.length; i++) if (!excluding || !mask[i]) counts[labels[i]!]!++;
  }
  const k = budgetPerClassWith(counts, budget, options, excludedClasses);
  let key = scores;
  if (options.keep === 'lowest' || excluding) {
    key = new Float32Array(scores.length);
    const sign = options.keep === 'lowest' ? -1 : 1;
    for (let i = 0; i < scores.length; i++) key[i] = excluding && mask[i] ? NaN : sign * scores[i]!;
  }
  return { indices: topPerClass(key, labels, numClasses, k), perClassSelected: k };
}
