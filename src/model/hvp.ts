/**
 * Exact curvature-vector products of the MEAN cross-entropy of a sequential model (an MLP, or a
 * CNN: conv2d is bilinear in input and weight, max pooling locally linear, avg pooling and flatten
 * linear, so each has its R-forward and R-backward), by Pearlmutter's
 * R-operator: one ordinary forward (and, for the Hessian, one ordinary backward), then an
 * R-forward pass (the directional derivative of every activation along v) and an R-backward pass
 * (the directional derivative of every gradient). No finite differences.
 *
 *   Hessian:  H v  = R{∇θ L}            (R-forward, softmax Hessian at the logits, R-backward)
 *   GGN:      G v  = Jᵀ H_loss J v       (R-forward gives J v at the logits; the softmax Hessian is
 *                                         applied per sample; an ordinary backward of that gives Jᵀ·)
 *
 * Everything is composed from the Backend contract's kernels, so it runs on every backend, and
 * every intermediate tensor is freed as soon as it is dead (webgpu pools buffers). A backend with
 * the optional fused product (Backend.mlpCurvatureProduct: native) gets one call per batch instead
 * for an MLP (a model without conv2d, pooling or flatten layers).
 *
 * Parameter-vector order: layer by layer, weight (row-major [out, in] or [out, in, kh, kw]) then bias, exactly the
 * order of the safetensors keys (`0.weight`, `0.bias`, `2.weight`, …). A product may be restricted
 * to some layers' parameters (a diagonal block of the curvature matrix); the vector then holds
 * only those layers' parameters, in the same order.
 */
import type { Backend, FusedCurvatureState, FusedMlpLayer, Tensor } from '../backends/backend.js';
import { fail } from '../errors.js';
import { hasParameters, isActivation, isLinear, isMlpDescription, type LinearLayer } from './description.js';
import type { ForwardCache, Mlp } from './mlp.js';

export type CurvatureKind = 'hessian' | 'ggn';

/**
 * Below this many multiply-adds per forward pass over all batches (~1–3 ms of product on 2 cores),
 * applyAsync() computes on the calling thread: the hop to a libuv worker and back costs more.
 */
const OFF_THREAD_MIN_WORK = 1 << 23;

/** One parameter tensor's place in a flat parameter vector. */
export interface ParameterBlock {
  /** `i.weight` or `i.bias` (the safetensors key). */
  name: string;
  /** Module index of the layer in the description. */
  layer: number;
  kind: 'weight' | 'bias';
  shape: number[];
  /** Offset of the first element in the flat vector. */
  offset: number;
  size: number;
  /** Index into `model.params`. */
  paramIndex: number;
}

/** Where each parameter sits in a flat vector over the chosen layers (all layers with parameters by default). */
export interface ParameterLayout {
  /** Length of the flat vector. */
  size: number;
  blocks: ParameterBlock[];
  /** Module indices of the layers included, ascending. */
  layers: number[];
}

/**
 * The flat-vector layout of `model`'s parameters, optionally restricted to some layers, named by
 * their module index as in the safetensors keys ("0", "2", …; numbers are accepted too).
 */
export function parameterLayout(model: Mlp, layers?: readonly (string | number)[]): ParameterLayout {
  const linear = model.description.layers.map((l, i) => (hasParameters(l) ? i : -1)).filter((i) => i >= 0);
  const kinds = isMlpDescription(model.description) ? 'linear layer' : 'linear or conv2d layer';
  let chosen = linear;
  if (layers !== undefined) {
    if (layers.length === 0) fail('E_ARG', `expected at least one layer; ${kinds}s are ${linear.join(', ')}`, { field: 'layer' });
    const set = new Set<number>();
    for (const name of layers) {
      const s = String(name).trim();
      const i = /^\d+$/.test(s) ? Number(s) : NaN;
      if (!linear.includes(i)) {
        fail('E_ARG', `"${s}" is not a ${kinds} of the model; expected one of ${linear.map((l) => `"${l}"`).join(', ')} (module index of the safetensors keys)`, { field: 'layer' });
      }
      set.add(i);
    }
    chosen = linear.filter((i) => set.has(i));
  }
  const blocks: ParameterBlock[] = [];
  let offset = 0;
  model.params.forEach((p, paramIndex) => {
    if (!chosen.includes(p.layer)) return;
    const size = p.shape.reduce((a, d) => a * d, 1);
    blocks.push({ name: p.name, layer: p.layer, kind: p.kind, shape: [...p.shape], offset, size, paramIndex });
    offset += size;
  });
  return { size: offset, blocks, layers: chosen };
}

