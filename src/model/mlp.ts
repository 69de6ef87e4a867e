/**
 * A sequential model on a Backend — an MLP, or a CNN with conv2d / pooling / flatten layers:
 * parameters live on the device, every operation goes through the Backend kernels, and every
 * intermediate tensor is freed as soon as it is dead (webgpu pools buffers, so a leak there is
 * real memory). The class keeps its first name, `Mlp`; `Sequential` is the same class.
 *
 * Naming and layout follow `torch.nn.Sequential`: layer i of the description is module i, its
 * weight is `i.weight` with shape [out, in] (linear) or [out, in, kh, kw] (conv2d), row-major, and
 * its bias `i.bias` [out]. The parameter order — used by optimizers and by flat parameter vectors —
 * is layer by layer, weight then bias.
 *
 * Inputs are [batch, features] (how data sit on the device: one row per sample) or, for a model
 * with an "input": [C, H, W], also [batch, C, H, W]; a row is reshaped (a copy: the contract has
 * no views) where a layer needs the image.
 */
import type { Backend, Tensor } from '../backends/backend.js';
import { fail } from '../errors.js';
import { type NamedTensor, readSafetensors, writeSafetensors } from '../io/safetensors.js';
import {
  type Conv2dLayer,
  type ModelDescription,
  type ParameterLayer,
  type Pool2dLayer,
  fanIn,
  hasParameters,
  inputShape,
  layerShapes,
  weightShape,
} from './description.js';
import { Rng } from './rng.js';

/** A convolution's strides and padding as the kernels take them (Backend.conv2d). */
export type Conv2dGeometry = Parameters<Backend['conv2d']>[3];
/** A pooling window as the kernels take it (Backend.maxPool2d). */
export type Pool2dGeometry = Parameters<Backend['maxPool2d']>[1];

export function convGeometry(l: Conv2dLayer): Conv2dGeometry {
  return { strideH: l.stride[0], strideW: l.stride[1], padH: l.padding[0], padW: l.padding[1] };
}
export function poolGeometry(l: Pool2dLayer): Pool2dGeometry {
  return { kernelH: l.kernel[0], kernelW: l.kernel[1], strideH: l.stride[0], strideW: l.stride[1], padH: l.padding[0], padW: l.padding[1] };
}

export interface Parameter {
  /** `i.weight` or `i.bias`. */
  name: string;
  shape: number[];
  layer: number;
  kind: 'weight' | 'bias';
  tensor: Tensor;
}

/** The names and shapes a description's weights must have, in parameter order. */
export function parameterSpecs(d: ModelDescription): { name: string; shape: number[]; layer: number; kind: 'weight' | 'bias' }[] {
  const out: { name: string; shape: number[]; layer: number; kind: 'weight' | 'bias' }[] = [];
  d.layers.forEach((l, i) => {
    if (!hasParameters(l)) return;
    out.push({ name: `${i}.weight`, shape: weightShape(l), layer: i, kind: 'weight' });
    if (l.bias !== false) out.push({ name: `${i}.bias`, shape: [l.out], layer: i, kind: 'bias' });
  });
  return out;
}

export interface ForwardCache {
  /** Input of every layer (index 0 is the caller's x, never freed here). */
  inputs: Tensor[];
  logits: Tensor;
  /** maxpool2d layers: where each output came from (i32, flat index into the layer's input); undefined elsewhere. */
  argmax: (Tensor | undefined)[];
}

export class Mlp {
  #version = 0;
  /** Per-sample shape of every layer's input; the last entry is the output ([classes]). */
  readonly shapes: number[][];
  /** For each module index of a layer with parameters: [weight, bias] indices into `params`. */
  readonly paramOf: ([number, number | undefined] | undefined)[];

  private constructor(
    readonly backend: Backend,
    readonly description: ModelDescription,
    readonly params: Parameter[],
  ) {
    this.shapes = layerShapes(description);
    this.paramOf = new Array(description.layers.length);
    params.forEach((p, k) => {
      const cur = this.paramOf[p.layer] ?? [k, undefined];
      if (p.kind === 'weight') cur[0] = k;
      else cur[1] = k;
      this.paramOf[p.layer] = cur;
    });
  }

