/**
 * The `js` backend: plain TypeScript, float64 accumulation everywhere.
 * It is the oracle every other backend is parity-tested against, so it stays
 * simple and obviously right rather than fast.
 */
import { fail } from '../../errors.js';
import { type Backend, type BackendInfo, type DType, type Tensor, shapeSize } from '../backend.js';
import { KernelBackend, type KernelTable, type TensorState } from '../dispatch.js';
import { checkShape, checkUpload } from '../ops.js';
import { bisimulationReference } from './bisim.js';
import { guProjectReference } from './gu.js';
import { batchedMatmulReference, pointCombineReference } from './landscape.js';
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

// Kernels receive tensors the registry has checked (this backend's, right dtype): plain casts.
const f32 = (t: Tensor): Float32Array => (t as JsTensor).data as Float32Array;
const i32 = (t: Tensor): Int32Array => (t as JsTensor).data as Int32Array;

export class JsBackend extends KernelBackend implements Backend {
  readonly name = 'js' as const;

  info(): BackendInfo {
    return { name: 'js', description: 'plain TypeScript reference (float64 accumulation, single thread)', threads: 1 };
  }

  protected tensorState(t: Tensor): TensorState {
    return t instanceof JsTensor ? 'live' : 'foreign';
  }

  upload(data: Float32Array, shape: readonly number[]): Tensor {
    return new JsTensor('f32', checkUpload(data, Float32Array, shape, 'upload'), Float32Array.from(data));
  }
  uploadInt(data: Int32Array, shape: readonly number[]): Tensor {
    return new JsTensor('i32', checkUpload(data, Int32Array, shape, 'uploadInt'), Int32Array.from(data));
  }
  zeros(shape: readonly number[]): Tensor {
    const s = checkShape(shape, 'zeros');
    return new JsTensor('f32', s, new Float32Array(shapeSize(s)));
  }
  async read(t: Tensor): Promise<Float32Array> {
    this.checkTensor(t, { dtype: 'f32' }, 'read');
    return Float32Array.from(f32(t));
  }
  async readInt(t: Tensor): Promise<Int32Array> {
    this.checkTensor(t, { dtype: 'i32' }, 'readInt');
    return Int32Array.from(i32(t));
  }
  free(_t: Tensor): void {
    /* garbage-collected */
  }

  // Arguments arrive checked by the op registry (../ops.ts); these are the reference kernels.
  protected readonly kernels: KernelTable = {
    matmul: ({ a, b }, { m, n, k, transA, transB }) => {
      const A = f32(a);
      const B = f32(b);
      const ac = a.shape[1]!;
      const bc = b.shape[1]!;
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
    },

    addBias: ({ x, bias }, { m, n }) => {
      const X = f32(x);
      const b = f32(bias);
      const out = new Float32Array(m * n);
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[i * n + j] = X[i * n + j]! + b[j]!;
      return new JsTensor('f32', x.shape, out);
    },

    activation: ({ x }, { kind }) => {
      const X = f32(x);
      const out = new Float32Array(X.length);
      for (let i = 0; i < X.length; i++) out[i] = activationValue(kind, X[i]!);
      return new JsTensor('f32', x.shape, out);
    },

    activationGrad: ({ x, gy }, { kind }) => {
      const X = f32(x);
      const G = f32(gy);
      const out = new Float32Array(X.length);
      for (let i = 0; i < X.length; i++) out[i] = G[i]! * activationDerivative(kind, X[i]!);
      return new JsTensor('f32', x.shape, out);
    },

    softmaxCrossEntropy: ({ logits, labels }, { b, c }) => {
      const Z = f32(logits);
      const Y = i32(labels);
      const loss = new Float32Array(b);
      const grad = new Float32Array(b * c);
      for (let i = 0; i < b; i++) {
        const y = Y[i]!;
        if (y < 0 || y >= c) fail('E_LABEL', `softmaxCrossEntropy: label ${y} of row ${i} is outside [0, ${c})`, { field: 'labels' });
        let mx = -Infinity;
        for (let j = 0; j < c; j++) mx = Math.max(mx, Z[i * c + j]!);
        let s = 0;
        for (let j = 0; j < c; j++) s += Math.exp(Z[i * c + j]! - mx);
        loss[i] = Math.log(s) + mx - Z[i * c + y]!;
        for (let j = 0; j < c; j++) grad[i * c + j] = Math.exp(Z[i * c + j]! - mx) / s - (j === y ? 1 : 0);
      }
      return { loss: new JsTensor('f32', [b], loss), grad: new JsTensor('f32', [b, c], grad) };
    },

    sumRows: ({ x }, { m, n }) => {
      const X = f32(x);
      const acc = new Float64Array(n);
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) acc[j]! += X[i * n + j]!;
      return new JsTensor('f32', [n], Float32Array.from(acc));
    },

