/**
 * The JSON model description:
 *   {"format": "riverbed.model", "version": 1,
 *    "layers": [{"type": "linear", "in": 784, "out": 128}, {"type": "relu"}, {"type": "linear", "in": 128, "out": 10}],
 *    "loss": "cross_entropy"}
 * or, for a convolutional model, a top-level `"input": [C, H, W]` and conv2d / maxpool2d /
 * avgpool2d / flatten layers (docs/models.md).
 * Layer i of the list is module i of a `torch.nn.Sequential`; its weights are `i.weight` / `i.bias`
 * (linear [out, in], conv2d [out, in, kh, kw], as PyTorch stores them).
 */
import { JSON_LIMITS, readBoundedText } from '../io/files.js';
import { ACTIVATIONS, type Activation } from '../backends/backend.js';
import { fail } from '../errors.js';

/** [height, width]. */
export type Pair = [number, number];

export interface LinearLayer {
  type: 'linear';
  in: number;
  out: number;
  /** Default true. */
  bias?: boolean;
}
/** torch.nn.Conv2d(in, out, kernel, stride, padding, bias); parsed with every size as [h, w]. */
export interface Conv2dLayer {
  type: 'conv2d';
  in: number;
  out: number;
  kernel: Pair;
  /** Default 1. */
  stride: Pair;
  /** Zero padding on each side; default 0. */
  padding: Pair;
  /** Default true. */
  bias?: boolean;
}
/** torch.nn.MaxPool2d / AvgPool2d(kernel, stride = kernel, padding = 0); avg counts the padding (count_include_pad). */
export interface Pool2dLayer {
  type: 'maxpool2d' | 'avgpool2d';
  kernel: Pair;
  stride: Pair;
  padding: Pair;
}
/** torch.nn.Flatten(): [N, C, H, W] → [N, C·H·W]. */
export interface FlattenLayer {
  type: 'flatten';
}
export interface ActivationLayer {
  type: Activation;
}
export type Layer = LinearLayer | Conv2dLayer | Pool2dLayer | FlattenLayer | ActivationLayer;
/** A layer with weights (`i.weight`, optionally `i.bias`). */
export type ParameterLayer = LinearLayer | Conv2dLayer;

export interface ModelDescription {
  format: 'riverbed.model';
  version: 1;
  /** Shape of one sample, [C, H, W] (or [features]); required before any conv2d or pooling layer. */
  input?: number[];
  layers: Layer[];
  loss: 'cross_entropy';
}

export const MODEL_FORMAT = 'riverbed.model';
export const MODEL_VERSION = 1;

export function isLinear(l: Layer): l is LinearLayer {
  return l.type === 'linear';
}
export function isConv(l: Layer): l is Conv2dLayer {
  return l.type === 'conv2d';
}
export function isPool(l: Layer): l is Pool2dLayer {
  return l.type === 'maxpool2d' || l.type === 'avgpool2d';
}
export function isActivation(l: Layer): l is ActivationLayer {
  return (ACTIVATIONS as readonly string[]).includes(l.type);
}
/** Linear and conv2d layers: the ones with weights. */
export function hasParameters(l: Layer): l is ParameterLayer {
  return l.type === 'linear' || l.type === 'conv2d';
}
/** True when the model is linear layers and activations only (what the fused MLP kernels take). */
export function isMlpDescription(d: ModelDescription): boolean {
  return d.layers.every((l) => l.type === 'linear' || (ACTIVATIONS as readonly string[]).includes(l.type));
}
/** Inputs each output of the layer sees: in (linear) or in·kh·kw (conv2d); PyTorch's fan_in. */
export function fanIn(l: ParameterLayer): number {
  return l.type === 'linear' ? l.in : l.in * l.kernel[0] * l.kernel[1];
}
/** The weight's shape as PyTorch stores it: [out, in] or [out, in, kh, kw]. */
export function weightShape(l: ParameterLayer): number[] {
  return l.type === 'linear' ? [l.out, l.in] : [l.out, l.in, l.kernel[0], l.kernel[1]];
}

