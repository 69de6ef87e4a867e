/**
 * Training trajectories on the landscape (Li et al., §7): the checkpoints w_0 … w_T of a recorded
 * run (`riverbed train --record DIR --checkpoints N`), the rows w_i − w_T centred by their mean,
 * and their top-2 principal directions (as sklearn's PCA in Li et al.'s `setup_PCA_directions`:
 * eigenvectors of the small T×T Gram matrix of the centred rows, mapped back to weight space, unit
 * norm). Each checkpoint's coordinates are (⟨w_i − w_T, d₁⟩, ⟨w_i − w_T, d₂⟩) (their
 * `project_trajectory`), drawn over the 2-D slice around w_T spanned by d₁, d₂.
 *
 * The valley view: d₁ the top Hessian eigenvector at w_T (the steep wall), d₂ the direction of
 * travel w_T − w_s (the river), orthogonalised against d₁ and scaled to unit norm.
 */
import { fail } from '../errors.js';
import { symmetricEigen } from '../curvature/symeig.js';
import { type Weights, dotWeights, normWeights } from './directions.js';

export interface Pca {
  dirs: [Weights, Weights];
  /** Fraction of the centred rows' variance along each direction. */
  explained: [number, number];
}

/** Top-2 principal directions (unit norm) of the rows w_i − w_T (centred), by the Gram matrix. */
export function trajectoryPca(checkpoints: Weights[]): Pca {
  const T = checkpoints.length;
  if (T < 3) fail('E_ARG', `a trajectory needs at least 3 checkpoints for 2 principal directions, got ${T}`, { field: 'checkpoints' });
  const final = checkpoints[T - 1]!;
  const names = [...final.keys()];
  // Rows r_i = w_i − w_T for every checkpoint (the last row is 0, as in Li et al.'s matrix), centred.
  const rowsOf = (i: number): Map<string, Float64Array> => {
    const m = new Map<string, Float64Array>();
    for (const n of names) {
      const w = checkpoints[i]!.get(n)!;
      const f = final.get(n)!;
      m.set(n, Float64Array.from(w, (v, k) => v - f[k]!));
    }
    return m;
  };
  const R = Array.from({ length: T }, (_, i) => rowsOf(i));
  for (const n of names) {
    const len = R[0]!.get(n)!.length;
    for (let k = 0; k < len; k++) {
      let mean = 0;
      for (let i = 0; i < T; i++) mean += R[i]!.get(n)![k]!;
      mean /= T;
      for (let i = 0; i < T; i++) {
        const a = R[i]!.get(n)!;
        a[k] = a[k]! - mean;
      }
    }
  }
  const G = new Float64Array(T * T);
  for (let i = 0; i < T; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (const n of names) {
        const a = R[i]!.get(n)!;
        const b = R[j]!.get(n)!;
        for (let k = 0; k < a.length; k++) s += a[k]! * b[k]!;
      }
      G[i * T + j] = s;
      G[j * T + i] = s;
    }
  }
  const eig = symmetricEigen(G, T);
  // Ascending eigenvalues: the last two are the top two.
  const order = Array.from({ length: T }, (_, i) => i).sort((a, b) => eig.values[b]! - eig.values[a]!);
  const total = eig.values.reduce((a, v) => a + Math.max(0, v), 0);
  const dirs: Weights[] = [];
  const explained: number[] = [];
  for (const c of order.slice(0, 2)) {
    const lam = eig.values[c]!;
    if (!(lam > 1e-9 * total)) fail('E_VALUE', 'the checkpoints span fewer than 2 directions (identical checkpoints?)', { field: 'checkpoints' });
    const u = Array.from({ length: T }, (_, i) => eig.vectors[i * T + c]!);
    const d: Weights = new Map();
    for (const n of names) {
      const len = R[0]!.get(n)!.length;
      const v = new Float64Array(len);
      for (let i = 0; i < T; i++) {
        const r = R[i]!.get(n)!;
        for (let k = 0; k < len; k++) v[k] = v[k]! + u[i]! * r[k]!;
      }
      d.set(n, Float32Array.from(v, (x) => x / Math.sqrt(lam)));
    }
    // Unit norm in float32, and a sign convention: the path's first point has a non-positive coordinate.
    const nn = normWeights(d);
    for (const v of d.values()) for (let k = 0; k < v.length; k++) v[k] = v[k]! / nn;
    dirs.push(d);
    explained.push(lam / total);
  }
  const first = coordinate(checkpoints[0]!, final, dirs[0]!);
  if (first > 0) for (const v of dirs[0]!.values()) for (let k = 0; k < v.length; k++) v[k] = -v[k]!;
  const first2 = coordinate(checkpoints[0]!, final, dirs[1]!);
  if (first2 > 0) for (const v of dirs[1]!.values()) for (let k = 0; k < v.length; k++) v[k] = -v[k]!;
  return { dirs: [dirs[0]!, dirs[1]!], explained: [explained[0]!, explained[1]!] };
}

/** ⟨w − base, d⟩ / ‖d‖² — the coordinate of w along d from base (d need not be unit). */
export function coordinate(w: Weights, base: Weights, d: Weights): number {
  let s = 0;
  for (const [n, v] of d) {
    const a = w.get(n)!;
    const b = base.get(n)!;
    for (let k = 0; k < v.length; k++) s += (a[k]! - b[k]!) * v[k]!;
  }
  return s / dotWeights(d, d);
}

/** Coordinates of every checkpoint in the plane (base, d₁, d₂). */
export function projectPath(checkpoints: Weights[], base: Weights, d1: Weights, d2: Weights): { x: number[]; y: number[] } {
  return { x: checkpoints.map((w) => coordinate(w, base, d1)), y: checkpoints.map((w) => coordinate(w, base, d2)) };
}

/** Axis ranges that hold the path with a margin (each at least `minSpan` wide). */
export function pathRange(v: number[], margin = 0.25, minSpan = 1e-3): [number, number] {
  let lo = Math.min(...v);
  let hi = Math.max(...v);
  const span = Math.max(hi - lo, minSpan);
  lo -= margin * span;
  hi += margin * span;
  return [lo, hi];
}
