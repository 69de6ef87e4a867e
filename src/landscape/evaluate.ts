/**
 * Loss and accuracy of many points of an affine family of weights, w(c) = w₀ + Σ_k c_k·d_k
 * (a 1-D or 2-D slice, a line between two models, a Bézier curve written as w₁ + a(t)(θ − w₁) +
 * b(t)(w₂ − w₁)), over a data set — MANY POINTS PER DISPATCH.
 *
 * The usual way (Li et al.'s `loss-landscape`, the `loss-landscapes` package) loads each point's
 * weights into the model and runs a forward pass over the data, one point at a time. Here (an MLP
 * to fix ideas; convolutions below):
 *
 *  1. First layer, by linearity (exact in real arithmetic; float32 rounds differently): the
 *     pre-activations of every point are X(W₀ + Σ c_k D_k)ᵀ + b(c) = Σ_j c_j (X W_jᵀ + b_j) with
 *     c_0 = 1, W_0 the weights. So K + 1 GEMMs [B, in] × [in, out] serve the whole grid, and each
 *     point costs one pass of K + 1 multiply-adds per output (`pointCombine`), not a GEMM. These
 *     K + 1 "basis activations" are kept for all batches when they fit the memory budget.
 *  2. Every later linear layer: the P points' weights are made on the device at once
 *     (`pointCombine` of the J = K + 1 basis tensors, [P, out, in]) and one `batchedMatmul`
 *     runs the P GEMMs [B, in] × [in, out] of the chunk — P points per dispatch, no host round trip.
 *     Activations run once over the [P, B, width] block.
 *  3. The logits [P, B, C] come back once per chunk; loss (log-sum-exp − z_y, float64) and
 *     accuracy (first maximum wins) are summed on the host.
 *
 * For 784-512-512-10 the first layer is 60 % of a forward pass's multiply-adds, so (1) alone cuts
 * the work per point by 2.5×; (2) keeps the GEMMs large. Convolutional models take the same path:
 * a first conv layer is linear in its weights as well; pooling, flatten and activations run once
 * over the chunk's [P·B, …] block; a conv layer after the first runs point by point inside the
 * chunk (no batched convolution). `evaluateOneByOne` — the model's own forward per point — is the
 * reference the batched path is tested against, and the benchmark's baseline.
 */
import type { Backend, Tensor } from '../backends/backend.js';
import { fail } from '../errors.js';
import { type ModelDescription, type ParameterLayer, hasParameters, isActivation, isPool, weightShape } from '../model/description.js';
import { type Mlp, convGeometry, parameterSpecs, poolGeometry } from '../model/mlp.js';
import type { Weights } from './directions.js';

/** Samples on the device: inputs [count, features] in batches, labels on the host. */
export interface DeviceBatches {
  batches: { x: Tensor; labels: Int32Array }[];
  count: number;
}

/** The affine family: the base weights and K directions (same keys and sizes). */
export interface Family {
  base: Weights;
  dirs: Weights[];
}

export interface PointResults {
  /** Mean cross-entropy of each point. */
  loss: Float64Array;
  /** Fraction of samples whose argmax (first maximum) is the label. */
  accuracy: Float64Array;
}

export interface EvaluateOptions {
  /** Points per dispatch (default: as many as `memoryBytes` allows, at most 64). */
  points?: number;
  /** Device memory the batched path may use for activations and per-point weights (default 512 MiB). */
  memoryBytes?: number;
  /** Called after every chunk with the number of points done. */
  onProgress?: (done: number) => void;
  /** Force the one-point-at-a-time path (the reference; the benchmark's baseline). */
  oneByOne?: boolean;
}