  /**
   * Counts in-place changes of the parameter values. Caches of state derived from the weights
   * (the curvature operators' per-batch forward/backward) compare it instead of hashing weights.
   * `Optimizer` steps, `setWeights` and `loadWeights` bump it; code that writes into
   * `params[i].tensor` through the backend itself must call `markParametersChanged()`.
   */
  get version(): number {
    return this.#version;
  }

  /** Records that the parameter values changed (see `version`). */
  markParametersChanged(): void {
    this.#version++;
  }

  /**
   * PyTorch's nn.Linear / nn.Conv2d default initialisation, from a seeded stream:
   * kaiming_uniform(a=√5) makes the weights U(−1/√fan_in, 1/√fan_in) (fan_in = in, or in·kh·kw)
   * and the bias uses the same bound. Same seed ⇒ same weights.
   */
  static init(backend: Backend, description: ModelDescription, seed: number): Mlp {
    const rng = Rng.derive(seed, 'init');
    const values = new Map<string, Float32Array>();
    for (const s of parameterSpecs(description)) {
      const bound = 1 / Math.sqrt(fanIn(description.layers[s.layer] as ParameterLayer));
      const data = new Float32Array(s.shape.reduce((a, b) => a * b, 1));
      for (let k = 0; k < data.length; k++) data[k] = rng.uniform(-bound, bound);
      values.set(s.name, data);
    }
    return Mlp.fromHost(backend, description, values);
  }

  /** Builds a model from host arrays named `i.weight` / `i.bias` (shapes checked). */
  static fromHost(backend: Backend, description: ModelDescription, values: Map<string, Float32Array>, file = '<weights>'): Mlp {
    const params: Parameter[] = [];
    for (const s of parameterSpecs(description)) {
      const data = values.get(s.name);
      const n = s.shape.reduce((a, b) => a * b, 1);
      if (!data) fail('E_MODEL', `missing tensor; expected shape [${s.shape.join(', ')}]`, { file, field: s.name });
      if (data.length !== n) fail('E_MODEL', `has ${data.length} values; expected shape [${s.shape.join(', ')}]`, { file, field: s.name });
      params.push({ ...s, tensor: backend.upload(data, s.shape) });
    }
    return new Mlp(backend, description, params);
  }

  /**
   * Loads weights from a safetensors file written by `save()` or by PyTorch
   * (`torch.nn.Sequential` state dict, optionally under a common prefix such as `model.`).
   */
  static async load(backend: Backend, description: ModelDescription, path: string): Promise<Mlp> {
    return Mlp.fromHost(backend, description, await readWeights(description, path), path);
  }

  /**
   * Overwrites the parameter values in place (same tensors, so an optimizer or operator holding
   * them sees the new values) from host arrays named `i.weight` / `i.bias`; all are checked before
   * the first write. Bumps `version`.
   */
  setWeights(values: Map<string, Float32Array>, file = '<weights>'): void {
    for (const p of this.params) {
      const data = values.get(p.name);
      if (!data) fail('E_MODEL', `missing tensor; expected shape [${p.shape.join(', ')}]`, { file, field: p.name });
      if (data.length !== p.tensor.size) fail('E_MODEL', `has ${data.length} values; expected shape [${p.shape.join(', ')}]`, { file, field: p.name });
    }
    const b = this.backend;
    // Bumped before the writes: even a write that fails half-way leaves no cache trusting old weights.
    this.markParametersChanged();
    for (const p of this.params) {
      const t = b.upload(values.get(p.name)!, p.shape);
      b.copyInto(p.tensor, 0, t);
      b.free(t);
    }
  }

  /** `setWeights` from a safetensors file, accepted as `Mlp.load` accepts it. */
  async loadWeights(path: string): Promise<void> {
    this.setWeights(await readWeights(this.description, path), path);
  }

  /** Copies the parameters to the host, in parameter order. */
  async toHost(): Promise<NamedTensor[]> {
    const out: NamedTensor[] = [];
    for (const p of this.params) out.push({ name: p.name, shape: [...p.shape], data: await this.backend.read(p.tensor) });
    return out;
  }

  /** Writes the weights as safetensors with PyTorch names (`0.weight` [out, in], `0.bias`, …). */
  async save(path: string, metadata: Record<string, string> = {}): Promise<void> {
    await writeSafetensors(path, await this.toHost(), { format: 'pt', 'riverbed.model': JSON.stringify(this.description), ...metadata });
  }

