/**
 * A multi-layer perceptron on a Backend: parameters live on the device, every operation goes
 * through the Backend kernels, and every intermediate tensor is freed as soon as it is dead
 * (webgpu pools buffers, so a leak there is real memory).
 *
 * Naming and layout follow `torch.nn.Sequential`: layer i of the description is module i, its
 * weight is `i.weight` with shape [out, in] (row-major) and its bias `i.bias` [out]. The parameter
 * order — used by optimizers and by later flat parameter vectors — is layer by layer, weight then bias.
 */
import type { Backend, Tensor } from '../backends/backend.js';
import { fail } from '../errors.js';
import { type NamedTensor, readSafetensors, writeSafetensors } from '../io/safetensors.js';
import { type LinearLayer, type ModelDescription, isLinear } from './description.js';
import { Rng } from './rng.js';

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
    if (!isLinear(l)) return;
    out.push({ name: `${i}.weight`, shape: [l.out, l.in], layer: i, kind: 'weight' });
    if (l.bias !== false) out.push({ name: `${i}.bias`, shape: [l.out], layer: i, kind: 'bias' });
  });
  return out;
}

export interface ForwardCache {
  /** Input of every layer (index 0 is the caller's x, never freed here). */
  inputs: Tensor[];
  logits: Tensor;
}

export class Mlp {
  #version = 0;

  private constructor(
    readonly backend: Backend,
    readonly description: ModelDescription,
    readonly params: Parameter[],
  ) {}

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
   * PyTorch's nn.Linear default initialisation, from a seeded stream: kaiming_uniform(a=√5) makes
   * the weights U(−1/√in, 1/√in) and the bias uses the same bound. Same seed ⇒ same weights.
   */
  static init(backend: Backend, description: ModelDescription, seed: number): Mlp {
    const rng = Rng.derive(seed, 'init');
    const values = new Map<string, Float32Array>();
    for (const s of parameterSpecs(description)) {
      const fanIn = (description.layers[s.layer] as LinearLayer).in;
      const bound = 1 / Math.sqrt(fanIn);
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

  /** Logits [B, classes] of x [B, in]; all intermediates freed (x is the caller's). */
  forward(x: Tensor): Tensor {
    const cache = this.forwardWithCache(x);
    for (let i = 1; i < cache.inputs.length; i++) this.backend.free(cache.inputs[i]!);
    return cache.logits;
  }

  /** Forward keeping every layer's input for the backward pass. */
  forwardWithCache(x: Tensor): ForwardCache {
    const b = this.backend;
    if (x.shape.length !== 2) fail('E_SHAPE', `model input must be [batch, features], got [${x.shape.join(', ')}]`);
    const inputs: Tensor[] = [];
    let h = x;
    let p = 0;
    this.description.layers.forEach((l, i) => {
      inputs.push(h);
      if (isLinear(l)) {
        if (h.shape[1] !== l.in) fail('E_SHAPE', `layers[${i}] expects ${l.in} features, got ${h.shape[1]}`);
        const w = this.params[p++]!.tensor;
        const z = b.matmul(h, w, false, true);
        if (l.bias !== false) {
          h = b.addBias(z, this.params[p++]!.tensor);
          b.free(z);
        } else h = z;
      } else {
        h = b.activation(l.type, h);
      }
    });
    return { inputs, logits: h };
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
    const b = this.backend;
    const batch = x.shape[0]!;
    const { inputs, logits } = this.forwardWithCache(x);
    const ce = b.softmaxCrossEntropy(logits, labels);
    b.free(logits);
    let g = b.scale(1 / batch, ce.grad);
    b.free(ce.grad);
    const grads: Tensor[] = new Array(this.params.length);
    let p = this.params.length;
    const layers = this.description.layers;
    const firstLinear = layers.findIndex(isLinear);
    for (let i = layers.length - 1; i >= 0; i--) {
      const l = layers[i]!;
      const hin = inputs[i]!;
      const needInputGrad = i > firstLinear;
      if (isLinear(l)) {
        if (l.bias !== false) grads[--p] = b.sumRows(g);
        const w = this.params[--p]!.tensor;
        grads[p] = b.matmul(g, hin, true, false);
        if (needInputGrad) {
          const dh = b.matmul(g, w, false, false);
          b.free(g);
          g = dh;
        }
      } else if (needInputGrad) {
        const dh = b.activationGrad(l.type, hin, g);
        b.free(g);
        g = dh;
      }
      if (i > 0) b.free(hin);
    }
    b.free(g);
    return { loss: ce.loss, grads };
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
      fail('E_MODEL', `has shape [${t.shape.join(', ')}]; expected [${s.shape.join(', ')}] for layers[${s.layer}]`, { file: path, field });
    }
    // NaN/Inf weights turn hvp/hessian results and a training run from --init into NaN with exit 0: refused here, where every load passes
    const bad = t.data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      const at = s.shape.length === 2 ? ` [${Math.floor(bad / s.shape[1]!)}, ${bad % s.shape[1]!}]` : '';
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