/** Host loss sum and correct count of logits [rows, C] against labels. */
export function scoreLogits(logits: Float32Array, labels: Int32Array, C: number, rowOffset = 0, rows = labels.length): { loss: number; correct: number } {
  let loss = 0;
  let correct = 0;
  for (let r = 0; r < rows; r++) {
    const o = (rowOffset + r) * C;
    let max = -Infinity;
    let arg = 0;
    for (let c = 0; c < C; c++) {
      const v = logits[o + c]!;
      if (v > max) {
        max = v;
        arg = c;
      }
    }
    let s = 0;
    for (let c = 0; c < C; c++) s += Math.exp(logits[o + c]! - max);
    const y = labels[r]!;
    loss += Math.log(s) + max - logits[o + y]!;
    if (arg === y) correct++;
  }
  return { loss, correct };
}

/**
 * Whether the batched path serves this model: any sequential model of linear, conv2d, pooling,
 * flatten and activation layers whose last layer with parameters is linear (the logits).
 */
export function batchable(d: ModelDescription): boolean {
  const ok = d.layers.every((l) => l.type === 'linear' || l.type === 'conv2d' || l.type === 'flatten' || isPool(l) || isActivation(l));
  const last = [...d.layers].reverse().find((l) => l.type !== 'flatten');
  return ok && last?.type === 'linear';
}

/** w(c) on the host, float64 sums rounded once to float32. */
export function pointWeights(f: Family, c: ArrayLike<number>): Weights {
  const out: Weights = new Map();
  for (const [name, w] of f.base) {
    const v = new Float32Array(w.length);
    const ds = f.dirs.map((d) => d.get(name)!);
    for (let i = 0; i < w.length; i++) {
      let s = w[i]!;
      for (let k = 0; k < ds.length; k++) s += c[k]! * ds[k]![i]!;
      v[i] = s;
    }
    out.set(name, v);
  }
  return out;
}

/**
 * The one-point-at-a-time reference: for each point, `model.setWeights(w(c))` and a forward pass
 * per batch (the model's own code). `coefs` is [P, K] row-major. The model's weights are left at
 * the last point (callers restore them).
 */
export async function evaluateOneByOne(model: Mlp, family: Family, coefs: Float64Array, data: DeviceBatches, onProgress?: (done: number) => void): Promise<PointResults> {
  const K = family.dirs.length;
  const P = coefs.length / Math.max(K, 1);
  const C = model.shapes.at(-1)![0]!;
  const loss = new Float64Array(P);
  const accuracy = new Float64Array(P);
  for (let p = 0; p < P; p++) {
    model.setWeights(pointWeights(family, coefs.subarray(p * K, (p + 1) * K)));
    let l = 0;
    let a = 0;
    for (const b of data.batches) {
      const logits = model.forward(b.x);
      const host = await model.backend.read(logits);
      model.backend.free(logits);
      const s = scoreLogits(host, b.labels, C);
      l += s.loss;
      a += s.correct;
    }
    loss[p] = l / data.count;
    accuracy[p] = a / data.count;
    onProgress?.(p + 1);
  }
  return { loss, accuracy };
}

/**
 * The batched evaluator of one model and family (device basis tensors made once, reused per chunk).
 * Convolutions after the first layer with parameters run point by point inside a chunk (there is
 * no batched convolution); everything else runs once over the chunk's [P, B, …] block.
 */
export class BatchedEvaluator {
  private readonly b: Backend;
  private readonly layers: ModelDescription['layers'];
  /** Per layer with parameters (module index): basis weights [J, …weight shape] and biases [J, out]. */
  private readonly basis = new Map<number, { w: Tensor; bias?: Tensor; wShape: number[] }>();
  private readonly first: number;
  /** Basis outputs of the first layer with parameters per batch, [J, B, …] (when cached). */
  private firstCache: (Tensor | undefined)[] = [];
  private readonly cacheFirst: boolean;
  readonly pointsPerDispatch: number;
  private readonly J: number;
  private readonly C: number;
  /** Per-sample size of every layer's input (the last entry: the logits). */
  private readonly sizes: number[];

