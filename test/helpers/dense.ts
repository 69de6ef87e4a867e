/**
 * Dense float64 references for the curvature tests, independent of the backends and of
 * src/curvature: a cyclic Jacobi eigen-solver, and a host MLP (forward, reverse-mode gradient,
 * per-sample logit Jacobians) used for finite-difference Hessians and the dense GGN.
 */
import type { Activation } from '../../src/backends/backend.js';
import { activationDerivative, activationValue } from '../../src/backends/js/math.js';
import { isLinear, type LinearLayer, type ModelDescription } from '../../src/model/description.js';

/** Eigenpairs of a symmetric n×n row-major matrix by cyclic Jacobi rotations; values ascending, vectors as columns. */
export function jacobiEigen(matrix: ArrayLike<number>, n: number): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(matrix as ArrayLike<number>);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    let total = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        total += a[i * n + j]! ** 2;
        if (i !== j) off += a[i * n + j]! ** 2;
      }
    if (off <= 1e-30 * total || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (apq === 0) continue;
        const app = a[p * n + p]!;
        const aqq = a[q * n + q]!;
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p]!;
          const akq = a[k * n + q]!;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k]!;
          const aqk = a[q * n + k]!;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!;
          const vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[i * n + i]! - a[j * n + j]!);
  const values = Float64Array.from(order, (i) => a[i * n + i]!);
  const vectors = new Float64Array(n * n);
  order.forEach((src, j) => {
    for (let i = 0; i < n; i++) vectors[i * n + j] = v[i * n + src]!;
  });
  return { values, vectors };
}

/** (A + Aᵀ)/2 of an n×n matrix. */
export function symmetrize(a: ArrayLike<number>, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[i * n + j] = 0.5 * (a[i * n + j]! + a[j * n + i]!);
  return out;
}

/** Largest |a_ij − a_ji| over the largest |a_ij|. */
export function asymmetry(a: ArrayLike<number>, n: number): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      d = Math.max(d, Math.abs(a[i * n + j]! - a[j * n + i]!));
      m = Math.max(m, Math.abs(a[i * n + j]!));
    }
  return d / m;
}

/** A random symmetric matrix Q diag(values) Qᵀ (Q from Gram–Schmidt of a seeded Gaussian matrix). */
export function matrixWithSpectrum(values: readonly number[], random: () => number): Float64Array {
  const n = values.length;
  const q: Float64Array[] = [];
  for (let j = 0; j < n; j++) {
    const v = new Float64Array(n);
    for (let i = 0; i < n; i++) v[i] = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    for (let pass = 0; pass < 2; pass++)
      for (const u of q) {
        let d = 0;
        for (let i = 0; i < n; i++) d += u[i]! * v[i]!;
        for (let i = 0; i < n; i++) v[i] = v[i]! - d * u[i]!;
      }
    let s = 0;
    for (let i = 0; i < n; i++) s += v[i]! ** 2;
    for (let i = 0; i < n; i++) v[i] = v[i]! / Math.sqrt(s);
    q.push(v);
  }
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += q[k]![i]! * values[k]! * q[k]![j]!;
      a[i * n + j] = s;
    }
  return a;
}

// ---- host MLP in float64 (parameters as one flat vector in safetensors order) -------------------

interface Tape {
  /** Input of each layer, [B, width]. */
  inputs: Float64Array[];
  logits: Float64Array;
}

function forward(d: ModelDescription, theta: Float64Array, x: Float64Array, B: number): Tape {
  const inputs: Float64Array[] = [];
  let h = x;
  let width = x.length / B;
  let off = 0;
  for (const l of d.layers) {
    inputs.push(h);
    if (isLinear(l)) {
      const W = off;
      off += l.out * l.in;
      const bias = l.bias !== false ? off : -1;
      if (l.bias !== false) off += l.out;
      const out = new Float64Array(B * l.out);
      for (let i = 0; i < B; i++)
        for (let o = 0; o < l.out; o++) {
          let s = bias >= 0 ? theta[bias + o]! : 0;
          for (let k = 0; k < l.in; k++) s += h[i * width + k]! * theta[W + o * l.in + k]!;
          out[i * l.out + o] = s;
        }
      h = out;
      width = l.out;
    } else {
      h = h.map((v) => activationValue(l.type as Activation, v));
    }
  }
  return { inputs, logits: h };
}

