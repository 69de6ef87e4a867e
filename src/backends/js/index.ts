/**
 * The `js` backend: plain TypeScript, float64 accumulation everywhere.
 * It is the oracle every other backend is parity-tested against, so it stays
 * simple and obviously right rather than fast.
 */
import { fail } from '../../errors.js';
import {
  type Activation,
  type AdamHyper,
  type Backend,
  type BackendInfo,
  type CldKernelInput,
  type DType,
  type SgdHyper,
  type Tensor,
  dims2,
  sameSize,
  shapeSize,
} from '../backend.js';
import { activationDerivative, activationSecondDerivative, activationValue, cldScoresReference } from './math.js';

export class JsTensor implements Tensor {
  readonly backend = 'js' as const;
  readonly size: number;
  constructor(
    readonly dtype: DType,
    readonly shape: readonly number[],
    readonly data: Float32Array | Int32Array,
  ) {
    this.size = shapeSize(shape);
    if (data.length !== this.size) fail('E_INTERNAL', `tensor data length ${data.length} != shape ${shape.join('x')}`);
  }
}

function f32(t: Tensor): Float32Array {
  if (!(t instanceof JsTensor) || t.dtype !== 'f32') fail('E_INTERNAL', `expected a js f32 tensor, got ${t.backend}/${t.dtype}`);
  return t.data as Float32Array;
}
function i32(t: Tensor): Int32Array {
  if (!(t instanceof JsTensor) || t.dtype !== 'i32') fail('E_INTERNAL', `expected a js i32 tensor, got ${t.backend}/${t.dtype}`);
  return t.data as Int32Array;
}

export class JsBackend implements Backend {
  readonly name = 'js' as const;

  info(): BackendInfo {
    return { name: 'js', description: 'plain TypeScript reference (float64 accumulation, single thread)', threads: 1 };
  }

  upload(data: Float32Array, shape: readonly number[]): Tensor {
    return new JsTensor('f32', [...shape], Float32Array.from(data));
  }
  uploadInt(data: Int32Array, shape: readonly number[]): Tensor {
    return new JsTensor('i32', [...shape], Int32Array.from(data));
  }
  zeros(shape: readonly number[]): Tensor {
    return new JsTensor('f32', [...shape], new Float32Array(shapeSize(shape)));
  }
  async read(t: Tensor): Promise<Float32Array> {
    return Float32Array.from(f32(t));
  }
  async readInt(t: Tensor): Promise<Int32Array> {
    return Int32Array.from(i32(t));
  }
  free(_t: Tensor): void {
    /* garbage-collected */
  }