  constructor(
    readonly model: Mlp,
    readonly family: Family,
    readonly data: DeviceBatches,
    options: EvaluateOptions = {},
  ) {
    const d = model.description;
    if (!batchable(d)) fail('E_INTERNAL', 'BatchedEvaluator needs a sequential model whose last layer with parameters is linear');
    this.b = model.backend;
    this.layers = d.layers;
    this.J = family.dirs.length + 1;
    this.C = model.shapes.at(-1)![0]!;
    this.sizes = model.shapes.map((s) => s.reduce((x, y) => x * y, 1));
    this.first = d.layers.findIndex(hasParameters);
    const budget = options.memoryBytes ?? 512 * 2 ** 20;
    const maxB = Math.max(...data.batches.map((x) => x.x.shape[0]!));
    const maxAct = Math.max(...this.sizes.slice(this.first + 1));
    const firstOut = this.sizes[this.first + 1]!;
    const perPointWeights = parameterSpecs(d).filter((s) => s.layer !== this.first).reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
    // Two live activation blocks of the widest layer, the logits and the point's later-layer weights.
    const perPoint = 4 * (2 * maxB * maxAct + maxB * this.C + perPointWeights);
    const firstBytes = 4 * this.J * data.count * firstOut;
    this.cacheFirst = firstBytes <= budget / 2;
    const room = Math.max(budget - (this.cacheFirst ? firstBytes : 4 * this.J * maxB * firstOut), perPoint);
    this.pointsPerDispatch = Math.max(1, Math.min(options.points ?? 64, Math.floor(room / perPoint)));
    const specs = parameterSpecs(d);
    for (let i = 0; i < d.layers.length; i++) {
      const l = d.layers[i]!;
      if (!hasParameters(l)) continue;
      const ws = specs.find((s) => s.layer === i && s.kind === 'weight')!;
      const bs = specs.find((s) => s.layer === i && s.kind === 'bias');
      const stack = (name: string, n: number): Float32Array => {
        const out = new Float32Array(this.J * n);
        out.set(family.base.get(name)!, 0);
        family.dirs.forEach((dir, k) => out.set(dir.get(name)!, (k + 1) * n));
        return out;
      };
      const wShape = weightShape(l as ParameterLayer);
      const nW = wShape.reduce((x, y) => x * y, 1);
      this.basis.set(i, {
        w: this.b.upload(stack(ws.name, nW), [this.J, ...wShape]),
        bias: bs ? this.b.upload(stack(bs.name, l.out), [this.J, l.out]) : undefined,
        wShape,
      });
    }
    this.firstCache = new Array(data.batches.length).fill(undefined);
  }

  /** [J, B, …] = layer_first(X; W_j, b_j) for every basis tensor j of the first layer with parameters. */
  private firstBasis(batch: number): Tensor {
    const hit = this.firstCache[batch];
    if (hit) return hit;
    const b = this.b;
    const { x } = this.data.batches[batch]!;
    const B = x.shape[0]!;
    const L = this.basis.get(this.first)!;
    const l = this.layers[this.first]! as ParameterLayer;
    const outSize = this.sizes[this.first + 1]!;
    const nW = L.wShape.reduce((p, q) => p * q, 1);
    const out = b.zeros([this.J, B, ...this.model.shapes[this.first + 1]!]);
    // The layers before the first with parameters (flatten, activations, pooling) run once.
    let h = x;
    for (let i = 0; i < this.first; i++) h = this.replace(h, this.plain(i, h, B), x);
    const img = l.type === 'conv2d' ? b.slice(h, 0, [B, ...this.model.shapes[this.first]!]) : h;
    try {
      for (let j = 0; j < this.J; j++) {
        const w = b.slice(L.w, j * nW, L.wShape);
        const bj = L.bias ? b.slice(L.bias, j * l.out, [l.out]) : undefined;
        let z: Tensor;
        if (l.type === 'conv2d') z = b.conv2d(img, w, bj, convGeometry(l));
        else {
          z = b.matmul(img, w, false, true);
          if (bj) z = this.replace(z, b.addBias(z, bj));
        }
        b.free(w);
        if (bj) b.free(bj);
        b.copyInto(out, j * B * outSize, z);
        b.free(z);
      }
    } finally {
      if (img !== h) b.free(img);
      if (h !== x) b.free(h);
    }
    if (this.cacheFirst) this.firstCache[batch] = out;
    return out;
  }