/** A batch of inputs [B, features] or [B, C, H, W] (f32) and labels [B] (i32) on the model's backend. */
export interface DeviceBatch {
  x: Tensor;
  labels: Tensor;
}

/** What one batch's products reuse: the forward activations and (Hessian) the ordinary backward. */
interface BatchState extends ForwardCache {
  /** Hessian only: gradient of the (weighted) loss w.r.t. each layer's output, for layers ≥ the lowest active one. */
  gOut?: (Tensor | undefined)[];
}

export interface CurvatureProductOptions {
  kind?: CurvatureKind;
  /** Restrict to these layers' parameters (module indices); default all. */
  layers?: readonly (string | number)[];
  /**
   * Keep each batch's forward (and backward) state between products, as PyHessian keeps its
   * autograd graph: a product then costs the R-passes only. Default true. Call dispose() when done.
   * The state is dropped and rebuilt when the model's weights change (`model.version` moved).
   */
  cache?: boolean;
  /** Most bytes of cached state (default 1 GiB); batches past it are recomputed on every product. */
  cacheBytes?: number;
  /**
   * Use the backend's fused product (Backend.mlpCurvatureProduct: one native call per batch) when
   * it has one. Default true; false forces the path composed from kernels (for comparison).
   */
  fused?: boolean;
}

/**
 * Curvature-vector products of the mean cross-entropy over `batches` (all samples weighted equally,
 * so several batches give the product of the whole dataset's mean loss).
 */
export class CurvatureProduct {
  readonly kind: CurvatureKind;
  readonly layout: ParameterLayout;
  /** Number of products computed so far (each is one pass over all batches). */
  products = 0;
  private readonly backend: Backend;
  private readonly total: number;
  private readonly active: Set<number>;
  private readonly lowest: number;
  private readonly cache: boolean;
  private readonly cacheBytes: number;
  private cachedBytes = 0;
  private readonly states = new Map<number, BatchState>();
  private readonly fused: boolean;
  private readonly fusedStates = new Map<number, FusedCurvatureState>();
  /** model.version the kept states were computed at; they are dropped when it moves. */
  private statesVersion: number;
  /** applyAsync() products run one after another (they share the kept states). */
  private queue: Promise<unknown> = Promise.resolve();
  /** applyAsync() products queued or running: apply() must not touch the states meanwhile. */
  private pendingAsync = 0;

  constructor(
    readonly model: Mlp,
    readonly batches: readonly DeviceBatch[],
    options: CurvatureProductOptions = {},
  ) {
    this.backend = model.backend;
    this.kind = options.kind ?? 'hessian';
    if (this.kind !== 'hessian' && this.kind !== 'ggn') fail('E_ARG', `expected "hessian" or "ggn", got ${JSON.stringify(this.kind)}`, { field: 'kind' });
    this.layout = parameterLayout(model, options.layers);
    this.active = new Set(this.layout.layers);
    this.lowest = this.layout.layers[0]!;
    this.cache = options.cache ?? true;
    this.cacheBytes = options.cacheBytes ?? 2 ** 30;
    if (batches.length === 0) fail('E_ARG', 'expected at least one batch of samples', { field: 'inputs' });
    let total = 0;
    batches.forEach((b, i) => {
      const why = model.inputShapeError(b.x);
      if (why) fail('E_SHAPE', `batch ${i}: ${why}`, { field: 'inputs' });
      if (b.labels.size !== b.x.shape[0]) fail('E_SHAPE', `batch ${i}: ${b.labels.size} labels for ${b.x.shape[0]} samples`, { field: 'labels' });
      total += b.x.shape[0]!;
    });
    if (total === 0) fail('E_ARG', 'expected at least one sample', { field: 'inputs' });
    this.total = total;
    // The fused kernel knows linear layers and activations only.
    this.fused = options.fused !== false && typeof this.backend.mlpCurvatureProduct === 'function' && isMlpDescription(model.description);
    this.statesVersion = model.version;
  }

