/**
 * A float64 host reference for sequential models with conv2d / pooling / flatten layers, written
 * directly from the definitions (PyTorch's Conv2d cross-correlation with zero padding, MaxPool2d
 * with windows clipped to the input, AvgPool2d dividing by kh·kw): no im2col, no backend, no code
 * shared with src/ but the description's shape inference and the activation formulas. The
 * curvature tests differentiate it numerically (gradients, Hessians, logit Jacobians).
 *
 * Parameters are one flat vector in safetensors order: layer by layer, weight then bias.
 */
import type { Activation } from '../../src/backends/backend.js';
import { activationValue } from '../../src/backends/js/math.js';
import { type ModelDescription, hasParameters, layerShapes, weightShape } from '../../src/model/description.js';

/** Number of parameters (weights and biases of the linear and conv2d layers). */
export function hostParameterCount(d: ModelDescription): number {
  let n = 0;
  for (const l of d.layers) if (hasParameters(l)) n += weightShape(l).reduce((a, b) => a * b, 1) + (l.bias !== false ? l.out : 0);
  return n;
}

/** Logits [B, classes] of x (B samples, each the model's input flattened row-major). */
export function hostLogits(d: ModelDescription, theta: Float64Array, x: Float64Array, B: number): Float64Array {
  const shapes = layerShapes(d);
  let h = x;
  let off = 0;
  d.layers.forEach((l, li) => {
    const s = shapes[li]!;
    const outShape = shapes[li + 1]!;
    const outSize = outShape.reduce((a, b) => a * b, 1);
    const inSize = s.reduce((a, b) => a * b, 1);
    if (l.type === 'linear') {
      const W = off;
      off += l.out * l.in;
      const bias = l.bias !== false ? off : -1;
      if (l.bias !== false) off += l.out;
      const out = new Float64Array(B * l.out);
      for (let n = 0; n < B; n++)
        for (let o = 0; o < l.out; o++) {
          let acc = bias >= 0 ? theta[bias + o]! : 0;
          for (let k = 0; k < l.in; k++) acc += h[n * l.in + k]! * theta[W + o * l.in + k]!;
          out[n * l.out + o] = acc;
        }
      h = out;
    } else if (l.type === 'conv2d') {
      const [C, H, Wd] = s as [number, number, number];
      const [O, OH, OW] = outShape as [number, number, number];
      const [KH, KW] = l.kernel;
      const W = off;
      off += O * C * KH * KW;
      const bias = l.bias !== false ? off : -1;
      if (l.bias !== false) off += O;
      const out = new Float64Array(B * outSize);
      for (let n = 0; n < B; n++)
        for (let o = 0; o < O; o++)
          for (let oy = 0; oy < OH; oy++)
            for (let ox = 0; ox < OW; ox++) {
              let acc = bias >= 0 ? theta[bias + o]! : 0;
              for (let c = 0; c < C; c++)
                for (let ky = 0; ky < KH; ky++)
                  for (let kx = 0; kx < KW; kx++) {
                    const iy = oy * l.stride[0] - l.padding[0] + ky;
                    const ix = ox * l.stride[1] - l.padding[1] + kx;
                    if (iy < 0 || iy >= H || ix < 0 || ix >= Wd) continue;
                    acc += h[n * inSize + (c * H + iy) * Wd + ix]! * theta[W + ((o * C + c) * KH + ky) * KW + kx]!;
                  }
              out[n * outSize + (o * OH + oy) * OW + ox] = acc;
            }
      h = out;
    } else if (l.type === 'maxpool2d' || l.type === 'avgpool2d') {
      const [C, H, Wd] = s as [number, number, number];
      const [, OH, OW] = outShape as [number, number, number];
      const [KH, KW] = l.kernel;
      const out = new Float64Array(B * outSize);
      for (let n = 0; n < B; n++)
        for (let c = 0; c < C; c++)
          for (let oy = 0; oy < OH; oy++)
            for (let ox = 0; ox < OW; ox++) {
              let mx = -Infinity;
              let sum = 0;
              for (let ky = 0; ky < KH; ky++)
                for (let kx = 0; kx < KW; kx++) {
                  const iy = oy * l.stride[0] - l.padding[0] + ky;
                  const ix = ox * l.stride[1] - l.padding[1] + kx;
                  if (iy < 0 || iy >= H || ix < 0 || ix >= Wd) continue; // max: padding never wins; avg: adds 0
                  const v = h[n * inSize + (c * H + iy) * Wd + ix]!;
                  mx = Math.max(mx, v);
                  sum += v;
                }
              out[n * outSize + (c * OH + oy) * OW + ox] = l.type === 'maxpool2d' ? mx : sum / (KH * KW);
            }
      h = out;
    } else if (l.type !== 'flatten') {
      h = h.map((v) => activationValue(l.type as Activation, v));
    }
  });
  return h;
}