  /** `next`, freeing `prev` unless it is `keep` (the caller's input). */
  private replace(prev: Tensor, next: Tensor, keep?: Tensor): Tensor {
    if (prev !== keep && prev !== next) this.b.free(prev);
    return next;
  }

  /** A layer without parameters on a block of rows [R, …] (R = B or P·B): a new tensor. */
  private plain(i: number, h: Tensor, rows: number): Tensor {
    const b = this.b;
    const l = this.layers[i]!;
    const shape = this.model.shapes[i]!;
    if (l.type === 'flatten') return b.slice(h, 0, [rows, this.sizes[i]!]);
    if (isActivation(l)) return b.activation(l.type, h);
    if (isPool(l)) {
      const img = h.shape.length === 4 && h.shape[0] === rows ? h : b.slice(h, 0, [rows, ...shape]);
      try {
        if (l.type === 'avgpool2d') return b.avgPool2d(img, poolGeometry(l));
        const r = b.maxPool2d(img, poolGeometry(l));
        b.free(r.argmax);
        return r.y;
      } finally {
        if (img !== h) b.free(img);
      }
    }
    return fail('E_INTERNAL', `layer ${i} (${l.type}) has parameters`);
  }

  /** Loss and accuracy of the points coefs [P, K] (row-major), in chunks of pointsPerDispatch. */
  async evaluate(coefs: Float64Array, onProgress?: (done: number) => void): Promise<PointResults> {
    const K = this.J - 1;
    const P = coefs.length / K;
    const loss = new Float64Array(P);
    const accuracy = new Float64Array(P);
    for (let p0 = 0; p0 < P; p0 += this.pointsPerDispatch) {
      const pc = Math.min(this.pointsPerDispatch, P - p0);
      const r = await this.chunk(coefs.subarray(p0 * K, (p0 + pc) * K), pc);
      loss.set(r.loss, p0);
      accuracy.set(r.accuracy, p0);
      onProgress?.(p0 + pc);
    }
    return { loss, accuracy };
  }

  private async chunk(coefs: Float64Array, P: number): Promise<PointResults> {
    const b = this.b;
    const K = this.J - 1;
    const full = new Float32Array(P * this.J);
    for (let p = 0; p < P; p++) {
      full[p * this.J] = 1;
      for (let k = 0; k < K; k++) full[p * this.J + 1 + k] = coefs[p * K + k]!;
    }
    const coef = b.upload(full, [P, this.J]);
    // Per-point weights of the later linear layers: made once per chunk, used by every batch.
    const pointW = new Map<number, { w: Tensor; bias?: Tensor }>();
    const tensors: Tensor[] = [coef];
    try {
      for (const [i, L] of this.basis) {
        if (i === this.first) continue;
        const w = b.pointCombine(coef, L.w);
        const bias = L.bias ? b.pointCombine(coef, L.bias) : undefined;
        tensors.push(w, ...(bias ? [bias] : []));
        pointW.set(i, { w, bias });
      }
      const lossSum = new Float64Array(P);
      const correct = new Float64Array(P);
      for (let bi = 0; bi < this.data.batches.length; bi++) {
        const { labels } = this.data.batches[bi]!;
        const B = labels.length;
        const basis = this.firstBasis(bi);
        // An activation right after a layer with parameters runs inside its op (one pass fewer).
        const fused = (i: number) => {
          const next = this.layers[i + 1];
          return next && isActivation(next) ? next.type : undefined;
        };
        let act = fused(this.first);
        let h = b.pointCombine(coef, basis, act); // [P, B, …]
        if (!this.cacheFirst) b.free(basis);
        try {
          for (let i = this.first + (act ? 2 : 1); i < this.layers.length; i++) {
            const l = this.layers[i]!;
            if (l.type === 'linear') {
              const pw = pointW.get(i)!;
              act = fused(i);
              const x = h.shape.length === 3 && h.shape[2] === l.in ? h : b.slice(h, 0, [P, B, l.in]);
              if (x !== h) h = this.replace(h, x);
              h = this.replace(h, b.batchedMatmul(h, pw.w, pw.bias, act));
              if (act) i++;
            } else if (l.type === 'conv2d') {
              h = this.replace(h, this.convPoints(i, h, pointW.get(i)!, P, B));
            } else if (l.type !== 'flatten') {
              h = this.replace(h, this.plain(i, h, P * B));
            }
          }
          const logits = await b.read(h);
          for (let p = 0; p < P; p++) {
            const s = scoreLogits(logits, labels, this.C, p * B, B);
            lossSum[p] = lossSum[p]! + s.loss;
            correct[p] = correct[p]! + s.correct;
          }
        } finally {
          b.free(h);
        }
      }
      const n = this.data.count;
      return { loss: lossSum.map((v) => v / n), accuracy: correct.map((v) => v / n) };
    } finally {
      for (const t of tensors) b.free(t);
    }
  }