  /** Total number of scalar parameters. */
  get parameterCount(): number {
    return this.params.reduce((a, p) => a + p.tensor.size, 0);
  }

  /** Logits [B, classes] of x [B, features] (or [B, C, H, W]); all intermediates freed (x is the caller's). */
  forward(x: Tensor): Tensor {
    const cache = this.forwardWithCache(x);
    this.freeCache(cache, false);
    return cache.logits;
  }

  /** Frees a cache's layer inputs (not the caller's x), its argmax tensors and, when asked, the logits. */
  freeCache(cache: ForwardCache, logits = true): void {
    const b = this.backend;
    for (let i = 1; i < cache.inputs.length; i++) b.free(cache.inputs[i]!);
    for (const a of cache.argmax) if (a) b.free(a);
    if (logits) b.free(cache.logits);
  }

  /**
   * Why x cannot be this model's input, or undefined: x must be [batch, features] with
   * features = C·H·W, or [batch, C, H, W] for a model with an "input" shape.
   */
  inputShapeError(x: Tensor): string | undefined {
    const want = this.shapes[0]!;
    const features = want.reduce((a, d) => a * d, 1);
    if (x.shape.length === 2 && x.shape[1] === features) return undefined;
    if (want.length > 1 && x.shape.length === want.length + 1 && want.every((d, k) => x.shape[k + 1] === d)) return undefined;
    return `inputs have shape [${x.shape.join(', ')}]; expected [batch, ${features}]${want.length > 1 ? ` or [batch, ${want.join(', ')}]` : ''}`;
  }

  /** Forward keeping every layer's input (and the max-pool argmax) for the backward pass. */
  forwardWithCache(x: Tensor): ForwardCache {
    const why = this.inputShapeError(x);
    if (why) fail('E_SHAPE', why);
    const inputs: Tensor[] = [];
    const argmax: (Tensor | undefined)[] = new Array(this.description.layers.length);
    let h = x;
    try {
      for (let i = 0; i < this.description.layers.length; i++) {
        inputs.push(h);
        h = this.layerForward(i, h, argmax);
      }
    } catch (e) {
      // A layer that throws (a kernel refusing its arguments) must not leak what the earlier layers made.
      for (let i = 1; i < inputs.length; i++) this.backend.free(inputs[i]!);
      for (const a of argmax) if (a) this.backend.free(a);
      throw e;
    }
    return { inputs, logits: h, argmax };
  }

  /** Layer i's output from its input h (a new tensor); a max pool's argmax goes into argmax[i]. */
  private layerForward(i: number, h: Tensor, argmax: (Tensor | undefined)[]): Tensor {
    const b = this.backend;
    const l = this.description.layers[i]!;
    switch (l.type) {
      case 'linear': {
        const [wi, bi] = this.paramOf[i]!;
        const z = b.matmul(h, this.params[wi]!.tensor, false, true);
        if (bi === undefined) return z;
        const y = b.addBias(z, this.params[bi]!.tensor);
        b.free(z);
        return y;
      }
      case 'conv2d': {
        const [wi, bi] = this.paramOf[i]!;
        return this.withImage(i, h, (img) => b.conv2d(img, this.params[wi]!.tensor, bi === undefined ? undefined : this.params[bi]!.tensor, convGeometry(l)));
      }
      case 'maxpool2d':
        return this.withImage(i, h, (img) => {
          const r = b.maxPool2d(img, poolGeometry(l));
          argmax[i] = r.argmax;
          return r.y;
        });
      case 'avgpool2d':
        return this.withImage(i, h, (img) => b.avgPool2d(img, poolGeometry(l)));
      case 'flatten':
        // Always a copy, even of a row: every layer input is a tensor of its own (freed once).
        return b.slice(h, 0, [h.shape[0]!, h.size / h.shape[0]!]);
      default:
        return b.activation(l.type, h);
    }
  }

  /** [batch, …shape] of layer i's input (the per-sample shape inferred from the description). */
  inputShapeOf(i: number, batch: number): number[] {
    return [batch, ...this.shapes[i]!];
  }

  /** f(h as [B, C, H, W]): a row-shaped h is reshaped into a temporary copy for the call. */
  withImage<T>(i: number, h: Tensor, f: (img: Tensor) => T): T {
    if (h.shape.length === 4) return f(h);
    const img = this.backend.slice(h, 0, this.inputShapeOf(i, h.shape[0]!));
    try {
      return f(img);
    } finally {
      this.backend.free(img);
    }
  }