/** Shape of one sample (without the batch dimension) as the model takes it: "input", or [first linear in]. */
export function inputShape(d: ModelDescription): number[] {
  return d.input ? [...d.input] : [(d.layers.find(isLinear) as LinearLayer).in];
}
/** Number of inputs the model takes per sample (the product of `inputShape`). */
export function inputSize(d: ModelDescription): number {
  return inputShape(d).reduce((a, b) => a * b, 1);
}
/** Number of classes (the last linear layer's `out`). */
export function outputSize(d: ModelDescription): number {
  return (d.layers.filter(isLinear).at(-1) as LinearLayer).out;
}

/** Output size of a convolution or pooling window along one axis (PyTorch's floor rule; may be ≤ 0). */
export function windowOutput(size: number, kernel: number, stride: number, padding: number): number {
  return Math.floor((size + 2 * padding - kernel) / stride) + 1;
}

/**
 * Per-sample shapes through the layers of a parsed description: `[i]` is what layer i receives,
 * the last entry what the model returns ([classes]).
 */
export function layerShapes(d: ModelDescription): number[][] {
  const out: number[][] = [];
  let cur = inputShape(d);
  for (const l of d.layers) {
    out.push(cur);
    cur = nextShape(l, cur);
  }
  out.push(cur);
  return out;
}

function nextShape(l: Layer, cur: number[]): number[] {
  if (l.type === 'linear') return [l.out];
  if (l.type === 'flatten') return [cur.reduce((a, b) => a * b, 1)];
  if (l.type === 'conv2d' || isPool(l)) {
    const oh = windowOutput(cur[1]!, l.kernel[0], l.stride[0], l.padding[0]);
    const ow = windowOutput(cur[2]!, l.kernel[1], l.stride[1], l.padding[1]);
    return [l.type === 'conv2d' ? l.out : cur[0]!, oh, ow];
  }
  return cur;
}

/**
 * Why data cannot feed this model, or undefined. `features` is the length of a sample's row;
 * `sampleShape` (optional) the per-sample shape the data have ([C, H, W]: an [N, C, H, W] .npy, the
 * bundled 28×28 digits). Rows of C·H·W values feed a model with "input": [C, H, W] (row-major,
 * as PyTorch's reshape reads them) and images feed an MLP with as many inputs (flattened); images
 * and an "input" of the same rank must agree exactly.
 */
export function inputMismatch(d: ModelDescription, features: number, sampleShape?: readonly number[]): string | undefined {
  const want = inputShape(d);
  const size = inputSize(d);
  const images = sampleShape && sampleShape.length > 1 ? ` ([${sampleShape.join(', ')}] per sample)` : '';
  if (images && d.input && d.input.length === sampleShape!.length && sampleShape!.some((v, k) => v !== want[k])) {
    return `the model's "input" is [${want.join(', ')}] but the data are [${sampleShape!.join(', ')}] per sample`;
  }
  if (features === size) return undefined;
  return d.input
    ? `the model takes ${size} inputs ("input": [${want.join(', ')}]) but the data have ${features} features${images}`
    : `the model takes ${size} inputs but the data have ${features} features${images}`;
}
/** The description field an input mismatch is about: "input" when given, else the first linear layer's "in". */
export function inputField(d: ModelDescription): string {
  return d.input ? 'input' : `layers[${d.layers.findIndex(isLinear)}].in`;
}

/**
 * The CNN of issue 12 (examples/cnn.json): conv(1→32, 3×3, pad 1)–ReLU–maxpool 2–conv(32→64,
 * 3×3, pad 1)–ReLU–maxpool 2–flatten–linear(3136→128)–ReLU–linear(128→classes) on [1, 28, 28].
 */