  /** A convolution with each point's own weights: point by point over the chunk's block. */
  private convPoints(i: number, h: Tensor, pw: { w: Tensor; bias?: Tensor }, P: number, B: number): Tensor {
    const b = this.b;
    const l = this.layers[i] as Extract<ParameterLayer, { type: 'conv2d' }>;
    const inShape = this.model.shapes[i]!;
    const inSize = this.sizes[i]!;
    const outSize = this.sizes[i + 1]!;
    const wShape = this.basis.get(i)!.wShape;
    const nW = wShape.reduce((x, y) => x * y, 1);
    const out = b.zeros([P, B, ...this.model.shapes[i + 1]!]);
    for (let p = 0; p < P; p++) {
      const x = b.slice(h, p * B * inSize, [B, ...inShape]);
      const w = b.slice(pw.w, p * nW, wShape);
      const bias = pw.bias ? b.slice(pw.bias, p * l.out, [l.out]) : undefined;
      const y = b.conv2d(x, w, bias, convGeometry(l));
      b.copyInto(out, p * B * outSize, y);
      for (const t of [x, w, y, ...(bias ? [bias] : [])]) b.free(t);
    }
    return out;
  }

  dispose(): void {
    for (const L of this.basis.values()) {
      this.b.free(L.w);
      if (L.bias) this.b.free(L.bias);
    }
    for (const t of this.firstCache) if (t) this.b.free(t);
    this.firstCache = [];
  }
}

/**
 * Loss and accuracy at every point of coefs [P, K]: batched when the model allows it (and not
 * `oneByOne`), else one point at a time. The model's own weights are restored afterwards.
 */
export async function evaluatePoints(model: Mlp, family: Family, coefs: Float64Array, data: DeviceBatches, options: EvaluateOptions = {}): Promise<PointResults> {
  if (family.dirs.length === 0) fail('E_ARG', 'a family needs at least one direction');
  if (!options.oneByOne && batchable(model.description)) {
    const ev = new BatchedEvaluator(model, family, data, options);
    try {
      return await ev.evaluate(coefs, options.onProgress);
    } finally {
      ev.dispose();
    }
  }
  const saved = new Map((await model.toHost()).map((t) => [t.name, t.data]));
  try {
    return await evaluateOneByOne(model, family, coefs, data, options.onProgress);
  } finally {
    model.setWeights(saved);
  }
}

/** Uploads host samples as device batches of at most `batchSize` rows. */
export function uploadData(backend: Backend, inputs: Float32Array, labels: Int32Array, count: number, features: number, batchSize = 4096): DeviceBatches {
  const batches: DeviceBatches['batches'] = [];
  for (let s = 0; s < count; s += batchSize) {
    const e = Math.min(count, s + batchSize);
    batches.push({ x: backend.upload(inputs.subarray(s * features, e * features), [e - s, features]), labels: labels.subarray(s, e) });
  }
  return { batches, count };
}

export function freeData(backend: Backend, d: DeviceBatches): void {
  for (const b of d.batches) backend.free(b.x);
}