    sum: ({ x }) => {
      const X = f32(x);
      let s = 0;
      for (let i = 0; i < X.length; i++) s += X[i]!;
      return new JsTensor('f32', [1], Float32Array.of(s));
    },

    axpy: ({ alpha, x, y }) => {
      const X = f32(x);
      const Y = f32(y);
      const out = new Float32Array(X.length);
      for (let i = 0; i < X.length; i++) out[i] = Y[i]! + alpha * X[i]!;
      return new JsTensor('f32', y.shape, out);
    },

    scale: ({ alpha, x }) => {
      const X = f32(x);
      const out = new Float32Array(X.length);
      for (let i = 0; i < X.length; i++) out[i] = alpha * X[i]!;
      return new JsTensor('f32', x.shape, out);
    },

    dot: ({ x, y }) => {
      const X = f32(x);
      const Y = f32(y);
      let s = 0;
      for (let i = 0; i < X.length; i++) s += X[i]! * Y[i]!;
      return new JsTensor('f32', [1], Float32Array.of(s));
    },

    gatherRows: ({ x, idx }, { m, n, k }) => {
      const X = f32(x);
      const I = i32(idx);
      const out = new Float32Array(k * n);
      for (let r = 0; r < k; r++) {
        const src = I[r]!;
        if (src < 0 || src >= m) fail('E_ARG', `gatherRows: index ${src} is outside [0, ${m})`);
        out.set(X.subarray(src * n, src * n + n), r * n);
      }
      return new JsTensor('f32', [k, n], out);
    },

    sgdStep: ({ param, grad, velocity, h }) => {
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
    },

    adamStep: ({ param, grad, m, v, h }) => {
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
    },

    adagradStep: ({ param, grad, accum, h }) => {
      const P = f32(param);
      const G = f32(grad);
      const A = f32(accum);
      const clr = h.lr / (1 + (h.step - 1) * h.lrDecay);
      for (let i = 0; i < P.length; i++) {
        const g = G[i]! + h.weightDecay * P[i]!;
        const a = A[i]! + g * g;
        A[i] = a;
        P[i] = P[i]! - (clr * g) / (Math.sqrt(a) + h.eps);
      }
    },

    classpStep: ({ param, grad, accum, h }) => {
      const P = f32(param);
      const G = f32(grad);
      const A = f32(accum);
      for (let i = 0; i < P.length; i++) {
        const g = G[i]!;
        const a = A[i]! + Math.abs(g) ** h.power;
        A[i] = a;
        if (g * g > h.threshold) P[i] = P[i]! - (h.lr * g) / (h.eps + a) ** (1 / h.power);
      }
    },

    classpGate: ({ grad, h }) => {
      const G = f32(grad);
      const M = new Float32Array(G.length);
      for (let i = 0; i < G.length; i++) M[i] = G[i]! * G[i]! > h.threshold ? 1 : 0;
      return new JsTensor('f32', grad.shape, M);
    },