/** Reverse mode: Σ_i seedᵢ · ∂zᵢ/∂θ for a seed [B, C] at the logits. */
function backward(d: ModelDescription, theta: Float64Array, tape: Tape, seed: Float64Array, B: number): Float64Array {
  const grad = new Float64Array(theta.length);
  const offsets: number[] = [];
  let off = 0;
  for (const l of d.layers) {
    offsets.push(off);
    if (isLinear(l)) off += l.out * l.in + (l.bias !== false ? l.out : 0);
  }
  let g = seed;
  for (let li = d.layers.length - 1; li >= 0; li--) {
    const l = d.layers[li]!;
    const h = tape.inputs[li]!;
    if (isLinear(l)) {
      const W = offsets[li]!;
      const bias = W + l.out * l.in;
      const gin = new Float64Array(B * l.in);
      for (let i = 0; i < B; i++)
        for (let o = 0; o < l.out; o++) {
          const go = g[i * l.out + o]!;
          if (go === 0) continue;
          if (l.bias !== false) grad[bias + o] = grad[bias + o]! + go;
          for (let k = 0; k < l.in; k++) {
            grad[W + o * l.in + k] = grad[W + o * l.in + k]! + go * h[i * l.in + k]!;
            gin[i * l.in + k] = gin[i * l.in + k]! + go * theta[W + o * l.in + k]!;
          }
        }
      g = gin;
    } else {
      g = g.map((v, k) => v * activationDerivative(l.type as Activation, h[k]!));
    }
  }
  return grad;
}

function softmaxRow(z: Float64Array, i: number, c: number): Float64Array {
  const row = z.subarray(i * c, (i + 1) * c);
  const mx = Math.max(...row);
  const e = row.map((v) => Math.exp(v - mx));
  const s = e.reduce((a, v) => a + v, 0);
  return e.map((v) => v / s);
}

/** Gradient of the mean cross-entropy in float64. */
export function hostGradient(d: ModelDescription, theta: Float64Array, x: Float64Array, y: Int32Array, B: number): Float64Array {
  const tape = forward(d, theta, x, B);
  const C = tape.logits.length / B;
  const seed = new Float64Array(B * C);
  for (let i = 0; i < B; i++) {
    const p = softmaxRow(tape.logits, i, C);
    for (let c = 0; c < C; c++) seed[i * C + c] = (p[c]! - (c === y[i] ? 1 : 0)) / B;
  }
  return backward(d, theta, tape, seed, B);
}

/** Hessian of the mean cross-entropy by central differences of the float64 gradient (step h). */
export function finiteDifferenceHessian(d: ModelDescription, theta: Float64Array, x: Float64Array, y: Int32Array, B: number, h = 1e-5): Float64Array {
  const P = theta.length;
  const H = new Float64Array(P * P);
  const t = Float64Array.from(theta);
  for (let j = 0; j < P; j++) {
    t[j] = theta[j]! + h;
    const gp = hostGradient(d, t, x, y, B);
    t[j] = theta[j]! - h;
    const gm = hostGradient(d, t, x, y, B);
    t[j] = theta[j]!;
    for (let i = 0; i < P; i++) H[i * P + j] = (gp[i]! - gm[i]!) / (2 * h);
  }
  return H;
}

/** The GGN (1/B) Σᵢ Jᵢᵀ (diag pᵢ − pᵢpᵢᵀ) Jᵢ from per-sample logit Jacobians Jᵢ [C, P], in float64. */
export function denseGgn(d: ModelDescription, theta: Float64Array, x: Float64Array, B: number): Float64Array {
  const P = theta.length;
  const G = new Float64Array(P * P);
  const width = x.length / B;
  for (let i = 0; i < B; i++) {
    const xi = x.subarray(i * width, (i + 1) * width);
    const tape = forward(d, theta, Float64Array.from(xi), 1);
    const C = tape.logits.length;
    const J: Float64Array[] = [];
    for (let c = 0; c < C; c++) {
      const seed = new Float64Array(C);
      seed[c] = 1;
      J.push(backward(d, theta, tape, seed, 1));
    }
    const p = softmaxRow(tape.logits, 0, C);
    // M = H_loss J  [C, P]
    const M = Array.from({ length: C }, (_, a) => {
      const row = new Float64Array(P);
      for (let b = 0; b < C; b++) {
        const hab = (a === b ? p[a]! : 0) - p[a]! * p[b]!;
        if (hab !== 0) for (let k = 0; k < P; k++) row[k] = row[k]! + hab * J[b]![k]!;
      }
      return row;
    });
    for (let a = 0; a < C; a++)
      for (let r = 0; r < P; r++) {
        const jr = J[a]![r]! / B;
        if (jr === 0) continue;
        const m = M[a]!;
        for (let s = 0; s < P; s++) G[r * P + s] = G[r * P + s]! + jr * m[s]!;
      }
  }
  return G;
}

/** Number of parameters of a description (weights and biases of its linear layers). */
export function parameterCount(d: ModelDescription): number {
  return d.layers.filter(isLinear).reduce((a, l) => a + (l as LinearLayer).out * (l as LinearLayer).in + ((l as LinearLayer).bias !== false ? (l as LinearLayer).out : 0), 0);
}