export function exampleCnnDescription(classes = 10): ModelDescription {
  return parseModelDescription({
    format: MODEL_FORMAT,
    version: MODEL_VERSION,
    input: [1, 28, 28],
    layers: [
      { type: 'conv2d', in: 1, out: 32, kernel: 3, stride: 1, padding: 1 },
      { type: 'relu' },
      { type: 'maxpool2d', kernel: 2, stride: 2 },
      { type: 'conv2d', in: 32, out: 64, kernel: 3, stride: 1, padding: 1 },
      { type: 'relu' },
      { type: 'maxpool2d', kernel: 2, stride: 2 },
      { type: 'flatten' },
      { type: 'linear', in: 3136, out: 128 },
      { type: 'relu' },
      { type: 'linear', in: 128, out: classes },
    ],
    loss: 'cross_entropy',
  });
}

/** An MLP description: inputs → hidden… (activation after each) → classes. */
export function mlpDescription(inputs: number, hidden: readonly number[], classes: number, activation: Activation = 'relu'): ModelDescription {
  const layers: Layer[] = [];
  let prev = inputs;
  for (const h of hidden) {
    layers.push({ type: 'linear', in: prev, out: h }, { type: activation });
    prev = h;
  }
  layers.push({ type: 'linear', in: prev, out: classes });
  return parseModelDescription({ format: MODEL_FORMAT, version: MODEL_VERSION, layers, loss: 'cross_entropy' });
}

const LAYER_TYPES = ['linear', 'conv2d', 'maxpool2d', 'avgpool2d', 'flatten', ...ACTIVATIONS];
const shapeText = (s: readonly number[]) => `[${s.join(', ')}]`;

/**
 * Validates a parsed JSON value and infers the shape of every layer's input; errors name `file`
 * and the offending `layers[i].field` (or `input`), with the layer's type.
 */
