/**
 * Fixtures for the `hvp` / `hessian` end-to-end tests: a small MLP written to a temp dir as the
 * CLI reads it (model JSON, safetensors, .npy), and independent float64 truths computed here
 * without the library: the loss gradient by a plain backward pass, Hessian- and GGN-vector products
 * by central differences of it, and a Jacobi eigen-solver for dense symmetric matrices.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeNpy } from '../../src/io/npy.js';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { Rng } from '../../src/model/rng.js';
import { jacobiEigen } from '../helpers/dense.js';

export type Act = 'tanh' | 'relu' | 'sigmoid';
export interface ProblemSpec {
  sizes: number[]; // [in, hidden…, classes]
  act: Act;
  batch: number;
  seed: number;
}
export interface Problem {
  spec: ProblemSpec;
  /** Flat parameters in riverbed order (layer by layer, weight [out, in] row-major, then bias). */
  theta: Float64Array;
  x: Float64Array;
  y: Int32Array;
  files: { model: string; weights: string; inputs: string; labels: string };
}

export function parameterCount(sizes: number[]): number {
  let p = 0;
  for (let l = 0; l + 1 < sizes.length; l++) p += sizes[l + 1]! * (sizes[l]! + 1);
  return p;
}

export function modelJson(sizes: number[], act: Act): object {
  const layers: object[] = [];
  for (let l = 0; l + 1 < sizes.length; l++) {
    if (l > 0) layers.push({ type: act });
    layers.push({ type: 'linear', in: sizes[l], out: sizes[l + 1] });
  }
  return { format: 'riverbed.model', version: 1, layers, loss: 'cross_entropy' };
}

/** Writes model.json, weights.safetensors, x.npy (float32), y.npy (int64) under dir. */
export async function writeProblem(dir: string, spec: ProblemSpec): Promise<Problem> {
  const { sizes, batch } = spec;
  const r = new Rng(spec.seed);
  const theta = new Float64Array(parameterCount(sizes));
  const tensors = [];
  let off = 0;
  for (let l = 0; l + 1 < sizes.length; l++) {
    const fin = sizes[l]!;
    const fout = sizes[l + 1]!;
    const bound = 1.5 / Math.sqrt(fin); // a bit larger than PyTorch's default: curvier logits
    for (const [kind, n] of [['weight', fout * fin], ['bias', fout]] as const) {
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = r.uniform(-bound, bound);
      theta.set(data, off);
      off += n;
      const module = 2 * l; // linear layers sit at module indices 0, 2, 4, … (activations between)
      tensors.push({ name: `${module}.${kind}`, shape: kind === 'weight' ? [fout, fin] : [fout], data });
    }
  }
  const x32 = new Float32Array(batch * sizes[0]!);
  for (let i = 0; i < x32.length; i++) x32[i] = r.uniform(-2, 2);
  const classes = sizes.at(-1)!;
  const y = new Int32Array(batch);
  for (let i = 0; i < batch; i++) y[i] = r.int(classes);
  const files = { model: join(dir, 'model.json'), weights: join(dir, 'weights.safetensors'), inputs: join(dir, 'x.npy'), labels: join(dir, 'y.npy') };
  writeFileSync(files.model, JSON.stringify(modelJson(sizes, spec.act)));
  await writeSafetensors(files.weights, tensors);
  writeNpy(files.inputs, x32, [batch, sizes[0]!]);
  writeNpy(files.labels, y, [batch], { dtype: 'i8' });
  return { spec, theta, x: Float64Array.from(x32), y, files };
}

const act = (a: Act, z: number) => (a === 'tanh' ? Math.tanh(z) : a === 'relu' ? Math.max(0, z) : 1 / (1 + Math.exp(-z)));
const dact = (a: Act, z: number) => {
  if (a === 'tanh') return 1 - Math.tanh(z) ** 2;
  if (a === 'relu') return z > 0 ? 1 : 0;
  const s = 1 / (1 + Math.exp(-z));
  return s * (1 - s);
};

/** Logits [B, C] and every layer's pre-activations and inputs (float64). */
function forward(p: Problem, theta: Float64Array) {
  const { sizes, batch, act: a } = p.spec;
  const hs: Float64Array[] = [p.x];
  const zs: Float64Array[] = [];
  let h = p.x;
  let off = 0;
  for (let l = 0; l + 1 < sizes.length; l++) {
    const fin = sizes[l]!;
    const fout = sizes[l + 1]!;
    const z = new Float64Array(batch * fout);
    for (let s = 0; s < batch; s++) {
      for (let o = 0; o < fout; o++) {
        let acc = theta[off + fout * fin + o]!;
        for (let i = 0; i < fin; i++) acc += theta[off + o * fin + i]! * h[s * fin + i]!;
        z[s * fout + o] = acc;
      }
    }
    off += fout * (fin + 1);
    zs.push(z);
    if (l + 2 < sizes.length) {
      h = z.map((v) => act(a, v));
      hs.push(h);
    } else h = z;
  }
  return { logits: h, hs, zs };
}

