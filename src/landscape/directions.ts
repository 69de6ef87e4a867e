/**
 * Directions in weight space for loss-landscape slices, as host arrays named like the model's
 * parameters (`0.weight` [out, in] or [out, in, kh, kw], `0.bias` [out], …).
 *
 * Random directions follow Li et al., "Visualizing the Loss Landscape of Neural Nets" (NeurIPS
 * 2018) and their code (`net_plotter.py`): every parameter gets N(0, 1) entries, then
 *   filter: for each output row i of a 2-D weight (each output channel, dim 0, of a 4-D conv
 *           weight): d_i ← d_i·‖w_i‖/(‖d_i‖ + 1e-10);
 *   layer:  d ← d·‖W‖/‖D‖ for the whole tensor;
 *   weight: d ← d ⊙ w;
 *   none:   left as drawn;
 * and 1-D parameters (biases) are zeroed (`bias: 'zero'`, their `ignore='biasbn'`) or set to the
 * weights themselves (`bias: 'copy'`). The second direction of a 2-D slice is then made orthogonal
 * to the first (Gram–Schmidt in float64 over all parameters, its norm kept); the cosine before is
 * reported. Li et al. do not orthogonalise (two random directions in millions of dimensions are
 * nearly orthogonal); we do so that the two axes measure independent distances, and say by how much.
 */
import { fail } from '../errors.js';
import type { ModelDescription } from '../model/description.js';
import { parameterSpecs } from '../model/mlp.js';
import { gaussian } from '../curvature/probes.js';
import { Rng } from '../model/rng.js';

/** Host values of every parameter, keyed `i.weight` / `i.bias` (the model's parameter order). */
export type Weights = Map<string, Float32Array>;

export type Normalization = 'filter' | 'layer' | 'weight' | 'none';
export const NORMALIZATIONS: readonly Normalization[] = ['filter', 'layer', 'weight', 'none'];
/** What happens to 1-D parameters: zeroed, set to the weights, or left as they are. */
export type BiasMode = 'zero' | 'copy' | 'keep';

/** Li et al.'s epsilon in d·‖w‖/(‖d‖ + ε). */
export const FILTER_EPS = 1e-10;

/** One parameter's spec (name, shape, module index, weight or bias). */
export type ParamSpec = ReturnType<typeof parameterSpecs>[number];

/** Gaussian N(0, 1) entries for every parameter, from the seeded stream of direction `index`. */
export function gaussianDirection(d: ModelDescription, seed: number, index: number): Weights {
  const rng = Rng.derive(seed, `landscape:direction:${index}`);
  const out: Weights = new Map();
  for (const s of parameterSpecs(d)) out.set(s.name, gaussian(s.shape.reduce((a, b) => a * b, 1), rng));
  return out;
}

/** ‖x‖ of elements [start, start + n), in float64. */
function norm(x: Float32Array, start = 0, n = x.length): number {
  let s = 0;
  for (let i = start; i < start + n; i++) s += x[i]! * x[i]!;
  return Math.sqrt(s);
}

/**
 * Normalises `dir` against `weights` in place (see the module comment) and returns it. Weights
 * with 2 or more dimensions are normalised; 1-D parameters follow `bias`.
 */
export function normalizeDirection(d: ModelDescription, dir: Weights, weights: Weights, normalization: Normalization, bias: BiasMode): Weights {
  for (const s of parameterSpecs(d)) {
    const v = dir.get(s.name)!;
    const w = weights.get(s.name)!;
    if (s.shape.length <= 1) {
      if (bias === 'zero') v.fill(0);
      else if (bias === 'copy') v.set(w);
      continue;
    }
    if (normalization === 'filter') {
      // Rows of dim 0: one output neuron's incoming weights, or one conv filter [in, kh, kw].
      const rows = s.shape[0]!;
      const len = v.length / rows;
      for (let r = 0; r < rows; r++) {
        const f = norm(w, r * len, len) / (norm(v, r * len, len) + FILTER_EPS);
        for (let i = r * len; i < (r + 1) * len; i++) v[i] = v[i]! * f;
      }
    } else if (normalization === 'layer') {
      const f = norm(w) / norm(v);
      for (let i = 0; i < v.length; i++) v[i] = v[i]! * f;
    } else if (normalization === 'weight') {
      for (let i = 0; i < v.length; i++) v[i] = v[i]! * w[i]!;
    }
  }
  return dir;
}

/** ⟨a, b⟩ over all parameters, float64. */
export function dotWeights(a: Weights, b: Weights): number {
  let s = 0;
  for (const [name, x] of a) {
    const y = b.get(name)!;
    for (let i = 0; i < x.length; i++) s += x[i]! * y[i]!;
  }
  return s;
}

export function normWeights(a: Weights): number {
  return Math.sqrt(dotWeights(a, a));
}