  /**
   * The backward through layer i: the gradient with respect to its input from g, the gradient with
   * respect to its output (Jᵢᵀ g), at the cached forward. `weight` replaces a linear/conv layer's
   * weight (the R-backward's V_W term). Returns a new tensor shaped like the layer's input.
   */
  inputGrad(i: number, g: Tensor, cache: ForwardCache, weight?: Tensor): Tensor {
    const b = this.backend;
    const l = this.description.layers[i]!;
    const hin = cache.inputs[i]!;
    const batch = hin.shape[0]!;
    switch (l.type) {
      case 'linear':
        return b.matmul(g, weight ?? this.params[this.paramOf[i]![0]]!.tensor, false, false);
      case 'conv2d':
        return b.conv2dInputGrad(g, weight ?? this.params[this.paramOf[i]![0]]!.tensor, convGeometry(l), this.inputShapeOf(i, batch));
      case 'maxpool2d':
        return b.maxPool2dBackward(g, cache.argmax[i]!, this.inputShapeOf(i, batch));
      case 'avgpool2d':
        return b.avgPool2dBackward(g, poolGeometry(l), this.inputShapeOf(i, batch));
      case 'flatten':
        return b.slice(g, 0, hin.shape);
      default:
        return b.activationGrad(l.type, hin, g);
    }
  }

  /**
   * The forward derivative through layer i at fixed weights: Jᵢ r for r shaped like the layer's
   * input (the R-forward of everything but the layer's own parameters).
   */
  tangent(i: number, r: Tensor, cache: ForwardCache): Tensor {
    const b = this.backend;
    const l = this.description.layers[i]!;
    switch (l.type) {
      case 'linear':
        return b.matmul(r, this.params[this.paramOf[i]![0]]!.tensor, false, true);
      case 'conv2d':
        return this.withImage(i, r, (img) => b.conv2d(img, this.params[this.paramOf[i]![0]]!.tensor, undefined, convGeometry(l)));
      case 'maxpool2d':
        // Max pooling is locally linear: each output copies the input element at its argmax.
        return b.gatherFlat(r, cache.argmax[i]!);
      case 'avgpool2d':
        return this.withImage(i, r, (img) => b.avgPool2d(img, poolGeometry(l)));
      case 'flatten':
        return b.slice(r, 0, [r.shape[0]!, r.size / r.shape[0]!]);
      default:
        return b.activationGrad(l.type, cache.inputs[i]!, r);
    }
  }

  /** A linear/conv layer i applied to h with the weight vW and bias vB instead of its own (Jθ v at h). */
  parameterTangent(i: number, h: Tensor, vW: Tensor, vB: Tensor | undefined): Tensor {
    const b = this.backend;
    const l = this.description.layers[i] as ParameterLayer;
    if (l.type === 'conv2d') return this.withImage(i, h, (img) => b.conv2d(img, vW, vB, convGeometry(l)));
    const z = b.matmul(h, vW, false, true);
    if (!vB) return z;
    const y = b.addBias(z, vB);
    b.free(z);
    return y;
  }

  /** ∂/∂weight of Σ gᵀ·layer_i(h) for a linear/conv layer i: gᵀh, or the convolution's weight gradient. */
  weightGrad(i: number, h: Tensor, g: Tensor): Tensor {
    const l = this.description.layers[i] as ParameterLayer;
    if (l.type === 'linear') return this.backend.matmul(g, h, true, false);
    return this.withImage(i, h, (img) => this.backend.conv2dWeightGrad(img, g, convGeometry(l), l.kernel));
  }

  /** ∂/∂bias of Σ gᵀ·layer_i(h): column sums (linear) or per-channel sums (conv2d) of g. */
  biasGrad(i: number, g: Tensor): Tensor {
    return this.description.layers[i]!.type === 'conv2d' ? this.backend.channelSum(g) : this.backend.sumRows(g);
  }

  /** Per-sample cross-entropy loss [B] of x [B, in] against labels (i32 [B]). */
  perSampleLoss(x: Tensor, labels: Tensor): Tensor {
    const logits = this.forward(x);
    const { loss, grad } = this.backend.softmaxCrossEntropy(logits, labels);
    this.backend.free(grad);
    this.backend.free(logits);
    return loss;
  }