export function parseModelDescription(value: unknown, file = '<model>'): ModelDescription {
  const at = (field: string) => ({ file, field });
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail('E_MODEL', 'model description must be a JSON object', { file });
  const v = value as Record<string, unknown>;
  if (v.format !== MODEL_FORMAT) fail('E_MODEL', `expected "${MODEL_FORMAT}", got ${JSON.stringify(v.format)}`, at('format'));
  if (v.version !== MODEL_VERSION) fail('E_MODEL', `expected ${MODEL_VERSION}, got ${JSON.stringify(v.version)}`, at('version'));
  const loss = v.loss ?? 'cross_entropy';
  if (loss !== 'cross_entropy') fail('E_MODEL', `expected "cross_entropy", got ${JSON.stringify(v.loss)}`, at('loss'));
  let input: number[] | undefined;
  if (v.input !== undefined) {
    const ok = Array.isArray(v.input) && (v.input.length === 3 || v.input.length === 1) && v.input.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 1);
    if (!ok) fail('E_MODEL', `expected [channels, height, width] (or [features]) of positive integers, got ${JSON.stringify(v.input)}`, at('input'));
    input = [...(v.input as number[])];
  }
  if (!Array.isArray(v.layers) || v.layers.length === 0) fail('E_MODEL', 'expected a non-empty array of layers', at('layers'));
  const layers: Layer[] = [];
  // Per-sample shape reaching the next layer (undefined: not known yet, no "input" and no linear layer so far)
  // and where it comes from, for the messages.
  let cur: number[] | undefined = input;
  let from = '"input"';
  // Where the channels come from: "input" or the last conv2d's out (pooling and activations keep them).
  let channelsFrom = '"input"';
  let lastLinear = -1;
  v.layers.forEach((raw, i) => {
    const f = (name: string) => at(`layers[${i}]${name ? '.' + name : ''}`);
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail('E_MODEL', 'layer must be an object', f(''));
    const l = raw as Record<string, unknown>;
    // Non-linear layers say their type too (linear messages keep their long-standing wording).
    const what = l.type === 'linear' ? '' : `(${String(l.type)}) `;
    const positive = (k: string): number => {
      const d = l[k];
      if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 1) fail('E_MODEL', `${what}expected a positive integer, got ${JSON.stringify(d)}`, f(k));
      return d;
    };
    // kernel / stride / padding: a number or [h, w]
    const pair = (k: string, min: number, dflt?: Pair): Pair => {
      const d = l[k];
      if (d === undefined && dflt) return [...dflt];
      const okInt = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= min;
      if (okInt(d)) return [d, d];
      if (Array.isArray(d) && d.length === 2 && okInt(d[0]) && okInt(d[1])) return [d[0], d[1]];
      return fail('E_MODEL', `${what}expected an integer ≥ ${min} or [height, width] of them, got ${JSON.stringify(d)}`, f(k));
    };
    const bias = () => {
      if (l.bias !== undefined && typeof l.bias !== 'boolean') fail('E_MODEL', `${what}expected true or false, got ${JSON.stringify(l.bias)}`, f('bias'));
      return l.bias !== false;
    };
    const needImage = (): [number, number, number] => {
      if (cur === undefined) fail('E_MODEL', `${what}needs the model's "input": [channels, height, width]`, f('type'));
      if (cur.length !== 3) fail('E_MODEL', `${what}takes [channels, height, width] per sample, but ${from} gives ${shapeText(cur)}`, f('type'));
      return cur as [number, number, number];
    };
    // Output size of a window op, or the one-line error saying why it would be ≤ 0.
    const windowed = (img: [number, number, number], kernel: Pair, stride: Pair, padding: Pair): [number, number] => {
      const oh = windowOutput(img[1], kernel[0], stride[0], padding[0]);
      const ow = windowOutput(img[2], kernel[1], stride[1], padding[1]);
      if (oh < 1 || ow < 1) {
        fail('E_MODEL', `${what}output would be ${oh}×${ow}: input ${img[1]}×${img[2]} from ${from}, kernel ${kernel.join('×')}, padding ${padding.join('×')}, stride ${stride.join('×')}`, f('kernel'));
      }
      return [oh, ow];
    };
    if (l.type === 'linear') {
      const lin: LinearLayer = { type: 'linear', in: positive('in'), out: positive('out') };
      if (!bias()) lin.bias = false;
      if (cur !== undefined) {
        if (cur.length !== 1) fail('E_MODEL', `(linear) takes [features] per sample, but ${from} gives ${shapeText(cur)}; put a {"type": "flatten"} layer before it`, f('type'));
        if (lin.in !== cur[0]) fail('E_MODEL', `${what}expected ${cur[0]} to match ${from}, got ${lin.in}`, f('in'));
      }
      cur = [lin.out];
      from = `layers[${i}].out`;
      lastLinear = i;
      layers.push(lin);
    } else if (l.type === 'conv2d') {
      const img = needImage();
      const conv: Conv2dLayer = { type: 'conv2d', in: positive('in'), out: positive('out'), kernel: pair('kernel', 1), stride: pair('stride', 1, [1, 1]), padding: pair('padding', 0, [0, 0]) };
      if (!bias()) conv.bias = false;
      if (conv.in !== img[0]) fail('E_MODEL', `${what}expected ${img[0]} channels to match ${channelsFrom}, got ${conv.in}`, f('in'));
      const [oh, ow] = windowed(img, conv.kernel, conv.stride, conv.padding);
      cur = [conv.out, oh, ow];
      from = `layers[${i}] (conv2d)`;
      channelsFrom = `layers[${i}].out`;
      layers.push(conv);
    } else if (l.type === 'maxpool2d' || l.type === 'avgpool2d') {
      const img = needImage();
      const kernel = pair('kernel', 1);
      const pool: Pool2dLayer = { type: l.type, kernel, stride: pair('stride', 1, kernel), padding: pair('padding', 0, [0, 0]) };
      // PyTorch refuses padding > kernel / 2 (a window could then hold padding only).
      if (pool.padding[0] * 2 > kernel[0] || pool.padding[1] * 2 > kernel[1]) {
        fail('E_MODEL', `${what}padding ${pool.padding.join('×')} must be at most half the kernel ${kernel.join('×')}`, f('padding'));
      }
      const [oh, ow] = windowed(img, pool.kernel, pool.stride, pool.padding);
      cur = [img[0], oh, ow];
      from = `layers[${i}] (${l.type})`;
      layers.push(pool);
    } else if (l.type === 'flatten') {
      if (cur !== undefined) {
        from = cur.length > 1 ? `the flattened ${shapeText(cur)} of layers[${i}]` : from;
        cur = [cur.reduce((a, b) => a * b, 1)];
      }
      layers.push({ type: 'flatten' });
    } else if (typeof l.type === 'string' && (ACTIVATIONS as readonly string[]).includes(l.type)) {
      layers.push({ type: l.type as Activation });
    } else {
      fail('E_MODEL', `expected one of ${LAYER_TYPES.join(', ')}; got ${JSON.stringify(l.type)}`, f('type'));
    }
  });
  if (lastLinear < 0) fail('E_MODEL', 'the model needs at least one linear layer', at('layers'));
  if (layers.at(-1)!.type !== 'linear') fail('E_MODEL', 'the last layer must be linear (it produces the logits for cross_entropy)', at(`layers[${layers.length - 1}].type`));
  const classes = (layers[lastLinear] as LinearLayer).out;
  if (classes < 2) fail('E_MODEL', `cross_entropy needs at least 2 classes, the last linear layer has out = ${classes}`, at(`layers[${lastLinear}].out`));
  // "input" only when given: an MLP description reads (and is echoed, saved) as before.
  return { format: MODEL_FORMAT, version: MODEL_VERSION, ...(input ? { input } : {}), layers, loss: 'cross_entropy' };
}