/**
 * Makes `second` orthogonal to `first` (Gram–Schmidt, float64), keeping its norm; returns the
 * cosine of the angle between them before. E_VALUE when either is zero or they are parallel.
 */
export function orthogonalize(first: Weights, second: Weights): { cosine: number } {
  const n1 = normWeights(first);
  const n2 = normWeights(second);
  if (!(n1 > 0)) fail('E_VALUE', 'the first direction is zero (after normalisation): it spans no axis', { field: '--dirs' });
  if (!(n2 > 0)) fail('E_VALUE', 'the second direction is zero (after normalisation): it spans no axis', { field: '--dirs' });
  const cosine = dotWeights(first, second) / (n1 * n2);
  if (!(Math.abs(cosine) < 1 - 1e-6)) fail('E_VALUE', `the two directions are parallel (cosine ${cosine.toFixed(8)}): they span one axis, not a plane`, { field: '--dirs' });
  const c = dotWeights(first, second) / (n1 * n1);
  let n = 0;
  const proj: Map<string, Float64Array> = new Map();
  for (const [name, y] of second) {
    const x = first.get(name)!;
    const p = new Float64Array(y.length);
    for (let i = 0; i < y.length; i++) {
      p[i] = y[i]! - c * x[i]!;
      n += p[i]! * p[i]!;
    }
    proj.set(name, p);
  }
  const f = n2 / Math.sqrt(n);
  for (const [name, y] of second) {
    const p = proj.get(name)!;
    for (let i = 0; i < y.length; i++) y[i] = p[i]! * f;
  }
  return { cosine };
}

/** a − b per parameter (the direction from b to a). */
export function difference(a: Weights, b: Weights): Weights {
  const out: Weights = new Map();
  for (const [name, x] of a) {
    const y = b.get(name)!;
    const d = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) d[i] = x[i]! - y[i]!;
    out.set(name, d);
  }
  return out;
}

/** Flat vector (parameter order) of named weights, and back. */
export function flatten(d: ModelDescription, w: Weights): Float32Array {
  const specs = parameterSpecs(d);
  const out = new Float32Array(specs.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0));
  let at = 0;
  for (const s of specs) {
    const v = w.get(s.name)!;
    out.set(v, at);
    at += v.length;
  }
  return out;
}
export function unflatten(d: ModelDescription, flat: Float32Array | Float64Array): Weights {
  const out: Weights = new Map();
  let at = 0;
  for (const s of parameterSpecs(d)) {
    const n = s.shape.reduce((x, y) => x * y, 1);
    out.set(s.name, Float32Array.from(flat.subarray(at, at + n)));
    at += n;
  }
  if (at !== flat.length) fail('E_SHAPE', `a flat vector of ${flat.length} values for ${at} parameters`);
  return out;
}

/**
 * Checks that `w` holds exactly the model's parameters with their shapes (sizes) and finite
 * values; `file` and the key name the culprit. Keys are the model's (`0.weight`, …).
 */
export function checkWeights(d: ModelDescription, w: Map<string, { shape?: number[]; data: Float32Array } | Float32Array>, file: string, what: string): Weights {
  const specs = parameterSpecs(d);
  const want = new Set(specs.map((s) => s.name));
  const extra = [...w.keys()].filter((k) => !want.has(k));
  if (extra.length > 0) {
    fail('E_MODEL', `${what} has tensor(s) ${extra.slice(0, 5).map((k) => `"${k}"`).join(', ')}${extra.length > 5 ? ', …' : ''} that the model does not (expected keys ${specs.map((s) => s.name).join(', ')})`, { file, field: extra[0] });
  }
  const out: Weights = new Map();
  for (const s of specs) {
    const t = w.get(s.name);
    if (!t) fail('E_MODEL', `${what} lacks tensor "${s.name}" (shape [${s.shape.join(', ')}])`, { file, field: s.name });
    const data = t instanceof Float32Array ? t : t.data;
    const shape = t instanceof Float32Array ? undefined : t.shape;
    if (shape && (shape.length !== s.shape.length || shape.some((v, i) => v !== s.shape[i]))) {
      fail('E_MODEL', `${what}: "${s.name}" has shape [${shape.join(', ')}]; the model's is [${s.shape.join(', ')}]`, { file, field: s.name });
    }
    if (data.length !== s.shape.reduce((a, b) => a * b, 1)) fail('E_MODEL', `${what}: "${s.name}" has ${data.length} values; the model's shape [${s.shape.join(', ')}] holds ${s.shape.reduce((a, b) => a * b, 1)}`, { file, field: s.name });
    const bad = data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) fail('E_VALUE', `${what}: "${s.name}" element ${bad} is ${data[bad]}; values must be finite`, { file, field: s.name });
    out.set(s.name, data);
  }
  return out;
}