  /**
   * Per-sample loss [B] and the gradients of the MEAN loss over the batch with respect to every
   * parameter (same order as `params`). The caller frees `loss` and the gradients.
   */
  lossAndGradients(x: Tensor, labels: Tensor): { loss: Tensor; grads: Tensor[] } {
    const batch = x.shape[0]!;
    return this.lossBackward(x, labels, (b, grad) => b.scale(1 / batch, grad), true, false);
  }

  /**
   * Per-sample loss [B] and the gradients of Σ_i w_i·ℓ_i (one weight per row of x) with respect to
   * every parameter: one batched backward in which each sample's row of ∂ℓ/∂logits is scaled by
   * its weight (the gradient is linear in those rows). Weights of 1/B give `lossAndGradients`.
   */
  weightedLossAndGradients(x: Tensor, labels: Tensor, weights: ArrayLike<number>): { loss: Tensor; grads: Tensor[] } {
    const batch = x.shape[0]!;
    if (weights.length !== batch) fail('E_SHAPE', `${weights.length} sample weights for a batch of ${batch}`, { field: 'weights' });
    for (let i = 0; i < batch; i++) if (!Number.isFinite(weights[i]!)) fail('E_VALUE', `sample weight ${i} is ${weights[i]}; weights must be finite`, { field: 'weights' });
    return this.lossBackward(
      x,
      labels,
      (b, grad) => {
        // grad is [B, classes]: a [B, classes] copy of the weights, row i all w_i, and one mul.
        const c = grad.shape[1]!;
        const w = new Float32Array(batch * c);
        for (let i = 0; i < batch; i++) w.fill(weights[i]!, i * c, (i + 1) * c);
        const wt = b.upload(w, [batch, c]);
        try {
          return b.mul(grad, wt);
        } finally {
          b.free(wt);
        }
      },
      true,
      false,
    );
  }

  /**
   * Per-sample loss [B] and each sample's input gradient ∇ₓℓ_i (shaped like x): the backward pass
   * of Σ_i ℓ_i carried through the first layer (samples are independent, so row i of the gradient
   * of the sum is the gradient of ℓ_i alone). No parameter gradients are formed. The caller frees both.
   */
  inputGradients(x: Tensor, labels: Tensor): { loss: Tensor; grad: Tensor } {
    const r = this.lossBackward(x, labels, (b, grad) => b.scale(1, grad), false, true);
    let grad = r.input!;
    if (grad.shape.length !== x.shape.length || grad.shape.some((d, k) => d !== x.shape[k])) {
      // A first conv layer returns [B, C, H, W] for inputs given as rows [B, C·H·W].
      const rows = this.backend.slice(grad, 0, x.shape);
      this.backend.free(grad);
      grad = rows;
    }
    return { loss: r.loss, grad };
  }

  /**
   * The shared backward: forward with cache, softmax cross-entropy, `seed` turns ∂ℓ/∂logits into the
   * gradient at the logits (a new tensor), then back through the layers, forming the parameter
   * gradients when `params` and carrying on through the first layer to the input when `input`.
   */
  private lossBackward(
    x: Tensor,
    labels: Tensor,
    seed: (b: Backend, grad: Tensor) => Tensor,
    params: boolean,
    input: boolean,
  ): { loss: Tensor; grads: Tensor[]; input?: Tensor } {
    const b = this.backend;
    const cache = this.forwardWithCache(x);
    const { logits } = cache;
    let ce: { loss: Tensor; grad: Tensor };
    try {
      ce = b.softmaxCrossEntropy(logits, labels);
    } catch (e) {
      this.freeCache(cache, true);
      throw e;
    }
    b.free(logits);
    let g: Tensor;
    try {
      try {
        g = seed(b, ce.grad);
      } finally {
        b.free(ce.grad);
      }
    } catch (e) {
      this.freeCache(cache, false);
      b.free(ce.loss);
      throw e;
    }
    try {
      return { loss: ce.loss, ...this.backwardFromLogits(cache, g, params, input) };
    } catch (e) {
      b.free(ce.loss);
      throw e;
    }
  }