  matmul(a: Tensor, b: Tensor, transA = false, transB = false): Tensor {
    const [ar, ac] = dims2(a, 'matmul A');
    const [br, bc] = dims2(b, 'matmul B');
    const [m, k] = transA ? [ac, ar] : [ar, ac];
    const [k2, n] = transB ? [bc, br] : [br, bc];
    if (k !== k2) fail('E_SHAPE', `matmul: inner dimensions differ (${k} vs ${k2})`);
    const A = f32(a);
    const B = f32(b);
    const C = new Float32Array(m * n);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) {
          const av = transA ? A[p * ac + i]! : A[i * ac + p]!;
          const bv = transB ? B[j * bc + p]! : B[p * bc + j]!;
          s += av * bv;
        }
        C[i * n + j] = s;
      }
    }
    return new JsTensor('f32', [m, n], C);
  }

  addBias(x: Tensor, bias: Tensor): Tensor {
    const [m, n] = dims2(x, 'addBias x');
    if (bias.size !== n) fail('E_SHAPE', `addBias: bias has ${bias.size} elements, expected ${n}`);
    const X = f32(x);
    const b = f32(bias);
    const out = new Float32Array(m * n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[i * n + j] = X[i * n + j]! + b[j]!;
    return new JsTensor('f32', x.shape, out);
  }

  activation(kind: Activation, x: Tensor): Tensor {
    const X = f32(x);
    const out = new Float32Array(X.length);
    for (let i = 0; i < X.length; i++) out[i] = activationValue(kind, X[i]!);
    return new JsTensor('f32', x.shape, out);
  }

  activationGrad(kind: Activation, x: Tensor, gy: Tensor): Tensor {
    sameSize(x, gy, 'activationGrad');
    const X = f32(x);
    const G = f32(gy);
    const out = new Float32Array(X.length);
    for (let i = 0; i < X.length; i++) out[i] = G[i]! * activationDerivative(kind, X[i]!);
    return new JsTensor('f32', x.shape, out);
  }

  softmaxCrossEntropy(logits: Tensor, labels: Tensor): { loss: Tensor; grad: Tensor } {
    const [b, c] = dims2(logits, 'softmaxCrossEntropy logits');
    if (labels.size !== b) fail('E_SHAPE', `softmaxCrossEntropy: ${labels.size} labels for ${b} rows`);
    const Z = f32(logits);
    const Y = i32(labels);
    const loss = new Float32Array(b);
    const grad = new Float32Array(b * c);
    for (let i = 0; i < b; i++) {
      const y = Y[i]!;
      if (y < 0 || y >= c) fail('E_LABEL', `label ${y} of row ${i} is outside [0, ${c})`);
      let mx = -Infinity;
      for (let j = 0; j < c; j++) mx = Math.max(mx, Z[i * c + j]!);
      let s = 0;
      for (let j = 0; j < c; j++) s += Math.exp(Z[i * c + j]! - mx);
      loss[i] = Math.log(s) + mx - Z[i * c + y]!;
      for (let j = 0; j < c; j++) grad[i * c + j] = Math.exp(Z[i * c + j]! - mx) / s - (j === y ? 1 : 0);
    }
    return { loss: new JsTensor('f32', [b], loss), grad: new JsTensor('f32', [b, c], grad) };
  }

  sumRows(x: Tensor): Tensor {
    const [m, n] = dims2(x, 'sumRows x');
    const X = f32(x);
    const acc = new Float64Array(n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) acc[j]! += X[i * n + j]!;
    return new JsTensor('f32', [n], Float32Array.from(acc));
  }

  sum(x: Tensor): Tensor {
    const X = f32(x);
    let s = 0;
    for (let i = 0; i < X.length; i++) s += X[i]!;
    return new JsTensor('f32', [1], Float32Array.of(s));
  }

  axpy(alpha: number, x: Tensor, y: Tensor): Tensor {
    sameSize(x, y, 'axpy');
    const X = f32(x);
    const Y = f32(y);
    const out = new Float32Array(X.length);
    for (let i = 0; i < X.length; i++) out[i] = Y[i]! + alpha * X[i]!;
    return new JsTensor('f32', y.shape, out);
  }

  scale(alpha: number, x: Tensor): Tensor {
    const X = f32(x);
    const out = new Float32Array(X.length);
    for (let i = 0; i < X.length; i++) out[i] = alpha * X[i]!;
    return new JsTensor('f32', x.shape, out);
  }

  dot(x: Tensor, y: Tensor): Tensor {
    sameSize(x, y, 'dot');
    const X = f32(x);
    const Y = f32(y);
    let s = 0;
    for (let i = 0; i < X.length; i++) s += X[i]! * Y[i]!;
    return new JsTensor('f32', [1], Float32Array.of(s));
  }

  gatherRows(x: Tensor, idx: Tensor): Tensor {
    const [m, n] = dims2(x, 'gatherRows x');
    const X = f32(x);
    const I = i32(idx);
    const out = new Float32Array(I.length * n);
    for (let r = 0; r < I.length; r++) {
      const src = I[r]!;
      if (src < 0 || src >= m) fail('E_ARG', `gatherRows: index ${src} is outside [0, ${m})`);
      out.set(X.subarray(src * n, src * n + n), r * n);
    }
    return new JsTensor('f32', [I.length, n], out);
  }

  sgdStep(param: Tensor, grad: Tensor, velocity: Tensor, h: SgdHyper): void {
    sameSize(param, grad, 'sgdStep');
    sameSize(param, velocity, 'sgdStep');
    const P = f32(param);
    const G = f32(grad);
    const V = f32(velocity);
    // PyTorch's SGD: g' = g + wd·p; v = μ·v + g'; step = nesterov ? g' + μ·v : v.
    for (let i = 0; i < P.length; i++) {
      const g = G[i]! + h.weightDecay * P[i]!;
      const v = h.momentum * V[i]! + g;
      V[i] = v;
      P[i] = P[i]! - h.lr * (h.nesterov ? g + h.momentum * v : v);
    }
  }

  adamStep(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, h: AdamHyper): void {
    sameSize(param, grad, 'adamStep');
    const P = f32(param);
    const G = f32(grad);
    const M = f32(m);
    const V = f32(v);
    const bc1 = 1 - Math.pow(h.beta1, h.step);
    const bc2 = 1 - Math.pow(h.beta2, h.step);
    for (let i = 0; i < P.length; i++) {
      let p = P[i]!;
      let g = G[i]!;
      if (h.decoupled) p *= 1 - h.lr * h.weightDecay;
      else g += h.weightDecay * p;
      const mi = h.beta1 * M[i]! + (1 - h.beta1) * g;
      const vi = h.beta2 * V[i]! + (1 - h.beta2) * g * g;
      M[i] = mi;
      V[i] = vi;
      P[i] = p - (h.lr * (mi / bc1)) / (Math.sqrt(vi / bc2) + h.eps);
    }
  }

  mul(x: Tensor, y: Tensor): Tensor {
    sameSize(x, y, 'mul');
    const X = f32(x);
    const Y = f32(y);
    const out = new Float32Array(X.length);
    for (let i = 0; i < X.length; i++) out[i] = X[i]! * Y[i]!;
    return new JsTensor('f32', x.shape, out);
  }

  activationRGrad(kind: Activation, z: Tensor, rz: Tensor, ga: Tensor, rga: Tensor): Tensor {
    for (const [t, what] of [[rz, 'rz'], [ga, 'ga'], [rga, 'rga']] as const) sameSize(z, t, `activationRGrad ${what}`);
    const Z = f32(z);
    const RZ = f32(rz);
    const GA = f32(ga);
    const RGA = f32(rga);
    const out = new Float32Array(Z.length);
    for (let i = 0; i < Z.length; i++) {
      const x = Z[i]!;
      out[i] = GA[i]! * activationSecondDerivative(kind, x) * RZ[i]! + RGA[i]! * activationDerivative(kind, x);
    }
    return new JsTensor('f32', z.shape, out);
  }

  softmaxHessianVec(logits: Tensor, r: Tensor): Tensor {
    const [b, c] = dims2(logits, 'softmaxHessianVec logits');
    sameSize(logits, r, 'softmaxHessianVec');
    const Z = f32(logits);
    const R = f32(r);
    const out = new Float32Array(b * c);
    const p = new Float64Array(c);
    for (let i = 0; i < b; i++) {
      let mx = -Infinity;
      for (let j = 0; j < c; j++) mx = Math.max(mx, Z[i * c + j]!);
      let s = 0;
      for (let j = 0; j < c; j++) s += (p[j] = Math.exp(Z[i * c + j]! - mx));
      let pr = 0;
      for (let j = 0; j < c; j++) {
        p[j] = p[j]! / s;
        pr += p[j]! * R[i * c + j]!;
      }
      for (let j = 0; j < c; j++) out[i * c + j] = p[j]! * (R[i * c + j]! - pr);
    }
    return new JsTensor('f32', logits.shape, out);
  }

  slice(x: Tensor, offset: number, shape: readonly number[]): Tensor {
    const n = shapeSize(shape);
    if (!Number.isInteger(offset) || offset < 0 || offset + n > x.size) {
      fail('E_ARG', `slice [${offset}, ${offset + n}) is outside a tensor of ${x.size} elements`);
    }
    return new JsTensor('f32', [...shape], f32(x).slice(offset, offset + n));
  }

  copyInto(dst: Tensor, dstOffset: number, src: Tensor): void {
    if (!Number.isInteger(dstOffset) || dstOffset < 0 || dstOffset + src.size > dst.size) {
      fail('E_ARG', `copyInto [${dstOffset}, ${dstOffset + src.size}) is outside a tensor of ${dst.size} elements`);
    }
    f32(dst).set(f32(src), dstOffset);
  }

  async cldScores(input: CldKernelInput): Promise<Float32Array> {
    return cldScoresReference(input);
  }

  async sync(): Promise<void> {}
  dispose(): void {}
}