export async function loadModelDescription(path: string): Promise<ModelDescription> {
  // Bounded: a description is a list of layers; /dev/zero or a FIFO is refused, not read without end.
  const text = readBoundedText(path, JSON_LIMITS.model, 'a model description');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return fail('E_FORMAT', `model description is not valid JSON (${(err as Error).message})`, { file: path });
  }
  return parseModelDescription(json, path);
}

/**
 * A model's shape in one line: "784-128(relu)-10" for an MLP; with conv/pool layers the input
 * and each module, e.g. "1x28x28-conv32k3p1(relu)-maxpool2-flatten-128(relu)-10" (k kernel,
 * s stride when not the default, p padding when not 0; "3x5" is [h, w]).
 */
export function describeModel(d: ModelDescription): string {
  const parts: string[] = [];
  // kernel, then stride (when not the default) and padding (when not 0): "3", "3s2p1", "3x5s2x1p0x2"
  const win = (l: Conv2dLayer | Pool2dLayer, dfltStride: Pair) => {
    const one = (p: Pair) => (p[0] === p[1] ? String(p[0]) : p.join('x'));
    let s = one(l.kernel);
    if (l.stride[0] !== dfltStride[0] || l.stride[1] !== dfltStride[1]) s += `s${one(l.stride)}`;
    if (l.padding[0] || l.padding[1]) s += `p${one(l.padding)}`;
    return s;
  };
  if (d.input) parts.push(d.input.join('x'));
  for (const l of d.layers) {
    if (l.type === 'linear') {
      if (parts.length === 0) parts.push(String(l.in));
      parts.push(String(l.out));
    } else if (l.type === 'conv2d') parts.push(`conv${l.out}k${win(l, [1, 1])}`);
    else if (isPool(l)) parts.push(`${l.type.replace('2d', '')}${win(l, l.kernel)}`);
    else if (l.type === 'flatten') parts.push('flatten');
    else if (parts.length === 0) parts.push(`(${l.type})`);
    else parts[parts.length - 1] += `(${l.type})`;
  }
  return parts.join('-');
}