  /**
   * Back through the layers from g, the gradient at the logits of a `forwardWithCache` whose logits
   * the caller has freed: the parameter gradients (parameter order) when `params`, and the input's
   * gradient when `input`. Takes g and the cache (frees both, or returns g's last step as `input`);
   * on a throw frees whatever it made.
   */
  backwardFromLogits(cache: ForwardCache, g: Tensor, params = true, input = false): { grads: Tensor[]; input?: Tensor } {
    const b = this.backend;
    const grads: Tensor[] = new Array(this.params.length);
    const layers = this.description.layers;
    // Nothing below the first layer with parameters needs a gradient, unless the input's is asked for.
    const lowest = input ? 0 : layers.findIndex(hasParameters);
    try {
      for (let i = layers.length - 1; i >= lowest; i--) {
        const pi = this.paramOf[i];
        if (params && pi) {
          if (pi[1] !== undefined) grads[pi[1]] = this.biasGrad(i, g);
          grads[pi[0]] = this.weightGrad(i, cache.inputs[i]!, g);
        }
        if (i > lowest || input) {
          const dh = this.inputGrad(i, g, cache);
          b.free(g);
          g = dh;
        }
      }
    } catch (e) {
      for (const t of grads) if (t) b.free(t);
      b.free(g);
      throw e;
    } finally {
      this.freeCache(cache, false);
    }
    if (input) return { grads, input: g };
    b.free(g);
    return { grads };
  }

  /** Frees the parameter tensors; the model is unusable afterwards. */
  dispose(): void {
    for (const p of this.params) this.backend.free(p.tensor);
  }
}

/**
 * Weights of `description` from a safetensors file written by `Mlp.save()` or by PyTorch
 * (`torch.nn.Sequential` state dict, optionally under a common prefix such as `model.`).
 */
async function readWeights(description: ModelDescription, path: string): Promise<Map<string, Float32Array>> {
  const content = await readSafetensors(path);
  const specs = parameterSpecs(description);
  const names = [...content.tensors.keys()];
  const first = specs[0]!.name;
  // Candidate prefixes: '' and whatever precedes the first expected name in the file.
  const prefixes = [''];
  for (const n of names) if (n.endsWith('.' + first) || n === first) prefixes.push(n.slice(0, n.length - first.length));
  const prefix = prefixes.find((p) => specs.every((s) => content.tensors.has(p + s.name))) ?? prefixes.at(-1)!;
  const values = new Map<string, Float32Array>();
  for (const s of specs) {
    const t = content.tensors.get(prefix + s.name);
    const field = prefix + s.name;
    if (!t) fail('E_MODEL', `missing tensor; expected shape [${s.shape.join(', ')}] for layers[${s.layer}]`, { file: path, field });
    if (t.shape.length !== s.shape.length || t.shape.some((d, k) => d !== s.shape[k])) {
      const layer = description.layers[s.layer]!;
      const kind = layer.type === 'conv2d' && s.kind === 'weight' ? ' (conv2d: [out, in, kh, kw])' : ` (${layer.type})`;
      fail('E_MODEL', `has shape [${t.shape.join(', ')}]; expected [${s.shape.join(', ')}] for layers[${s.layer}]${kind}`, { file: path, field });
    }
    // NaN/Inf weights turn hvp/hessian results and a training run from --init into NaN with exit 0: refused here, where every load passes
    const bad = t.data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      const at = s.shape.length > 1 ? ` [${unravel(bad, s.shape).join(', ')}]` : '';
      fail('E_VALUE', `element ${bad}${at} is ${t.data[bad]}; weights must be finite`, { file: path, field });
    }
    values.set(s.name, t.data);
  }
  const expected = new Set(specs.map((s) => prefix + s.name));
  const unexpected = names.filter((n) => n.startsWith(prefix) && !expected.has(n));
  if (unexpected.length > 0) {
    fail('E_MODEL', `unexpected tensor(s) ${unexpected.map((n) => `"${n}"`).join(', ')} not in the model description`, { file: path });
  }
  return values;
}

/** The multi-index of flat element k of a row-major tensor of `shape`. */
function unravel(k: number, shape: readonly number[]): number[] {
  const out: number[] = new Array(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    out[d] = k % shape[d]!;
    k = Math.floor(k / shape[d]!);
  }
  return out;
}

/** The same class under the name that says what it is for convolutional models. */
export { Mlp as Sequential };