/** Gradient of Σ_s Σ_c g[s, c] · logits[s, c] w.r.t. theta (a vector-Jacobian product). */
function vjp(p: Problem, theta: Float64Array, g0: Float64Array): Float64Array {
  const { sizes, batch, act: a } = p.spec;
  const { hs, zs } = forward(p, theta);
  const grad = new Float64Array(theta.length);
  const offs: number[] = [];
  let off = 0;
  for (let l = 0; l + 1 < sizes.length; l++) {
    offs.push(off);
    off += sizes[l + 1]! * (sizes[l]! + 1);
  }
  let g = g0;
  for (let l = sizes.length - 2; l >= 0; l--) {
    const fin = sizes[l]!;
    const fout = sizes[l + 1]!;
    const o0 = offs[l]!;
    const h = hs[l]!;
    for (let s = 0; s < batch; s++) {
      for (let o = 0; o < fout; o++) {
        const go = g[s * fout + o]!;
        grad[o0 + fout * fin + o]! += go;
        for (let i = 0; i < fin; i++) grad[o0 + o * fin + i]! += go * h[s * fin + i]!;
      }
    }
    if (l > 0) {
      const z = zs[l - 1]!;
      const gin = new Float64Array(batch * fin);
      for (let s = 0; s < batch; s++) {
        for (let i = 0; i < fin; i++) {
          let acc = 0;
          for (let o = 0; o < fout; o++) acc += g[s * fout + o]! * theta[o0 + o * fin + i]!;
          gin[s * fin + i] = acc * dact(a, z[s * fin + i]!);
        }
      }
      g = gin;
    }
  }
  return grad;
}

function softmaxRows(logits: Float64Array, batch: number, C: number): Float64Array {
  const p = new Float64Array(logits.length);
  for (let s = 0; s < batch; s++) {
    let m = -Infinity;
    for (let c = 0; c < C; c++) m = Math.max(m, logits[s * C + c]!);
    let z = 0;
    for (let c = 0; c < C; c++) z += (p[s * C + c] = Math.exp(logits[s * C + c]! - m));
    for (let c = 0; c < C; c++) p[s * C + c]! /= z;
  }
  return p;
}

/** Mean cross-entropy and its gradient (float64). */
export function lossAndGrad(p: Problem, theta: Float64Array = p.theta): { loss: number; grad: Float64Array } {
  const { batch } = p.spec;
  const C = p.spec.sizes.at(-1)!;
  const { logits } = forward(p, theta);
  const prob = softmaxRows(logits, batch, C);
  let loss = 0;
  const g = new Float64Array(prob.length);
  for (let s = 0; s < batch; s++) {
    loss -= Math.log(prob[s * C + p.y[s]!]!);
    for (let c = 0; c < C; c++) g[s * C + c] = (prob[s * C + c]! - (c === p.y[s] ? 1 : 0)) / batch;
  }
  return { loss: loss / batch, grad: vjp(p, theta, g) };
}

const shifted = (t: Float64Array, v: ArrayLike<number>, e: number) => t.map((x, i) => x + e * v[i]!);

/** H v by central differences of the float64 gradient: (∇L(θ+εv) − ∇L(θ−εv)) / 2ε. */
export function fdHvp(p: Problem, v: ArrayLike<number>, eps = 1e-5): Float64Array {
  const gp = lossAndGrad(p, shifted(p.theta, v, eps)).grad;
  const gm = lossAndGrad(p, shifted(p.theta, v, -eps)).grad;
  return gp.map((x, i) => (x - gm[i]!) / (2 * eps));
}

/** G v = Jᵀ H_loss J v: J v by central differences of the logits, H_loss in closed form, Jᵀ by vjp. */
export function fdGgnVp(p: Problem, v: ArrayLike<number>, eps = 1e-5): Float64Array {
  const { batch } = p.spec;
  const C = p.spec.sizes.at(-1)!;
  const lp = forward(p, shifted(p.theta, v, eps)).logits;
  const lm = forward(p, shifted(p.theta, v, -eps)).logits;
  const jv = lp.map((x, i) => (x - lm[i]!) / (2 * eps));
  const prob = softmaxRows(forward(p, p.theta).logits, batch, C);
  const u = new Float64Array(jv.length);
  for (let s = 0; s < batch; s++) {
    let pr = 0;
    for (let c = 0; c < C; c++) pr += prob[s * C + c]! * jv[s * C + c]!;
    for (let c = 0; c < C; c++) u[s * C + c] = (prob[s * C + c]! * (jv[s * C + c]! - pr)) / batch;
  }
  return vjp(p, p.theta, u);
}

/** Eigenvalues (descending) of a dense symmetric n×n matrix (the shared float64 Jacobi of test/helpers/dense.ts). */
export function jacobiEigenvalues(matrix: ArrayLike<number>, n: number): number[] {
  return Array.from(jacobiEigen(matrix, n).values).reverse();
}

/** ‖a − b‖ / ‖b‖. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}