  /** Number of samples the mean runs over. */
  get samples(): number {
    return this.total;
  }

  /**
   * The product with v (any shape of `layout.size` elements, on the model's backend); returns a new
   * tensor of v's shape that the caller frees.
   */
  apply(v: Tensor): Tensor {
    if (this.pendingAsync > 0) fail('E_ARG', 'a product from applyAsync() is still pending on this operator; await it before apply()');
    return this.applyNow(v);
  }

  private applyNow(v: Tensor): Tensor {
    const b = this.backend;
    this.prepare(v);
    if (this.fused) return this.applyFused(v);
    // Slice v into per-parameter blocks once; every batch reuses them.
    const vp = new Map<number, Tensor>();
    for (const blk of this.layout.blocks) vp.set(blk.paramIndex, b.slice(v, blk.offset, blk.shape));
    let out: Tensor | undefined;
    this.batches.forEach((batch, i) => {
      const state = this.state(i, batch);
      const grads = this.productOnBatch(state, vp, batch.x.shape[0]!);
      if (!this.states.has(i)) this.freeState(state, i);
      if (out === undefined) {
        out = b.zeros(v.shape);
        for (const blk of this.layout.blocks) {
          b.copyInto(out, blk.offset, grads.get(blk.paramIndex)!);
          b.free(grads.get(blk.paramIndex)!);
        }
      } else {
        const part = b.zeros(v.shape);
        for (const blk of this.layout.blocks) {
          b.copyInto(part, blk.offset, grads.get(blk.paramIndex)!);
          b.free(grads.get(blk.paramIndex)!);
        }
        const sum = b.axpy(1, part, out);
        b.free(part);
        b.free(out);
        out = sum;
      }
    });
    for (const t of vp.values()) b.free(t);
    this.products++;
    return out!;
  }