    pointCombine: ({ coef, basis, activation }, { p, j, s }) => new JsTensor('f32', [p, ...basis.shape.slice(1)], pointCombineReference(f32(coef), f32(basis), p, j, s, activation)),
    batchedMatmul: ({ a, b, bias, activation }, { p, m, n, k }) => new JsTensor('f32', [p, m, n], batchedMatmulReference(f32(a), f32(b), bias ? f32(bias) : undefined, p, m, n, k, activation)),
    guProject: ({ g, basis, metric, first, count }, { k }) =>
      new JsTensor('f32', g.shape, Float32Array.from(guProjectReference(f32(g), f32(basis), k, metric ? f32(metric) : undefined, first, count))),
    bisimulationLoss: ({ z, reward, mu, sigma }, { b, d, e, gamma, perm }) => {
      const r = bisimulationReference(f32(z), f32(reward), f32(mu), sigma ? f32(sigma) : undefined, perm, b, d, e, gamma);
      return { loss: new JsTensor('f32', [1], Float32Array.of(r.loss)), terms: new JsTensor('f32', [b], r.terms), grad: new JsTensor('f32', [b, d], r.grad) };
    },

    guAdamStep: ({ param, dir, v, metric, h }) => {
      const P = f32(param);
      const D = f32(dir);
      const V = f32(v);
      const M = f32(metric);
      for (let i = 0; i < P.length; i++) {
        const d = D[i]!;
        P[i] = P[i]! - h.lr * M[i]! * d;
        const vi = h.beta2 * V[i]! + (1 - h.beta2) * d * d;
        V[i] = vi;
        M[i] = 1 / (Math.sqrt(vi) + h.eps);
      }
    },

    mul: ({ x, y }) => {
      const X = f32(x);
      const Y = f32(y);
      const out = new Float32Array(X.length);
      for (let i = 0; i < X.length; i++) out[i] = X[i]! * Y[i]!;
      return new JsTensor('f32', x.shape, out);
    },

    activationRGrad: ({ z, rz, ga, rga }, { kind }) => {
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
    },

    softmaxHessianVec: ({ logits, r }, { b, c }) => {
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
    },

    slice: ({ x }, { offset, shape, n }) => new JsTensor('f32', shape, f32(x).slice(offset, offset + n)),

    copyInto: ({ dst, src }, { offset }) => {
      f32(dst).set(f32(src), offset);
    },

    cldScores: async ({ input }) => cldScoresReference(input),

    // ---- convolution and pooling: direct loops over the definitions, float64 sums ----------------

    conv2d: ({ x, weight, bias }, p) => {
      const X = f32(x);
      const Wt = f32(weight);
      const B = bias ? f32(bias) : undefined;
      const { n, c, h, w, o, kh, kw, oh, ow, strideH, strideW, padH, padW } = p;
      const Y = new Float32Array(n * o * oh * ow);
      for (let b = 0; b < n; b++) {
        for (let oc = 0; oc < o; oc++) {
          for (let oy = 0; oy < oh; oy++) {
            for (let ox = 0; ox < ow; ox++) {
              let s = B ? B[oc]! : 0;
              for (let ic = 0; ic < c; ic++) {
                for (let ky = 0; ky < kh; ky++) {
                  const iy = oy * strideH - padH + ky;
                  if (iy < 0 || iy >= h) continue;
                  for (let kx = 0; kx < kw; kx++) {
                    const ix = ox * strideW - padW + kx;
                    if (ix < 0 || ix >= w) continue;
                    s += X[((b * c + ic) * h + iy) * w + ix]! * Wt[((oc * c + ic) * kh + ky) * kw + kx]!;
                  }
                }
              }
              Y[((b * o + oc) * oh + oy) * ow + ox] = s;
            }
          }
        }
      }
      return new JsTensor('f32', [n, o, oh, ow], Y);
    },