/** Mean cross-entropy of the logits against y, in float64. */
export function hostMeanLoss(d: ModelDescription, theta: Float64Array, x: Float64Array, y: Int32Array, B: number): number {
  const z = hostLogits(d, theta, x, B);
  const C = z.length / B;
  let total = 0;
  for (let n = 0; n < B; n++) {
    const row = z.subarray(n * C, (n + 1) * C);
    const mx = Math.max(...row);
    let s = 0;
    for (const v of row) s += Math.exp(v - mx);
    total += Math.log(s) + mx - row[y[n]!]!;
  }
  return total / B;
}

/** Central differences of the mean loss: the gradient, accurate to ~h² (float64). */
export function fdGradient(d: ModelDescription, theta: Float64Array, x: Float64Array, y: Int32Array, B: number, h = 1e-6): Float64Array {
  const t = Float64Array.from(theta);
  const g = new Float64Array(theta.length);
  for (let j = 0; j < theta.length; j++) {
    t[j] = theta[j]! + h;
    const lp = hostMeanLoss(d, t, x, y, B);
    t[j] = theta[j]! - h;
    const lm = hostMeanLoss(d, t, x, y, B);
    t[j] = theta[j]!;
    g[j] = (lp - lm) / (2 * h);
  }
  return g;
}

/** The Hessian of the mean loss by second central differences of the loss itself (symmetric by construction). */
export function fdHessian(d: ModelDescription, theta: Float64Array, x: Float64Array, y: Int32Array, B: number, h = 1e-4): Float64Array {
  const P = theta.length;
  const H = new Float64Array(P * P);
  const t = Float64Array.from(theta);
  const L = (di: number, i: number, dj: number, j: number) => {
    t[i] = t[i]! + di;
    t[j] = t[j]! + dj;
    const v = hostMeanLoss(d, t, x, y, B);
    t[i] = theta[i]!;
    t[j] = theta[j]!;
    return v;
  };
  const l0 = hostMeanLoss(d, theta, x, y, B);
  for (let i = 0; i < P; i++) {
    // Diagonal: (L(θ+2h) − 2L(θ) + L(θ−2h)) / 4h², the same step as the off-diagonal stencil.
    H[i * P + i] = (L(2 * h, i, 0, i) - 2 * l0 + L(-2 * h, i, 0, i)) / (4 * h * h);
    for (let j = i + 1; j < P; j++) {
      const v = (L(h, i, h, j) - L(h, i, -h, j) - L(-h, i, h, j) + L(-h, i, -h, j)) / (4 * h * h);
      H[i * P + j] = v;
      H[j * P + i] = v;
    }
  }
  return H;
}

/** The GGN (1/B) Σₙ Jₙᵀ (diag pₙ − pₙpₙᵀ) Jₙ with logit Jacobians Jₙ [C, P] by central differences. */
export function fdGgn(d: ModelDescription, theta: Float64Array, x: Float64Array, B: number, h = 1e-6): Float64Array {
  const P = theta.length;
  const z0 = hostLogits(d, theta, x, B);
  const C = z0.length / B;
  const J = new Float64Array(B * C * P); // [n, c, p]
  const t = Float64Array.from(theta);
  for (let p = 0; p < P; p++) {
    t[p] = theta[p]! + h;
    const zp = hostLogits(d, t, x, B);
    t[p] = theta[p]! - h;
    const zm = hostLogits(d, t, x, B);
    t[p] = theta[p]!;
    for (let k = 0; k < B * C; k++) J[k * P + p] = (zp[k]! - zm[k]!) / (2 * h);
  }
  const G = new Float64Array(P * P);
  for (let n = 0; n < B; n++) {
    const row = z0.subarray(n * C, (n + 1) * C);
    const mx = Math.max(...row);
    const e = row.map((v) => Math.exp(v - mx));
    const s = e.reduce((a, v) => a + v, 0);
    const prob = e.map((v) => v / s);
    for (let a = 0; a < C; a++)
      for (let c = 0; c < C; c++) {
        const hac = (a === c ? prob[a]! : 0) - prob[a]! * prob[c]!;
        if (hac === 0) continue;
        const ja = (n * C + a) * P;
        const jc = (n * C + c) * P;
        for (let i = 0; i < P; i++) {
          const f = (hac * J[ja + i]!) / B;
          if (f === 0) continue;
          for (let j = 0; j < P; j++) G[i * P + j] = G[i * P + j]! + f * J[jc + j]!;
        }
      }
  }
  return G;
}