  /**
   * apply() for async callers (the curvature algorithms): on a backend with an off-thread fused
   * product (native: a libuv worker) a large product runs there batch by batch, so timers, I/O and
   * progress keep running; a small one, or another backend, runs apply() (the hop to a worker
   * costs more than a product under OFF_THREAD_MIN_WORK). Products run one at a time, in call
   * order; the weights, batches and v must not change until the promise settles.
   */
  applyAsync(v: Tensor): Promise<Tensor> {
    this.pendingAsync++;
    const run = this.queue.then(() => this.applyQueued(v)).finally(() => {
      this.pendingAsync--;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async applyQueued(v: Tensor): Promise<Tensor> {
    const b = this.backend;
    if (!this.fused || typeof b.mlpCurvatureProductAsync !== 'function' || this.work() < OFF_THREAD_MIN_WORK) return this.applyNow(v);
    this.prepare(v);
    const layers = this.fusedLayers();
    const out = b.zeros(v.shape);
    try {
      for (const [i, batch] of this.batches.entries()) {
        await b.mlpCurvatureProductAsync({
          layers, x: batch.x, labels: batch.labels, v, out, kind: this.kind, scale: 1 / this.total, accumulate: i > 0,
          state: this.fusedState(i, batch.x.shape[0]!),
        });
      }
    } catch (e) {
      b.free(out);
      throw e;
    }
    this.products++;
    return out;
  }

  /** Multiply-adds of one forward pass over every batch: the size of a product, up to a small factor. */
  private work(): number {
    let weights = 0;
    for (const l of this.model.description.layers) if (isLinear(l)) weights += l.in * l.out;
    return weights * this.total;
  }

  /** Checks v; drops kept states the weights have moved away from. */
  private prepare(v: Tensor): void {
    const b = this.backend;
    if (v.backend !== b.name || v.dtype !== 'f32') fail('E_ARG', `vector must be an f32 tensor on the ${b.name} backend, got ${v.backend}/${v.dtype}`, { field: 'vector' });
    if (v.size !== this.layout.size) {
      const what = this.layout.layers.length === this.model.description.layers.filter(hasParameters).length ? 'parameters' : `parameters of layer(s) ${this.layout.layers.join(', ')}`;
      fail('E_SHAPE', `vector has ${v.size} elements; expected ${this.layout.size} (${what})`, { field: 'vector' });
    }
    // Kept states are the old weights' forward/backward: an optimizer step or a load made them stale.
    if (this.model.version !== this.statesVersion) {
      this.dispose();
      this.statesVersion = this.model.version;
    }
  }

  /** Frees the cached batch states (the model and batches stay the caller's). */
  dispose(): void {
    for (const [i, s] of this.states) this.freeState(s, i);
    this.states.clear();
    this.fusedStates.clear();
    this.cachedBytes = 0;
  }

  /** One backend call per batch (Backend.mlpCurvatureProduct), accumulating into one output. */
  private applyFused(v: Tensor): Tensor {
    const b = this.backend;
    const layers = this.fusedLayers();
    const out = b.zeros(v.shape);
    try {
      this.batches.forEach((batch, i) => {
        b.mlpCurvatureProduct!({
          layers, x: batch.x, labels: batch.labels, v, out, kind: this.kind, scale: 1 / this.total, accumulate: i > 0,
          state: this.fusedState(i, batch.x.shape[0]!),
        });
      });
    } catch (e) {
      b.free(out);
      throw e;
    }
    this.products++;
    return out;
  }

  /** The model's modules as a fused product takes them (an MLP's: linear layers and activations). */
  private fusedLayers(): FusedMlpLayer[] {
    const layers: FusedMlpLayer[] = [];
    let p = 0;
    for (const [i, l] of this.model.description.layers.entries()) {
      if (!isLinear(l)) {
        if (!isActivation(l)) fail('E_INTERNAL', `the fused product got a ${l.type} layer`);
        layers.push({ type: l.type });
        continue;
      }
      const weight = this.model.params[p++]!.tensor;
      const bias = l.bias !== false ? this.model.params[p++]!.tensor : undefined;
      layers.push(bias ? { type: 'linear', weight, bias, active: this.active.has(i) } : { type: 'linear', weight, active: this.active.has(i) });
    }
    return layers;
  }

  /** The batch's kept-state object when caching is on and its bytes fit in what is left of cacheBytes. */
  private fusedState(i: number, batchSize: number): FusedCurvatureState | undefined {
    if (!this.cache) return undefined;
    const kept = this.fusedStates.get(i);
    if (kept) return kept;
    // Every layer's output, an activation's f' and f'', and (Hessian) the output gradients from the lowest active layer up.
    let width = (this.model.description.layers.find(isLinear) as LinearLayer).in;
    let floats = 0;
    this.model.description.layers.forEach((l, k) => {
      if (isLinear(l)) width = l.out;
      else floats += 2 * width;
      floats += width;
      if (this.kind === 'hessian' && k >= this.lowest) floats += width;
    });
    const bytes = 4 * batchSize * floats;
    if (this.cachedBytes + bytes > this.cacheBytes) return undefined;
    this.cachedBytes += bytes;
    const s: FusedCurvatureState = {};
    this.fusedStates.set(i, s);
    return s;
  }

  private state(i: number, batch: DeviceBatch): BatchState {
    const cached = this.states.get(i);
    if (cached) return cached;
    const b = this.backend;
    const state: BatchState = this.model.forwardWithCache(batch.x);
    if (this.kind === 'hessian') {
      // Ordinary backward of the batch's share of the mean loss, keeping every layer's output gradient.
      const ce = b.softmaxCrossEntropy(state.logits, batch.labels);
      b.free(ce.loss);
      const layers = this.model.description.layers;
      const gOut: (Tensor | undefined)[] = new Array(layers.length);
      let g = b.scale(1 / this.total, ce.grad);
      b.free(ce.grad);
      for (let li = layers.length - 1; li >= this.lowest; li--) {
        gOut[li] = g;
        if (li > this.lowest) g = this.model.inputGrad(li, g, state);
      }
      state.gOut = gOut;
    }
    const sizes = (ts: readonly (Tensor | undefined)[]) => ts.reduce((a, t) => a + (t?.size ?? 0), 0);
    const bytes = 4 * (sizes(state.inputs.slice(1)) + state.logits.size + sizes(state.argmax) + sizes(state.gOut ?? []));
    if (this.cache && this.cachedBytes + bytes <= this.cacheBytes) {
      this.states.set(i, state);
      this.cachedBytes += bytes;
    }
    return state;
  }

  private freeState(s: BatchState, _i: number): void {
    this.model.freeCache(s);
    if (s.gOut) for (const g of s.gOut) if (g) this.backend.free(g);
  }

  /** a + b, freeing both (either may be undefined: zero). */
  private add(a: Tensor | undefined, c: Tensor | undefined): Tensor | undefined {
    if (!a) return c;
    if (!c) return a;
    const s = this.backend.axpy(1, c, a);
    this.backend.free(a);
    this.backend.free(c);
    return s;
  }

  /** One batch's contribution to the product, per active parameter (index into model.params). */
  private productOnBatch(state: BatchState, vp: Map<number, Tensor>, _batchSize: number): Map<number, Tensor> {
    const b = this.backend;
    const model = this.model;
    const layers = model.description.layers;

    const { rin, rLogits } = rForward(model, state, vp, this.active);

    // At the logits: R{g} = H_loss · R{z}, the softmax cross-entropy Hessian per sample, over the mean.
    const shv = b.softmaxHessianVec(state.logits, rLogits);
    b.free(rLogits);
    let rg = b.scale(1 / this.total, shv);
    b.free(shv);

    // Backward: R-backward (Hessian) or the ordinary backward of H_loss J v (GGN).
    const out = new Map<number, Tensor>();
    const hess = this.kind === 'hessian';
    for (let i = layers.length - 1; i >= this.lowest; i--) {
      const l = layers[i]!;
      const h = state.inputs[i]!;
      const r = rin[i];
      const goOn = i > this.lowest;
      const pi = model.paramOf[i];
      if (pi) {
        const [wi, bi] = pi;
        const g = hess ? state.gOut![i]! : undefined;
        if (this.active.has(i)) {
          // R{∂L/∂W} = weightGrad(h, R{g}) + weightGrad(R{h}, g) (Hessian); the bias's is R{g} summed.
          let gw = model.weightGrad(i, h, rg);
          if (hess && r) gw = this.add(gw, model.weightGrad(i, r, g!))!;
          out.set(wi, gw);
          if (bi !== undefined) out.set(bi, model.biasGrad(i, rg));
        }
        if (goOn) {
          // R{∂L/∂h} = Jᵀ R{g} + (Hessian, active) the backward of g through the layer with weight v.
          let next = model.inputGrad(i, rg, state);
          if (hess && this.active.has(i)) next = this.add(next, model.inputGrad(i, g!, state, vp.get(wi)!))!;
          b.free(rg);
          rg = next;
        }
      } else if (goOn) {
        // Activations have curvature of their own (f''); pooling and flatten are (locally) linear.
        const next = isActivation(l) && hess && r ? b.activationRGrad(l.type, h, r, state.gOut![i]!, rg) : model.inputGrad(i, rg, state);
        b.free(rg);
        rg = next;
      }
    }
    b.free(rg);
    for (const r of rin) if (r) b.free(r);
    return out;
  }
}

/**
 * The R-forward pass (Pearlmutter's R{·} of every layer input along the parameter direction v):
 * rin[i] = R{input of layer i} (undefined means zero: below the first active layer) and rLogits =
 * R{logits} = J v, the Jacobian-vector product at the logits. A layer with parameters:
 * R{y} = J_x R{x} + (active) J_θ v — conv and linear are bilinear, so J_θ v is the layer applied
 * with v's weight and bias. Pooling, flatten, activations: J_x R{x}. `vp` maps a parameter index
 * (into model.params) to its block of v. The caller frees rin's tensors and rLogits.
 */
function rForward(model: Mlp, state: ForwardCache, vp: ReadonlyMap<number, Tensor>, active: ReadonlySet<number>): { rin: (Tensor | undefined)[]; rLogits: Tensor } {
  const b = model.backend;
  const layers = model.description.layers;
  const rin: (Tensor | undefined)[] = new Array(layers.length);
  let rh: Tensor | undefined;
  layers.forEach((_l, i) => {
    rin[i] = rh;
    const h = state.inputs[i]!;
    let rz = rh ? model.tangent(i, rh, state) : undefined;
    const pi = model.paramOf[i];
    if (pi && active.has(i)) {
      const t = model.parameterTangent(i, h, vp.get(pi[0])!, pi[1] === undefined ? undefined : vp.get(pi[1])!);
      if (rz) {
        const s = b.axpy(1, t, rz);
        b.free(rz);
        b.free(t);
        rz = s;
      } else rz = t;
    }
    rh = rz;
  });
  return { rin, rLogits: rh! }; // the lowest active layer makes rLogits defined
}

/**
 * J v: the directional derivative of the logits [B, classes] of x along the parameter direction v
 * (a flat vector in `parameterLayout(model, layers)` order), by one ordinary forward and the
 * R-forward pass the curvature products use — a forward-mode JVP, no finite differences.
 * The caller frees the result.
 */
export function logitsJvp(model: Mlp, x: Tensor, v: Tensor, layers?: readonly (string | number)[]): Tensor {
  const b = model.backend;
  const layout = parameterLayout(model, layers);
  if (v.backend !== b.name || v.dtype !== 'f32') fail('E_ARG', `vector must be an f32 tensor on the ${b.name} backend, got ${v.backend}/${v.dtype}`, { field: 'vector' });
  if (v.size !== layout.size) fail('E_SHAPE', `vector has ${v.size} elements; expected ${layout.size} (the parameters${layers ? ` of layer(s) ${layout.layers.join(', ')}` : ''})`, { field: 'vector' });
  const state = model.forwardWithCache(x);
  const vp = new Map<number, Tensor>();
  try {
    for (const blk of layout.blocks) vp.set(blk.paramIndex, b.slice(v, blk.offset, blk.shape));
    const { rin, rLogits } = rForward(model, state, vp, new Set(layout.layers));
    for (const r of rin) if (r) b.free(r);
    return rLogits;
  } finally {
    for (const t of vp.values()) b.free(t);
    model.freeCache(state);
  }
}

/** H v of the mean cross-entropy over one batch (no caching). The caller frees the result. */
export function hessianVectorProduct(model: Mlp, x: Tensor, labels: Tensor, v: Tensor, layers?: readonly (string | number)[]): Tensor {
  const p = new CurvatureProduct(model, [{ x, labels }], { kind: 'hessian', layers, cache: false });
  return p.apply(v);
}

/** G v (generalised Gauss–Newton, Jᵀ H_loss J v) of the mean cross-entropy over one batch. The caller frees the result. */
export function ggnVectorProduct(model: Mlp, x: Tensor, labels: Tensor, v: Tensor, layers?: readonly (string | number)[]): Tensor {
  const p = new CurvatureProduct(model, [{ x, labels }], { kind: 'ggn', layers, cache: false });
  return p.apply(v);
}

/** The model's parameters (or some layers') as one flat f32 vector [size] on its backend. */
export function flattenParameters(model: Mlp, layers?: readonly (string | number)[]): Tensor {
  const layout = parameterLayout(model, layers);
  const out = model.backend.zeros([layout.size]);
  for (const blk of layout.blocks) model.backend.copyInto(out, blk.offset, model.params[blk.paramIndex]!.tensor);
  return out;
}