    conv2dInputGrad: ({ gy, weight }, p) => {
      const G = f32(gy);
      const Wt = f32(weight);
      const { n, c, h, w, o, kh, kw, oh, ow, strideH, strideW, padH, padW } = p;
      const GX = new Float32Array(n * c * h * w);
      // gx[b,ic,iy,ix] = Σ gy[b,oc,oy,ox]·w[oc,ic,ky,kx] over iy = oy·s − pad + ky (a gather).
      for (let b = 0; b < n; b++) {
        for (let ic = 0; ic < c; ic++) {
          for (let iy = 0; iy < h; iy++) {
            for (let ix = 0; ix < w; ix++) {
              let s = 0;
              for (let ky = 0; ky < kh; ky++) {
                const ty = iy + padH - ky;
                if (ty < 0 || ty % strideH !== 0 || ty / strideH >= oh) continue;
                const oy = ty / strideH;
                for (let kx = 0; kx < kw; kx++) {
                  const tx = ix + padW - kx;
                  if (tx < 0 || tx % strideW !== 0 || tx / strideW >= ow) continue;
                  const ox = tx / strideW;
                  for (let oc = 0; oc < o; oc++) {
                    s += G[((b * o + oc) * oh + oy) * ow + ox]! * Wt[((oc * c + ic) * kh + ky) * kw + kx]!;
                  }
                }
              }
              GX[((b * c + ic) * h + iy) * w + ix] = s;
            }
          }
        }
      }
      return new JsTensor('f32', [n, c, h, w], GX);
    },

    conv2dWeightGrad: ({ x, gy }, p) => {
      const X = f32(x);
      const G = f32(gy);
      const { n, c, h, w, o, kh, kw, oh, ow, strideH, strideW, padH, padW } = p;
      const GW = new Float32Array(o * c * kh * kw);
      for (let oc = 0; oc < o; oc++) {
        for (let ic = 0; ic < c; ic++) {
          for (let ky = 0; ky < kh; ky++) {
            for (let kx = 0; kx < kw; kx++) {
              let s = 0;
              for (let b = 0; b < n; b++) {
                for (let oy = 0; oy < oh; oy++) {
                  const iy = oy * strideH - padH + ky;
                  if (iy < 0 || iy >= h) continue;
                  for (let ox = 0; ox < ow; ox++) {
                    const ix = ox * strideW - padW + kx;
                    if (ix < 0 || ix >= w) continue;
                    s += G[((b * o + oc) * oh + oy) * ow + ox]! * X[((b * c + ic) * h + iy) * w + ix]!;
                  }
                }
              }
              GW[((oc * c + ic) * kh + ky) * kw + kx] = s;
            }
          }
        }
      }
      return new JsTensor('f32', [o, c, kh, kw], GW);
    },

    channelSum: ({ gy }, { n, c, hw }) => {
      const G = f32(gy);
      const out = new Float32Array(c);
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let b = 0; b < n; b++) for (let i = 0; i < hw; i++) s += G[(b * c + ch) * hw + i]!;
        out[ch] = s;
      }
      return new JsTensor('f32', [c], out);
    },

    maxPool2d: ({ x }, p) => {
      const X = f32(x);
      const { n, c, h, w, oh, ow, kernelH, kernelW, strideH, strideW, padH, padW } = p;
      const Y = new Float32Array(n * c * oh * ow);
      const A = new Int32Array(n * c * oh * ow);
      for (let pl = 0; pl < n * c; pl++) {
        for (let oy = 0; oy < oh; oy++) {
          const y0 = Math.max(oy * strideH - padH, 0);
          const y1 = Math.min(oy * strideH - padH + kernelH, h);
          for (let ox = 0; ox < ow; ox++) {
            const x0 = Math.max(ox * strideW - padW, 0);
            const x1 = Math.min(ox * strideW - padW + kernelW, w);
            // PyTorch's CPU kernel: start at the window's first input with −inf; take v when v > max or v is NaN.
            let best = -Infinity;
            let at = y0 * w + x0;
            for (let iy = y0; iy < y1; iy++) {
              for (let ix = x0; ix < x1; ix++) {
                const v = X[pl * h * w + iy * w + ix]!;
                if (v > best || Number.isNaN(v)) {
                  best = v;
                  at = iy * w + ix;
                }
              }
            }
            Y[(pl * oh + oy) * ow + ox] = best;
            A[(pl * oh + oy) * ow + ox] = pl * h * w + at;
          }
        }
      }
      return { y: new JsTensor('f32', [n, c, oh, ow], Y), argmax: new JsTensor('i32', [n, c, oh, ow], A) };
    },

    maxPool2dBackward: ({ gy, argmax }, { n, c, h, w, oh, ow }) => {
      const G = f32(gy);
      const A = i32(argmax);
      const acc = new Float64Array(n * c * h * w);
      const plane = h * w;
      for (let pl = 0; pl < n * c; pl++) {
        for (let i = pl * oh * ow; i < (pl + 1) * oh * ow; i++) {
          const at = A[i]!;
          if (at < pl * plane || at >= (pl + 1) * plane) {
            fail('E_ARG', `maxPool2dBackward: argmax[${i}] = ${at} is outside its (n, c) plane [${pl * plane}, ${(pl + 1) * plane})`);
          }
          acc[at]! += G[i]!;
        }
      }
      return new JsTensor('f32', [n, c, h, w], Float32Array.from(acc));
    },

    gatherFlat: ({ x, idx }, { n, k }) => {
      const X = f32(x);
      const I = i32(idx);
      const out = new Float32Array(k);
      for (let i = 0; i < k; i++) {
        const at = I[i]!;
        if (at < 0 || at >= n) fail('E_ARG', `gatherFlat: index ${at} (idx[${i}]) is outside [0, ${n})`);
        out[i] = X[at]!;
      }
      return new JsTensor('f32', idx.shape, out);
    },

    avgPool2d: ({ x }, p) => {
      const X = f32(x);
      const { n, c, h, w, oh, ow, kernelH, kernelW, strideH, strideW, padH, padW } = p;
      const Y = new Float32Array(n * c * oh * ow);
      const div = kernelH * kernelW;
      for (let pl = 0; pl < n * c; pl++) {
        for (let oy = 0; oy < oh; oy++) {
          for (let ox = 0; ox < ow; ox++) {
            let s = 0;
            for (let iy = Math.max(oy * strideH - padH, 0); iy < Math.min(oy * strideH - padH + kernelH, h); iy++) {
              for (let ix = Math.max(ox * strideW - padW, 0); ix < Math.min(ox * strideW - padW + kernelW, w); ix++) s += X[pl * h * w + iy * w + ix]!;
            }
            Y[(pl * oh + oy) * ow + ox] = s / div;
          }
        }
      }
      return new JsTensor('f32', [n, c, oh, ow], Y);
    },

    avgPool2dBackward: ({ gy }, p) => {
      const G = f32(gy);
      const { n, c, h, w, oh, ow, kernelH, kernelW, strideH, strideW, padH, padW } = p;
      const GX = new Float32Array(n * c * h * w);
      const div = kernelH * kernelW;
      // Each input gathers from the windows that contain it: oy·s − pad ≤ iy < oy·s − pad + k.
      for (let pl = 0; pl < n * c; pl++) {
        for (let iy = 0; iy < h; iy++) {
          for (let ix = 0; ix < w; ix++) {
            let s = 0;
            for (let oy = 0; oy < oh; oy++) {
              const y0 = oy * strideH - padH;
              if (iy < y0 || iy >= y0 + kernelH) continue;
              for (let ox = 0; ox < ow; ox++) {
                const x0 = ox * strideW - padW;
                if (ix >= x0 && ix < x0 + kernelW) s += G[(pl * oh + oy) * ow + ox]!;
              }
            }
            GX[pl * h * w + iy * w + ix] = s / div;
          }
        }
      }
      return new JsTensor('f32', [n, c, h, w], GX);
    },
  };

  async sync(): Promise<void> {}
  dispose(): void {}
}
